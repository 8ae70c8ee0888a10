"""Scaling parameters (the feature_scaling JSON) as arrays, and their application: clamp((v - mean) / std).

JSON layout (the original's): ``{Type: {feature: {"global" | "inner" and "outer": {mean, std, lim_min,
lim_max}}}}``; limits may be the strings "-inf" / "inf". Undefined values (NaN) become 0 after scaling, as do
all features of an object type that has no object in the cell.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numba as nb
import numpy as np

from ..core.documents import read_json
from ..core.errors import TaumlError
from .blocks import CELL_TYPES, GRID_GLOBAL, TAU_FLAT, column_index
from .config import GRIDS, enabled_features, grid_groups
from .kernels import BLOCK_TOTAL

FIELDS = ("mean", "std", "lim_min", "lim_max")


def read_scaling(path: str | os.PathLike) -> dict:
    data = read_json(path, "scaling JSON file")
    if not isinstance(data, dict):
        raise TaumlError(f"{path}: expected {{type: {{feature: {{cone: parameters}}}}}}")
    return data


def _number(value) -> float:
    return float(value)  # float("inf") / float("-inf") read the JSON's strings


@dataclass
class Params:
    """float32 (F,) arrays of one input's features."""
    mean: np.ndarray
    std: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def _lookup(data: dict, path, obj_type: str, feature: str, cone: str | None) -> tuple[float, ...]:
    entry = data.get(obj_type, {}).get(feature)
    if entry is None:
        raise TaumlError(f"{path}: no scaling parameters for {obj_type}.{feature}")
    p = entry.get(cone) if cone in entry else entry.get("global")
    if p is None:
        raise TaumlError(f"{path}: no '{cone or 'global'}' scaling parameters for {obj_type}.{feature}")
    try:
        values = tuple(_number(p[k]) for k in FIELDS)
    except (KeyError, TypeError, ValueError) as err:
        raise TaumlError(f"{path}: bad scaling parameters for {obj_type}.{feature} ({err})") from err
    if not values[1] > 0 or math.isnan(values[0]):
        raise TaumlError(f"{path}: {obj_type}.{feature}: std must be > 0 and mean a number")
    return values


def _params(rows) -> Params:
    a = np.array(rows, np.float64).reshape(-1, 4).astype(np.float32)
    return Params(a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy(), a[:, 3].copy())


@dataclass
class GroupLayout:
    """Where each feature of one grid group comes from: a cell column (>= 0) or GridGlobal k (-1 - k), and the
    n_total column of its object type (-1 for GridGlobal)."""
    source: np.ndarray
    presence: np.ndarray


def group_layout(cfg: dict, group: str) -> GroupLayout:
    cols = column_index()
    source, presence = [], []
    for obj_type in grid_groups(cfg)[group]:
        for name in enabled_features(cfg, obj_type):
            if obj_type == "GridGlobal":
                source.append(-1 - GRID_GLOBAL.index(name))
                presence.append(-1)
            else:
                source.append(cols[name])
                presence.append(int(BLOCK_TOTAL[CELL_TYPES.index(obj_type)]))
    return GroupLayout(np.array(source, np.int64), np.array(presence, np.int64))


class Scaling:
    """The parameters of every model input for one training configuration."""

    def __init__(self, data: dict, cfg: dict, path="scaling"):
        self.tau_index = np.array([TAU_FLAT.index(n) for n in enabled_features(cfg, "TauFlat")], np.int64)
        self.tau = _params([_lookup(data, path, "TauFlat", n, None) for n in enabled_features(cfg, "TauFlat")])
        self.grid_global_index = np.array([TAU_FLAT.index(n) for n in GRID_GLOBAL], np.int64)
        self.layouts = {g: group_layout(cfg, g) for g in grid_groups(cfg)}
        self.cells: dict[tuple[str, str], Params] = {}
        for grid in GRIDS:
            for group, types in grid_groups(cfg).items():
                rows = []
                for obj_type in types:
                    cone = None if obj_type == "GridGlobal" else grid
                    rows += [_lookup(data, path, obj_type, n, cone) for n in enabled_features(cfg, obj_type)]
                self.cells[(grid, group)] = _params(rows)

    @classmethod
    def from_file(cls, path, cfg: dict) -> "Scaling":
        return cls(read_scaling(path), cfg, path)

    def scale_taus(self, tau_raw: np.ndarray) -> np.ndarray:
        return scale_columns(tau_raw[:, self.tau_index], self.tau)


def scale_columns(values: np.ndarray, p: Params) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        out = np.clip((values - p.mean) / p.std, p.lo, p.hi).astype(np.float32)
    out[np.isnan(out)] = 0
    return out


@nb.njit(nogil=True, cache=True, error_model="numpy")
def scale_cells(values, grid_global, tau_row, target, source, presence, mean, std, lo, hi, out):
    """out[target[r], f] = scaled feature f of cell row r (``out`` is zero-filled; rows of absent types stay 0)."""
    for r in range(values.shape[0]):
        t = tau_row[r]
        o = target[r]
        for f in range(source.shape[0]):
            p = presence[f]
            if p >= 0 and values[r, p] == 0:
                continue
            s = source[f]
            v = grid_global[t, -1 - s] if s < 0 else values[r, s]
            if np.isnan(v):
                continue
            v = (v - mean[f]) / std[f]
            out[o, f] = min(max(v, lo[f]), hi[f])
