"""TauTuple chunks -> RawTaus: the branches the features need, as matrices, through the numba kernels."""
from __future__ import annotations

import awkward as ak
import numpy as np

from ..core.errors import TaumlError
from ..core.schema import TAU_TYPE_BRANCHES, tau_type
from . import kernels
from .blocks import PF_IGNORED_TYPES
from .config import GRIDS, grid_geometry, signal_cone
from .raw import Cells, RawTaus
from .tau_features import TAU_BRANCHES, tau_flat

COLLECTIONS = ("pfCand", "ele", "muon")


def needed_branches(cfg: dict) -> list[str]:
    """TauTuple branches read for the training inputs (and the labels)."""
    names = list(TAU_BRANCHES) + [c for c in kernels.TAU_COLS if c not in TAU_BRANCHES] + ["tau_index"]
    for coll, cols in kernels.COLLECTION_COLS.items():
        names += [f"{coll}_{c}" for c in cols]
    names += list(TAU_TYPE_BRANCHES) + ([] if cfg["Setup"]["recompute_tautype"] else ["tauType"])
    return list(dict.fromkeys(names))


def _flat(values) -> tuple[np.ndarray, np.ndarray]:
    """(offsets from 0, content) of a jagged array."""
    layout = ak.to_layout(values)
    if not (isinstance(layout, ak.contents.ListOffsetArray) and isinstance(layout.content, ak.contents.NumpyArray)):
        layout = ak.to_packed(values).layout
    offsets = np.asarray(layout.offsets, np.int64)
    return offsets - offsets[0], np.asarray(layout.content.data)[offsets[0]:offsets[-1]]


def _reject_nan(path, name, values: np.ndarray) -> None:
    """NaN in an input is an error; +-inf passes (it makes a feature undefined, as the original masked it)."""
    if values.dtype.kind == "f" and np.isnan(values).any():
        raise TaumlError(f"{path}: NaN in branch '{name}'")


def _matrix(chunk, path, coll: str) -> tuple[np.ndarray, np.ndarray]:
    cols = kernels.COLLECTION_COLS[coll]
    offsets, _ = _flat(chunk[f"{coll}_{cols[0]}"])
    out = np.empty((int(offsets[-1]), len(cols)), np.float64)
    for i, c in enumerate(cols):
        name = f"{coll}_{c}"
        off, content = _flat(chunk[name])
        if len(content) != len(out) or not np.array_equal(off, offsets):
            raise TaumlError(f"{path}: branch '{name}' has other lengths than '{coll}_{cols[0]}'")
        _reject_nan(path, name, content)
        out[:, i] = content
    return offsets, out


def labels(chunk, cfg: dict) -> np.ndarray:
    """TauType per entry: the gen-matching rule with Setup.recompute_tautype, else the tauType branch where it
    holds a type (>= 0) and the rule elsewhere."""
    rule = tau_type({b: np.asarray(chunk[b]) for b in TAU_TYPE_BRANCHES})
    if cfg["Setup"]["recompute_tautype"]:
        return rule
    stored = np.asarray(chunk["tauType"], np.int32)
    return np.where(stored >= 0, stored, rule).astype(np.int32)


def _prepare(chunk, cfg: dict, path):
    """Per-tau table, object matrices and object types of a chunk read with ``needed_branches``."""
    scalars = {}
    for name in set(TAU_BRANCHES) | set(kernels.TAU_COLS):
        scalars[name] = np.asarray(chunk[name])
        _reject_nan(path, name, scalars[name])
    tau_table = np.stack([np.asarray(scalars[c], np.float64) for c in kernels.TAU_COLS], axis=1)
    mats = {coll: _matrix(chunk, path, coll) for coll in COLLECTIONS}
    ptype = mats["pfCand"][1][:, kernels.PF_COLS.index("particleType")].astype(np.int64)
    bad = (ptype < 0) | (ptype >= len(kernels.PARTICLE_TYPE))
    pf_kind = kernels.PARTICLE_TYPE[np.where(bad, 0, ptype)]
    unknown = bad | ((pf_kind < 0) & ~np.isin(ptype, PF_IGNORED_TYPES))
    if unknown.any():
        raise TaumlError(f"{path}: unknown pfCand_particleType {ptype[unknown][0]}")
    kinds = (pf_kind, np.full(len(mats["ele"][1]), kernels.ELE_K, np.int64),
             np.full(len(mats["muon"][1]), kernels.MUON_K, np.int64))
    return scalars, tau_table, mats, kinds


def _assigned(cfg, grid, tau_table, mats, kinds):
    opening, min_pt, min_radius = signal_cone(cfg)
    r_sig = np.maximum(opening / np.maximum(tau_table[:, 0], min_pt), min_radius)
    n_cells, size = grid_geometry(cfg, grid)
    return tuple(
        kernels.assign_objects(tau_table, mats[c][0], k, np.ascontiguousarray(mats[c][1][:, 1]),
                               np.ascontiguousarray(mats[c][1][:, 2]), r_sig, float(cfg["Setup"]["iso_cone"]),
                               n_cells, size, grid == "inner")
        for c, k in zip(COLLECTIONS, kinds))


def raw_from_tautuple(chunk, cfg: dict, path) -> RawTaus:
    """The unscaled inputs of every entry of a chunk read with ``needed_branches``."""
    n = len(chunk["tau_pt"])
    scalars, tau_table, mats, kinds = _prepare(chunk, cfg, path)
    offsets = tuple(mats[c][0] for c in COLLECTIONS)
    cells = {}
    for grid in GRIDS:
        n_cells, _ = grid_geometry(cfg, grid)
        row_tau, row_cell, best, count = kernels.best_per_cell(
            n, n_cells, offsets, kinds, _assigned(cfg, grid, tau_table, mats, kinds),
            tuple(np.ascontiguousarray(mats[c][1][:, 0]) for c in COLLECTIONS))
        values = kernels.cell_features(row_tau, best, count, tau_table, mats["pfCand"][1], mats["ele"][1],
                                       mats["muon"][1])
        h = n_cells // 2
        cells[grid] = Cells(row_tau, (row_cell // n_cells - h).astype(np.int32),
                            (row_cell % n_cells - h).astype(np.int32), values)
    return RawTaus(tau_flat(scalars), labels(chunk, cfg), np.asarray(chunk["tau_index"]) >= 0, cells)


def object_features(chunk, cfg: dict, path) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """(TauFlat rows, {grid: (tau row, cell columns) of every object in that grid}) of a chunk."""
    n = len(chunk["tau_pt"])
    scalars, tau_table, mats, kinds = _prepare(chunk, cfg, path)
    offsets = tuple(mats[c][0] for c in COLLECTIONS)
    out = {}
    for grid in GRIDS:
        row_tau, best, count = kernels.object_rows(n, offsets, kinds, _assigned(cfg, grid, tau_table, mats, kinds))
        out[grid] = (row_tau, kernels.cell_features(row_tau, best, count, tau_table, mats["pfCand"][1],
                                                    mats["ele"][1], mats["muon"][1]))
    return tau_flat(scalars), out
