"""RawTaus -> model inputs: scaled ``input_tau``, dense grids or sparse cell lists, one-hot labels."""
from __future__ import annotations

import numpy as np

from .config import GRIDS, INPUT_NAMES, grid_geometry, grid_groups, tau_type_classes
from .raw import RawTaus
from .scaling import Scaling, scale_cells

SPARSE_PAD = 256  # sparse cell lists are padded to a multiple of this (fewer distinct shapes to compile)


def _padded(n: int) -> int:
    return max(SPARSE_PAD, -(-n // SPARSE_PAD) * SPARSE_PAD)


def inputs(raw: RawTaus, cfg: dict, scaling: Scaling, sparse: bool = False) -> dict[str, np.ndarray]:
    """x: INPUT_NAMES order; sparse adds ``{grid}_cells_index`` (N, 3) int32 = (tau row, eta cell, phi cell), with
    (N, F) feature rows for ``input_{grid}_{group}``, N padded with zero rows at index (0, 0, 0)."""
    n_tau = len(raw)
    x: dict[str, np.ndarray] = {"input_tau": scaling.scale_taus(raw.tau)}
    grid_global = np.ascontiguousarray(raw.tau[:, scaling.grid_global_index])
    for grid in GRIDS:
        cells = raw.cells[grid]
        n_cells, _ = grid_geometry(cfg, grid)
        h = n_cells // 2
        if sparse:
            n_rows = _padded(len(cells.tau_row))
            index = np.zeros((n_rows, 3), np.int32)
            index[: len(cells.tau_row)] = np.stack([cells.tau_row, cells.eta_index + h, cells.phi_index + h], 1)
            target = np.arange(len(cells.tau_row), dtype=np.int64)
            x[f"{grid}_cells_index"] = index
        else:
            target = (cells.tau_row.astype(np.int64) * n_cells + cells.eta_index + h) * n_cells + cells.phi_index + h
        for group in grid_groups(cfg):
            layout = scaling.layouts[group]
            p = scaling.cells[(grid, group)]
            width = len(layout.source)
            out = np.zeros((n_rows if sparse else n_tau * n_cells * n_cells, width), np.float32)
            scale_cells(cells.values, grid_global, cells.tau_row, target, layout.source, layout.presence,
                        p.mean, p.std, p.lo, p.hi, out)
            x[f"input_{grid}_{group}"] = out if sparse else out.reshape(n_tau, n_cells, n_cells, width)
    order = [n for n in INPUT_NAMES] + sorted(k for k in x if k not in INPUT_NAMES)
    return {k: x[k] for k in order}


def one_hot(tau_type: np.ndarray, cfg: dict) -> np.ndarray:
    """(n, n_classes) float32; a tau whose type is not a class gets an all-zero row."""
    classes = np.array(tau_type_classes(cfg))
    return (tau_type[:, None] == classes[None, :]).astype(np.float32)


def densify(x: dict[str, np.ndarray], cfg: dict, n_tau: int) -> dict[str, np.ndarray]:
    """The dense form of a sparse batch (numpy; the model does the same with keras.ops on the device)."""
    dense = {"input_tau": x["input_tau"]}
    for grid in GRIDS:
        n_cells, _ = grid_geometry(cfg, grid)
        index = x[f"{grid}_cells_index"]
        for group in grid_groups(cfg):
            rows = x[f"input_{grid}_{group}"]
            out = np.zeros((n_tau, n_cells, n_cells, rows.shape[1]), np.float32)
            np.add.at(out, (index[:, 0], index[:, 1], index[:, 2]), rows)
            dense[f"input_{grid}_{group}"] = out
    return dense
