"""Where taus come from: shuffled TauTuple ROOT files (grids built on the fly) or flat TrainingTuples (ROOT or
HDF5, grids as stored). Every source reads entry ranges into RawTaus."""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from ..core.errors import TaumlError
from ..core.io import open_file, require_branches
from ..core.schema import TREE
from .blocks import CELL_PREFIX, CELL_TYPES, cell_columns
from .config import GRIDS, grid_geometry, signal_cone
from .grids import needed_branches, raw_from_tautuple
from .raw import Cells, RawTaus
from .tau_features import TAU_BRANCHES, tau_flat

HDF5_SUFFIXES = (".h5", ".hdf5")
CELL_TREES = {g: f"{g}_cells" for g in GRIDS}
SETUP_TREE = "cells_setup"  # one entry: the grid configuration the flat tuple was made with
LABELS = ("gen_e", "gen_mu", "gen_tau", "gen_jet")  # TauType 0..3
CELL_INDEX = ("eta_index", "phi_index")
N_TOTAL = tuple(f"{CELL_PREFIX[t]}_n_total" for t in CELL_TYPES)


def setup_record(cfg: dict) -> dict[str, float]:
    """The settings a flat tuple's cells depend on."""
    opening, min_pt, min_radius = signal_cone(cfg)
    rec = {}
    for grid in GRIDS:
        n, size = grid_geometry(cfg, grid)
        rec[f"n_{grid}_cells"], rec[f"{grid}_cell_size"] = float(n), size
    rec.update(iso_cone=float(cfg["Setup"]["iso_cone"]), opening_coef=opening, min_pt=min_pt, min_radius=min_radius)
    return rec


def _check_setup(path, stored: dict[str, float], cfg: dict) -> None:
    expected = setup_record(cfg)
    diff = [f"{k} {stored.get(k)} (config: {v:g})" for k, v in expected.items()
            if stored.get(k) is None or not np.isclose(stored[k], v, rtol=1e-6, atol=0)]
    if diff:
        raise TaumlError(f"{path}: flat tuple made with another cell configuration: {', '.join(diff)}")


def _tau_type_from_labels(labels: dict[str, np.ndarray]) -> np.ndarray:
    one_hot = np.stack([np.asarray(labels[k]) for k in LABELS], 1) > 0
    return np.where(one_hot.any(1), one_hot.argmax(1), -1).astype(np.int32)


class TauTupleSource:
    """A TauTuple ROOT file; grids are built by the kernels."""

    def __init__(self, path, cfg: dict):
        self.path, self.cfg = path, cfg
        self.tree = _tree(path, TREE)
        self.branches = needed_branches(cfg)
        require_branches(self.tree, path, self.branches)
        self.n_entries = int(self.tree.num_entries)

    def read(self, start: int, stop: int) -> RawTaus:
        try:
            chunk = self.tree.arrays(self.branches, entry_start=start, entry_stop=stop, library="ak", how=dict)
        except Exception as err:
            raise TaumlError(f"{self.path}: cannot read tree '{TREE}' ({err})") from err
        return raw_from_tautuple(chunk, self.cfg, self.path)


class FlatSource:
    """A flat TrainingTuple (TrainingTupleProducer output, or its root_to_hdf conversion)."""

    tau_branches = tuple(TAU_BRANCHES) + ("tau_index",) + LABELS
    cell_branches = CELL_INDEX + tuple(cell_columns())
    range_branches = tuple(f"{g}Cells_{e}" for g in GRIDS for e in ("begin", "end"))

    def __init__(self, path, cfg: dict):
        self.path, self.cfg = path, cfg
        self.hdf5 = Path(path).suffix.lower() in HDF5_SUFFIXES
        if self.hdf5:
            self._open_hdf5()
        else:
            self._open_root()
        _check_setup(path, self.setup, cfg)

    def _open_hdf5(self):
        try:
            self.h5 = h5py.File(self.path, "r")
        except FileNotFoundError as err:
            raise TaumlError(f"{self.path}: no such file") from err
        except OSError as err:
            raise TaumlError(f"{self.path}: not a readable HDF5 file ({err})") from err
        for tree, names in (("taus", self.tau_branches + self.range_branches),
                            *((CELL_TREES[g], self.cell_branches) for g in GRIDS)):
            if tree not in self.h5:
                raise TaumlError(f"{self.path}: has no group '{tree}'")
            missing = [n for n in names if n not in self.h5[tree]]
            if missing:
                raise TaumlError(f"{self.path}: group '{tree}' lacks dataset(s): {', '.join(missing)}")
        self.setup = {k: float(v) for k, v in self.h5.attrs.items()}
        self.n_entries = len(self.h5["taus"]["innerCells_begin"])

    def _open_root(self):
        self.trees = {"taus": _tree(self.path, "taus"), **{CELL_TREES[g]: _tree(self.path, CELL_TREES[g])
                                                            for g in GRIDS}}
        require_branches(self.trees["taus"], self.path, self.tau_branches + self.range_branches)
        for g in GRIDS:
            require_branches(self.trees[CELL_TREES[g]], self.path, self.cell_branches)
        setup = _tree(self.path, SETUP_TREE).arrays(library="np")
        self.setup = {k: float(v[0]) for k, v in setup.items()}
        self.n_entries = int(self.trees["taus"].num_entries)

    def _columns(self, tree: str, names, start: int, stop: int) -> dict[str, np.ndarray]:
        try:
            if self.hdf5:
                group = self.h5[tree]
                return {n: group[n][start:stop] for n in names}
            return self.trees[tree].arrays(list(names), entry_start=start, entry_stop=stop, library="np")
        except Exception as err:
            raise TaumlError(f"{self.path}: cannot read '{tree}' ({err})") from err

    def read(self, start: int, stop: int) -> RawTaus:
        taus = self._columns("taus", self.tau_branches + self.range_branches, start, stop)
        n = stop - start
        cells = {}
        for g in GRIDS:
            begin, end = taus[f"{g}Cells_begin"].astype(np.int64), taus[f"{g}Cells_end"].astype(np.int64)
            first, last = (int(begin[0]), int(end[-1])) if n else (0, 0)
            c = self._columns(CELL_TREES[g], self.cell_branches, first, last)
            values = np.stack([np.asarray(c[name], np.float32) for name in cell_columns()], 1) \
                if last > first else np.zeros((0, len(cell_columns())), np.float32)
            tau_row = np.repeat(np.arange(n, dtype=np.int32), end - begin)
            if len(tau_row) != last - first:
                raise TaumlError(f"{self.path}: {g}Cells_begin/end do not cover the '{CELL_TREES[g]}' rows")
            cells[g] = Cells(tau_row, np.asarray(c["eta_index"], np.int32), np.asarray(c["phi_index"], np.int32),
                             values)
        return RawTaus(tau_flat(taus), _tau_type_from_labels(taus), np.asarray(taus["tau_index"]) >= 0, cells)


def _tree(path, name):
    f = open_file(path)
    try:
        return f[name]
    except Exception as err:
        raise TaumlError(f"{path}: has no tree '{name}'") from err


def is_flat(path) -> bool:
    if Path(path).suffix.lower() in HDF5_SUFFIXES:
        return True
    return CELL_TREES["inner"] in open_file(path).keys(cycle=False)


def open_source(path: str | os.PathLike, cfg: dict):
    return FlatSource(path, cfg) if is_flat(path) else TauTupleSource(path, cfg)
