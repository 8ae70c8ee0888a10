"""feature_scaling: scaling parameters of every feature from the training TauTuples, in the original's JSON.

Per feature and cone ("global" for TauFlat and GridGlobal, "inner" and "outer" for cell types): normal ->
mean and std (4 significant digits) over every defined, finite value, clamp limits from the YAML (or +-inf);
linear [a, b] -> mean (a+b)/2, std (b-a)/2, limits [-1, 1]; categorical and no_scaling -> 0, 1, +-inf. Values
are those the kernels put in the grids, for every object in a grid (not only the highest-pt one per cell): the
inner cone is the inner grid (dR < R_sig), the outer cone the outer grid (dR < 0.5, signal cone included).
"""
from __future__ import annotations

import glob
import json
import math
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core.errors import TaumlError
from ..core.io import atomic_path, open_tree, require_branches
from ..features.blocks import CELL_TYPES, TAU_FLAT, column_index
from ..features.config import GRIDS
from ..features.grids import needed_branches, object_features
from ..features.kernels import BLOCK_TOTAL

CHUNK = 1000
QUANTILES = {"median": 0.5, "min": 0.0, "max": 1.0, "-1sigma": 0.158655, "+1sigma": 0.841345,
             "-2sigma": 0.02275, "+2sigma": 0.97725, "-3sigma": 0.00135, "+3sigma": 0.99865,
             "-5sigma": 2.9e-7, "+5sigma": 1 - 2.9e-7}


def _limit(x: float):
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _sig4(x: float) -> float:
    return float(f"{x:.4g}")


def _entry(mean, std, lo, hi) -> dict:
    return {"mean": mean, "std": std, "lim_min": _limit(lo), "lim_max": _limit(hi)}


def input_files(scaling_setup: dict, file_path: list[str] | None = None) -> list[str]:
    """The sorted files of the glob(s), then Scaling_setup.file_range."""
    patterns = file_path or [scaling_setup["file_path"]]
    pattern = " ".join(patterns)
    files = sorted({f for p in patterns for f in glob.glob(p)})
    file_range = scaling_setup.get("file_range", -1)
    if file_range != -1:
        first, last = file_range
        files = files[first:] if last == -1 else files[first:last]
    if not files:
        raise TaumlError(f"{pattern}: no input files for the scaling (file_range {file_range})")
    return files


class Accumulator:
    """Sums, sums of squares and counts per (type, feature, cone) of the normal features."""

    def __init__(self, cfg: dict, var_types):
        self.cfg = cfg
        self.types = [t for t in cfg["Features_all"] if var_types is None or t in var_types]
        self.sums: dict[tuple[str, str, str], np.ndarray] = {}

    def cones(self, obj_type: str) -> list[str]:
        return ["global"] if obj_type in ("TauFlat", "GridGlobal") else list(GRIDS)

    def add(self, key, values: np.ndarray) -> np.ndarray:
        finite = values[np.isfinite(values)].astype(np.float64)  # NaN = undefined, +-inf masked (as the original)
        acc = self.sums.setdefault(key, np.zeros(3))
        acc += (finite.sum(), (finite**2).sum(), finite.size)
        return finite

    def params(self) -> dict:
        out: dict = {}
        for obj_type in self.types:
            out[obj_type] = {}
            for entry in self.cfg["Features_all"][obj_type]:
                (name, spec), = entry.items()
                kind, limits = spec[2], spec[3:]
                per_cone = {}
                for cone in self.cones(obj_type):
                    if kind in ("no_scaling", "categorical"):
                        per_cone[cone] = _entry(0.0, 1.0, -math.inf, math.inf)
                    elif kind == "linear":
                        a, b = limits[0][cone if cone != "global" else "inner"] if isinstance(limits[0], dict) \
                            else limits
                        per_cone[cone] = _entry((a + b) / 2, (b - a) / 2, -1.0, 1.0)
                    else:
                        s, s2, n = self.sums.get((obj_type, name, cone), np.zeros(3))
                        mean = s / n if n else 0.0
                        std = math.sqrt(max(s2 / n - mean**2, 0.0)) if n else 1.0
                        if not (math.isfinite(mean) and math.isfinite(std)):
                            raise TaumlError(f"{obj_type}.{name} ({cone}): non-finite mean/std (values too large)")
                        lo, hi = (limits[0], limits[1]) if len(limits) == 2 else (-math.inf, math.inf)
                        per_cone[cone] = _entry(_sig4(mean), _sig4(std) if std > 0 else 1.0, lo, hi)
                out[obj_type][name] = per_cone
        return out


def _normal_features(cfg, obj_type) -> list[str]:
    """Every listed normal feature (disabled ones too: disabling later needs no new scaling)."""
    return [name for e in cfg["Features_all"].get(obj_type, []) for name, spec in e.items() if spec[2] == "normal"]


def _quantiles(values: np.ndarray) -> dict:
    if values.size == 0:
        return {}
    q = np.quantile(values, list(QUANTILES.values()))
    return {k: float(v) for k, v in zip(QUANTILES, q)}


def _accumulate_file(path, cfg, acc: Accumulator, tree_name: str) -> dict:
    tree = open_tree(path, tree_name)
    names = needed_branches(cfg)
    require_branches(tree, path, names)
    cols = column_index()
    per_file: dict = {}
    values_of: dict = {}
    for start in range(0, int(tree.num_entries), CHUNK):
        try:
            chunk = tree.arrays(names, entry_start=start, entry_stop=min(start + CHUNK, int(tree.num_entries)),
                                library="ak", how=dict)
        except Exception as err:
            raise TaumlError(f"{path}: cannot read tree '{tree_name}' ({err})") from err
        tau, objects = object_features(chunk, cfg, path)
        tau = tau[np.asarray(chunk["tau_index"]) >= 0]
        for obj_type in acc.types:
            for name in _normal_features(cfg, obj_type):
                if obj_type in ("TauFlat", "GridGlobal"):
                    key = (obj_type, name, "global")
                    values_of.setdefault(key, []).append(acc.add(key, tau[:, TAU_FLAT.index(name)]))
                    continue
                present = int(BLOCK_TOTAL[CELL_TYPES.index(obj_type)])
                for grid in GRIDS:
                    _, values = objects[grid]
                    mine = values[values[:, present] > 0, cols[name]]
                    key = (obj_type, name, grid)
                    values_of.setdefault(key, []).append(acc.add(key, mine))
    for (obj_type, name, cone), parts in values_of.items():
        q = _quantiles(np.concatenate(parts))
        if q:
            per_file.setdefault(obj_type, {}).setdefault(name, {})[cone] = q
    return per_file


def _write_json(path: Path, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def feature_scaling(cfg: dict, var_types=None, file_path: list[str] | None = None,
                    output_folder: str | os.PathLike | None = None) -> Path:
    """Compute the scaling JSON; returns the path of the final ``scaling_params_v{version}.json``."""
    setup = cfg["Scaling_setup"]
    unknown = [t for t in var_types or [] if t not in cfg["Features_all"]]
    if unknown:
        raise TaumlError(f"--var_types: not in Features_all: {', '.join(unknown)}")
    files = input_files(setup, file_path)
    out_dir = Path(output_folder or setup["output_json_folder"])
    version, log_step = setup.get("version", 1), int(setup.get("log_step", 10))
    acc = Accumulator(cfg, var_types)
    quantiles = {}
    try:
        for i, path in enumerate(tqdm(files, unit="files", desc="feature_scaling", disable=None)):
            quantiles[str(i)] = _accumulate_file(path, cfg, acc, setup.get("tree_name", "taus"))
            if log_step > 0 and (i + 1) % log_step == 0 and i + 1 < len(files):
                _write_json(out_dir / f"scaling_params_v{version}_log_{(i + 1) // log_step - 1}.json", acc.params())
        final = out_dir / f"scaling_params_v{version}.json"
        params = acc.params()
        _write_json(out_dir / f"quantile_params_v{version}.json", quantiles)
        _write_json(final, params)
    except OSError as err:
        raise TaumlError(f"{out_dir}: cannot write ({err.strerror or err})") from err
    return final
