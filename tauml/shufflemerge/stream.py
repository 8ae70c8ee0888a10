"""Writing side of ShuffleMerge: an external two-pass shuffle that reads every input file once.

Which entry is item ``k`` of a stream: a permutation of the stream's entries (its files one after the
other), drawn from (seed, output, stream); its first ``count`` entries are items 0, 1, ... Item k's place in
the output is fixed by the plan's timeline (``Plan.block_order``), cut into blocks of about ``block`` entries;
a *shard* is a run of consecutive blocks.

Pass 1 reads each file sequentially, once, and appends its taken entries, as raw column buffers
(``tauml.core.columns.write_record``) labelled with (stream, item), to the shard that will write them; files
are spread over --n-threads processes, each with shard files of its own. Pass 2 reads one shard at a time (the
pieces of all processes), puts its entries in the plan's order and writes its blocks. Memory is one read chunk
per process (pass 1) or one shard (pass 2), whatever the input size; the inputs are read once, the entries
written twice. Opening a 552-branch tree costs uproot ~0.1-0.3 s: files are read once, and through
``tauml.core.sametree``, which parses one structure once.
"""
from __future__ import annotations

import concurrent.futures
import io
import math
import multiprocessing
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from ..core import columns
from ..core.columns import Chunk, Collection
from ..core.errors import TaumlError
from ..core.io import TreeWriter, collection_layout, output_error, require_branches, root_writer, temporary_path
from ..core.sametree import TreeFamily
from ..core.schema import branches

if TYPE_CHECKING:
    from .plan import Plan

STREAM, ITEM = " stream", " item"  # labels stored with the entries in a shard (no branch name has a space)
_family = TreeFamily()  # bin files of one structure are parsed once per process (inherited by forked workers)


def open_input(path: str, expected: int, names: list[str]):
    """Tree ``taus`` of a bin file (through this process's ``TreeFamily``), checked against size_list.txt and
    for the branches read."""
    tree = _family.open(path)
    try:
        if tree.num_entries != expected:
            raise TaumlError(f"{path}: has {tree.num_entries} entries but size_list.txt says {expected} "
                             "(rerun CreateTupleSizeList)")
        require_branches(tree, path, names)
    except TaumlError:
        tree.close()
        raise
    return tree


def entry_bytes(path: str, entries: int, names: list[str], sample: int = 64) -> float:
    """In-memory size of one entry, measured on the first entries of ``path``."""
    n = min(entries, sample)
    if not n:
        return 1.0
    tree = open_input(path, entries, names)
    try:
        return columns.chunk_nbytes(tree.read(names, 0, n)) / n
    finally:
        tree.close()


class OutputLayout:
    """Output branches grouped as tauml writes them, and how to fill those not read from the inputs."""

    def __init__(self, out_names: list[str], from_plan: set[str], disabled: set[str], jagged_read: set[str]):
        schema = branches()
        jagged = set(jagged_read) | {b for b in disabled if schema[b].jagged}
        self.groups = collection_layout(out_names, jagged)
        self.from_plan = from_plan
        self.disabled = disabled

    def complete(self, chunk: Chunk, stream: np.ndarray, plan_values: dict[str, np.ndarray]) -> Chunk:
        """``chunk`` (read branches, output order) plus plan values and defaults, in output branch order."""
        n = len(stream)
        out: Chunk = {}
        for key, members in self.groups.items():
            if members is None:
                if key in self.from_plan:
                    out[key] = plan_values[key][stream]
                elif key in self.disabled:
                    b = branches()[key]
                    out[key] = np.full(n, b.default, b.dtype)
                else:
                    out[key] = chunk[key]
                continue
            read = chunk.get(key)
            offsets = read.offsets if read is not None else np.zeros(n + 1, np.int64)
            contents = {}
            for m in members:
                if m in self.disabled:  # a collection shares one counter: one default per object
                    b = branches()[m]
                    contents[m] = np.full(int(offsets[-1]), b.default, b.dtype)
                else:
                    contents[m] = read.contents[m]
            out[key] = Collection(offsets, contents)
        return out


def item_numbers(n_entries: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Per entry of a stream, its item number, or -1 for the entries the stream does not take."""
    items = np.full(n_entries, -1, np.int64)
    items[rng.permutation(n_entries)[:count]] = np.arange(count)
    return items


class Timeline:
    """The plan's output blocks, grouped into shards of whole blocks."""

    def __init__(self, plan: Plan, block: int, blocks_per_shard: int):
        self.plan = plan
        counts = np.array([s.count for s in plan.streams], np.int64)
        n_blocks = max(1, math.ceil(int(counts.sum()) / block))
        cuts = [np.minimum(plan.items_before(plan.stop * j / n_blocks), counts) for j in range(1, n_blocks)]
        self.bounds = np.stack([np.zeros_like(counts), *cuts, counts])  # (block + 1, stream): items before
        self.per_shard = blocks_per_shard
        self.n_shards = math.ceil(n_blocks / blocks_per_shard)

    def shard_of(self, stream: int, items: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.bounds[1:, stream], items, side="right") // self.per_shard

    def blocks(self, shard: int) -> range:
        return range(shard * self.per_shard, min((shard + 1) * self.per_shard, len(self.bounds) - 1))


class ShardWriter:
    """Append-only shard files of one process, ``<directory>/<shard>.bin``, opened on first use."""

    def __init__(self, directory: Path):
        self.directory = directory
        self._files: dict[int, object] = {}
        self.layout = None

    def append(self, shard: int, chunk: Chunk, origin: str) -> None:
        layout = columns.signature(chunk)
        if self.layout is None:
            self.layout = layout
        elif layout != self.layout:
            raise TaumlError(f"{origin}: branch layout or types differ from the first input file")
        record = io.BytesIO()
        columns.write_record(record, chunk)
        try:
            if shard not in self._files:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._files[shard] = open(self.directory / f"{shard}.bin", "ab", buffering=1 << 16)
            self._files[shard].write(record.getbuffer())
        except OSError as err:
            raise TaumlError(f"{self.directory}: cannot write the shuffle's shard files ({err.strerror or err})"
                             ) from err

    def flush(self) -> None:
        for f in self._files.values():
            f.flush()

    def close(self) -> None:
        for f in self._files.values():
            f.close()


def read_shard(directory: Path, shard: int, layout) -> Chunk | None:
    """The entries of one shard, from every process's file (which is then removed); None if it is empty."""
    chunks = []
    for path in sorted(directory.glob(f"*/{shard}.bin")):
        chunks += columns.read_records(path.read_bytes(), layout)
        path.unlink()
    return columns.concatenate(chunks) if chunks else None


_worker: dict = {}  # what a scatter process needs, set before the pool forks


def _scatter_file(task: tuple[int, str, int, np.ndarray]) -> tuple[int, object]:
    """Pass 1 for one file: its taken entries appended to their shards; returns (entries, record layout)."""
    s, path, n, file_items = task
    timeline, names, chunk_entries, base = (_worker[k] for k in ("timeline", "names", "chunk", "base"))
    shards = _worker.setdefault("shards", ShardWriter(base / f"w{os.getpid()}"))
    taken = np.flatnonzero(file_items >= 0)
    tree = open_input(path, n, names)
    try:
        for start in range(int(taken[0]), int(taken[-1]) + 1, chunk_entries):
            stop = min(start + chunk_entries, int(taken[-1]) + 1)
            rows = np.flatnonzero(file_items[start:stop] >= 0)
            if not rows.size:
                continue
            chunk = tree.read(names, start, stop)
            k = file_items[start:stop][rows]
            shard = timeline.shard_of(s, k)
            order = np.argsort(shard, kind="stable")
            first = np.flatnonzero(np.diff(shard[order], prepend=-1))
            for lo, hi in zip(first, [*first[1:], order.size]):
                pick = order[lo:hi]
                part = columns.take(chunk, rows[pick])
                part[STREAM] = np.full(pick.size, s, np.int64)
                part[ITEM] = k[pick]
                shards.append(int(shard[order[lo]]), part, path)
    finally:
        tree.close()
    shards.flush()
    return int(taken.size), shards.layout


def _file_tasks(plan: Plan, seed: int, salt: int):
    """(stream, path, entries, item number per entry) of every file with entries to take, in plan order."""
    for s, stream in enumerate(plan.streams):
        if not stream.count:
            continue
        items = item_numbers(stream.source.size, stream.count, np.random.default_rng([seed, salt, s]))
        offset = 0
        for path, n in stream.source.files:
            file_items, offset = items[offset:offset + n], offset + n
            if (file_items >= 0).any():
                yield s, path, n, file_items


def scatter(plan: Plan, timeline: Timeline, base: Path, names: list[str], chunk_entries: int, seed: int, salt: int,
            n_processes: int, bar):
    """Pass 1: every file of the plan read once (by ``n_processes`` processes), its taken entries appended to
    their shards under ``base``; returns the layout of the shard records."""
    _worker.clear()
    _worker.update(timeline=timeline, names=names, chunk=chunk_entries, base=base)
    layouts = []
    try:
        if n_processes == 1:
            results = map(_scatter_file, _file_tasks(plan, seed, salt))
            for n, layout in results:
                layouts.append(layout)
                bar.update(n)
        else:
            context = multiprocessing.get_context("fork")
            with concurrent.futures.ProcessPoolExecutor(n_processes, mp_context=context) as pool:
                for n, layout in pool.map(_scatter_file, _file_tasks(plan, seed, salt)):
                    layouts.append(layout)
                    bar.update(n)
    finally:
        if "shards" in _worker:
            _worker["shards"].close()
        _worker.clear()
    if any(layout != layouts[0] for layout in layouts):
        raise TaumlError("input files differ in branch layout or types (see the first input file)")
    return layouts[0] if layouts else None


def write_plan(plan: Plan, output, names: list[str], out_names: list[str], calc_weights: bool, disabled: set[str],
               chunk_entries: int, block: int, shard_entries: int, seed: int, salt: int, n_threads: int = 1,
               progress: bool = True) -> int:
    """Write ``plan`` to ``output`` (atomically) in two passes; returns the number of entries written.

    ``sampleType`` comes from each stream's cfg item, ``trainingWeight`` from the plan if ``calc_weights``,
    disabled branches get their schema default; everything else (``names``) comes from the inputs.
    """
    timeline = Timeline(plan, block, max(1, shard_entries // block))
    plan_values = {"sampleType": np.array([int(s.source.entry.sample_type) for s in plan.streams], np.int32)}
    if calc_weights:
        plan_values["trainingWeight"] = np.array([s.weight for s in plan.streams], np.float32)
    total = plan.total
    output = Path(output)
    base = temporary_path(output, "shards")  # a rerun removes it if this process is killed
    layout = None
    try:
        with tqdm(total=total, unit=" entries", file=sys.stderr, mininterval=2, disable=not progress or None,
                  desc=f"{output.name}: reading") as bar:
            records = scatter(plan, timeline, base, names, chunk_entries, seed, salt, n_threads, bar)
        with root_writer(output, n_threads=n_threads) as f, \
                tqdm(total=total, unit=" entries", file=sys.stderr, mininterval=2, disable=not progress or None,
                     desc=f"{output.name}: writing") as bar:
            writer = TreeWriter(f)
            for shard in range(timeline.n_shards):
                entries = read_shard(base, shard, records)
                if entries is None:
                    continue
                rows = _row_lookup(timeline, shard, entries.pop(STREAM), entries.pop(ITEM))
                for b in timeline.blocks(shard):
                    lo, hi = timeline.bounds[b], timeline.bounds[b + 1]
                    if not (hi > lo).any():
                        continue
                    stream, k = plan.block_order(lo, hi)
                    block_entries = columns.take(entries, rows(stream, k))
                    if layout is None:
                        jagged = {m for v in block_entries.values() if isinstance(v, Collection) for m in v.contents}
                        layout = OutputLayout(out_names, set(plan_values), disabled, jagged)
                    writer.extend(columns.to_writer_arrays(layout.complete(block_entries, stream, plan_values)))
                    bar.update(len(stream))
                del entries
    except OSError as err:  # shard files: a full disk names the output, as atomic outputs do
        raise output_error(output, err) from err
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if writer.entries != total:
        raise TaumlError(f"internal error: {output}: wrote {writer.entries} entries, the plan has {total}")
    return writer.entries


def _row_lookup(timeline: Timeline, shard: int, stream: np.ndarray, item: np.ndarray):
    """``rows(s, k)``: where item k of stream s lies among a shard's entries."""
    blocks = timeline.blocks(shard)
    first, last = timeline.bounds[blocks.start], timeline.bounds[blocks.stop]
    sizes = last - first
    base = np.cumsum(sizes) - sizes
    if len(stream) != int(sizes.sum()):
        raise TaumlError(f"internal error: shard {shard} holds {len(stream)} entries, the plan {int(sizes.sum())}")
    row_of = np.empty(len(stream), np.int64)
    row_of[base[stream] + item - first[stream]] = np.arange(len(stream))
    return lambda s, k: row_of[base[s] + k - first[s]]
