"""Duplicate tau candidates across a dataset, found with memory bounded by a bucket size.

The original kept every (run, lumi, evt, jet_index, tau_index) of a dataset in one in-memory set. Here the
keys are hashed into buckets on disk, each bucket small enough to sort in memory; an entry is a duplicate
if an earlier one (in sorted file order, then entry order) has the same key.

A candidate with neither a reco jet nor a reco tau (jet_index = tau_index = -1: a generator lepton alone)
is told apart by its generator lepton and jet (``GEN_KEY``); the original dropped all but the first of
those in an event.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..core.io import DEFAULT_STEP, iterate, open_tree

KEY = ("run", "lumi", "evt", "jet_index", "tau_index")
GEN_KEY = ("genLepton_index", "genJet_index")  # part of the key only where jet_index = tau_index = -1
RECORD = np.dtype([("run", "u4"), ("lumi", "u4"), ("evt", "u8"), ("jet_index", "i4"), ("tau_index", "i4"),
                   ("genLepton_index", "i4"), ("genJet_index", "i4"), ("file", "u4"), ("entry", "u8")])
_ALL_KEY = KEY + GEN_KEY
DEFAULT_BUCKET_BYTES = 64 * 1024**2
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
                 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x27D4EB2F165667C5], np.uint64)


def _records(chunk, file_index: int, first_entry: int) -> np.ndarray:
    rec = np.empty(len(chunk), RECORD)
    for name in KEY:
        rec[name] = np.asarray(chunk[name])
    no_reco = (rec["jet_index"] < 0) & (rec["tau_index"] < 0)
    for name in GEN_KEY:
        rec[name] = np.where(no_reco, np.asarray(chunk[name]), -1)
    rec["file"] = file_index
    rec["entry"] = np.arange(first_entry, first_entry + len(chunk), dtype=np.uint64)
    return rec


def _bucket_of(rec: np.ndarray, n_buckets: int) -> np.ndarray:
    h = np.zeros(len(rec), np.uint64)
    for name, mix in zip(_ALL_KEY, _MIX):
        h ^= rec[name].astype(np.uint64) * mix
        h = (h << np.uint64(31)) | (h >> np.uint64(33))
    return (h % np.uint64(n_buckets)).astype(np.intp)


def _duplicates_in(rec: np.ndarray) -> np.ndarray:
    """Records whose key equals that of an earlier record (by file, then entry)."""
    order = np.lexsort([rec[name] for name in ("entry", "file", *reversed(_ALL_KEY))])
    rec = rec[order]
    same = np.ones(len(rec) - 1 if len(rec) else 0, bool)
    for name in _ALL_KEY:
        same &= rec[name][1:] == rec[name][:-1]
    return rec[1:][same]


def find_duplicates(files: list, work_dir: Path, step_size=DEFAULT_STEP, bucket_bytes: int = DEFAULT_BUCKET_BYTES,
                    total_entries: int | None = None) -> list[np.ndarray]:
    """Per input file, the sorted entry numbers that repeat an earlier candidate of the dataset."""
    total = total_entries if total_entries is not None else sum(open_tree(f).num_entries for f in files)
    n_buckets = max(1, math.ceil(total * RECORD.itemsize / bucket_bytes))
    work_dir.mkdir(parents=True, exist_ok=True)
    paths = [work_dir / f"keys_{i}.bin" for i in range(n_buckets)]
    sinks = [open(p, "wb") for p in paths]
    try:
        for index, path in enumerate(files):
            first = 0
            for chunk in iterate(path, list(_ALL_KEY), step_size=step_size):
                rec = _records(chunk, index, first)
                first += len(rec)
                bucket = _bucket_of(rec, n_buckets)
                order = np.argsort(bucket, kind="stable")
                bounds = np.searchsorted(bucket[order], np.arange(n_buckets + 1))
                for b in range(n_buckets):
                    if bounds[b + 1] > bounds[b]:
                        sinks[b].write(rec[order[bounds[b]:bounds[b + 1]]].tobytes())
    finally:
        for sink in sinks:
            sink.close()
    found = []
    for path in paths:
        found.append(_duplicates_in(np.fromfile(path, RECORD)))
        path.unlink()
    dups = np.concatenate(found) if found else np.empty(0, RECORD)
    return [np.sort(dups["entry"][dups["file"] == i]).astype(np.int64) for i in range(len(files))]
