"""TrainingTupleProducer: TauTuple -> flat TrainingTuple (trees taus, inner_cells, outer_cells, cells_setup).

Values are unscaled (rel_pt = object pt / tau pt, NaN where a feature is undefined): the DataLoader scales them
on loading, so a new scaling file needs no new tuples.
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm import tqdm

from ..core.errors import TaumlError
from ..core.io import TreeWriter, open_tree, require_branches, root_writer
from ..core.schema import TAU_TYPE_BRANCHES, TREE, gen_lepton_match
from ..features.blocks import TAU_FLAT, cell_columns
from ..features.config import GRIDS
from ..features.grids import needed_branches, raw_from_tautuple
from ..features.sources import CELL_TREES, LABELS, N_TOTAL, SETUP_TREE, setup_record

CHUNK = 2000
# scalar TauTuple branches not copied: the boosted-tau and fat-jet blocks (not TrainingTuple content)
_SKIPPED_PREFIXES = ("boostedTau_", "fatJet_")


def producer_cfg(n_inner_cells=11, inner_cell_size=0.02, n_outer_cells=21, outer_cell_size=0.05,
                 iso_cone=0.5) -> dict:
    """The part of a training configuration the cells depend on (the original producer hard-coded it)."""
    return {"Setup": {"n_inner_cells": n_inner_cells, "inner_cell_size": inner_cell_size,
                      "n_outer_cells": n_outer_cells, "outer_cell_size": outer_cell_size, "iso_cone": iso_cone,
                      "recompute_tautype": False},
            "Scaling_setup": {"cone_definition": {"inner": {"min_pt": 30.0, "min_radius": 0.05, "opening_coef": 3.0}}}}


def part_range(path, n_parts: int, part: int) -> tuple[int, int]:
    """[start, end) of part ``part`` of ``n_parts`` equal parts of the file's entries."""
    if n_parts < 1 or not 0 <= part < n_parts:
        raise TaumlError(f"--part must be in 0 .. --n-parts - 1 (got part {part} of {n_parts})")
    n = int(open_tree(path, TREE).num_entries)
    return n * part // n_parts, n * (part + 1) // n_parts


def _check_geometry(cfg: dict) -> None:
    for grid in GRIDS:
        n, size = cfg["Setup"][f"n_{grid}_cells"], cfg["Setup"][f"{grid}_cell_size"]
        if n < 1 or n % 2 == 0 or not size > 0:
            raise TaumlError(f"--n-{grid}-cells must be odd and positive and --{grid}-cell-size > 0")


def _pass_through(tree) -> list[str]:
    """Scalar branches copied to tree `taus`."""
    out = []
    for name in tree.keys(recursive=False):
        interp = tree[name].interpretation
        if getattr(interp, "content", None) is None and hasattr(interp, "to_dtype") and \
                not name.startswith(_SKIPPED_PREFIXES) and tree[name].count_branch is None:
            out.append(name)
    return out


def _tau_rows(chunk, scalars, raw, keep, weight_factor: float, cell_offsets: dict[str, int]) -> dict[str, np.ndarray]:
    rows = {name: np.asarray(chunk[name])[keep] for name in scalars}
    if "trainingWeight" in rows:
        rows["trainingWeight"] = (rows["trainingWeight"] * (weight_factor / 4)).astype(np.float32)
    for i, name in enumerate(TAU_FLAT):
        if name not in rows:  # derived features, unscaled, next to the branches they come from
            rows[name] = raw.tau[:, i]
    for k, label in enumerate(LABELS):
        rows[label] = (raw.tau_type == k).astype(np.int32)
    match = gen_lepton_match({b: np.asarray(chunk[b])[keep] for b in TAU_TYPE_BRANCHES})
    rows["lepton_gen_match"] = np.where(match > 0, match, 6).astype(np.int32)
    for g in GRIDS:
        begin, end = raw.cells[g].row_ranges(len(raw))
        rows[f"{g}Cells_begin"] = (begin + cell_offsets[g]).astype(np.int64)
        rows[f"{g}Cells_end"] = (end + cell_offsets[g]).astype(np.int64)
    return rows


def _cell_rows(raw, grid: str) -> dict[str, np.ndarray]:
    cells = raw.cells[grid]
    rows = {"eta_index": cells.eta_index, "phi_index": cells.phi_index,
            "tau_pt": raw.tau[cells.tau_row, TAU_FLAT.index("tau_pt")],
            "rho": raw.tau[cells.tau_row, TAU_FLAT.index("rho")]}
    for i, name in enumerate(cell_columns()):
        column = cells.values[:, i]
        rows[name] = column.astype(np.int32) if name in N_TOTAL else column
    return rows


def produce_training_tuple(input_path, output_path, cfg: dict, start_entry: int = 0, end_entry: int | None = None,
                           parity: int = -1, training_weight_factor: float = 4.0, n_threads: int = 1,
                           chunk_size: int = CHUNK) -> int:
    """Write the flat tuple of entries [start_entry, end_entry) of ``input_path``; returns the number of taus."""
    _check_geometry(cfg)
    if parity not in (-1, 0, 1):
        raise TaumlError(f"--parity must be -1, 0 or 1, got {parity}")
    tree = open_tree(input_path, TREE)
    n_entries = int(tree.num_entries)
    stop = n_entries if end_entry is None or end_entry < 0 else min(end_entry, n_entries)
    start = max(0, start_entry)
    if start > stop:
        raise TaumlError(f"{input_path}: --start-entry {start_entry} is after --end-entry {stop}")
    scalars = _pass_through(tree)
    names = list(dict.fromkeys(needed_branches(cfg) + scalars + ["evt"]))
    require_branches(tree, input_path, names)

    def build(bounds):
        a, b = bounds
        try:
            chunk = tree.arrays(names, entry_start=a, entry_stop=b, library="ak", how=dict)
        except Exception as err:
            raise TaumlError(f"{input_path}: cannot read tree '{TREE}' ({err})") from err
        raw = raw_from_tautuple(chunk, cfg, input_path)
        evt = np.asarray(chunk["evt"])
        keep = np.arange(len(raw)) if parity < 0 else np.flatnonzero(evt % 2 == parity)
        return chunk, raw.take(keep), keep, b - a

    # at least one (maybe empty) chunk, so that every tree exists
    bounds = [(a, min(a + chunk_size, stop)) for a in range(start, stop, chunk_size)] or [(start, stop)]
    n_threads = max(1, n_threads)

    def results(pool):
        pending: deque = deque()
        for b in bounds:
            pending.append(pool.submit(build, b))
            if len(pending) >= n_threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    n_taus = 0
    try:
        with root_writer(output_path, "LZ4", 4) as f, ThreadPoolExecutor(n_threads) as pool, \
                tqdm(total=stop - start, unit="entries", desc="TrainingTupleProducer", disable=None) as bar:
            writers = {"taus": TreeWriter(f, "taus"), **{g: TreeWriter(f, CELL_TREES[g]) for g in GRIDS}}
            offsets = dict.fromkeys(GRIDS, 0)
            for chunk, raw, keep, n_read in results(pool):
                writers["taus"].extend(_tau_rows(chunk, scalars, raw, keep, training_weight_factor, offsets))
                for g in GRIDS:
                    writers[g].extend(_cell_rows(raw, g))
                    offsets[g] += len(raw.cells[g].tau_row)
                n_taus += len(raw)
                bar.update(n_read)
            TreeWriter(f, SETUP_TREE).extend({k: np.array([v], np.float64) for k, v in setup_record(cfg).items()})
    except OSError as err:
        raise TaumlError(f"{output_path}: cannot write ({err.strerror or err})") from err
    return n_taus
