"""training_v1.yaml: reading, checking, and what follows from it (enabled features, grid groups, input shapes)."""
from __future__ import annotations

import os

from ..core.documents import read_yaml
from ..core.errors import TaumlError
from .blocks import KNOWN_TYPES, block_features

INPUT_NAMES = ("input_tau", "input_inner_egamma", "input_inner_muon", "input_inner_hadrons", "input_outer_egamma",
               "input_outer_muon", "input_outer_hadrons")
GRIDS = ("inner", "outer")
GROUPS = ("egamma", "muon", "hadrons")  # the SetupNN.input_grids groups, by position
TOP_KEYS = ("Setup", "SetupNN", "CellObjectType", "Scaling_setup", "Features_all", "Features_disable")
SCALING_TYPES = ("no_scaling", "categorical", "linear", "normal")
SETUP_KEYS = ("n_tau", "iso_cone", "n_inner_cells", "inner_cell_size", "n_outer_cells", "outer_cell_size",
              "tau_types_names", "recompute_tautype")


def load_training_cfg(path: str | os.PathLike) -> dict:
    """The parsed and checked training configuration; any inconsistency is a TaumlError naming the file."""
    cfg = read_yaml(path, "training configuration")
    check_training_cfg(cfg, path)
    return cfg


def check_training_cfg(cfg, path="training config") -> None:
    if not isinstance(cfg, dict):
        raise TaumlError(f"{path}: expected a mapping at the top level")
    missing = [k for k in TOP_KEYS if k not in cfg]
    if missing:
        raise TaumlError(f"{path}: missing top-level key(s): {', '.join(missing)}")
    lacking = [k for k in SETUP_KEYS if k not in cfg["Setup"]]
    if lacking:
        raise TaumlError(f"{path}: Setup lacks {', '.join(lacking)}")
    for n_key, size_key in (("n_inner_cells", "inner_cell_size"), ("n_outer_cells", "outer_cell_size")):
        n, size = cfg["Setup"][n_key], cfg["Setup"][size_key]
        if not isinstance(n, int) or n < 1 or n % 2 == 0 or not size > 0:
            raise TaumlError(f"{path}: Setup.{n_key} must be an odd positive integer and {size_key} > 0")
    for obj_type, entries in cfg["Features_all"].items():
        if obj_type not in KNOWN_TYPES:
            raise TaumlError(f"{path}: unknown feature type '{obj_type}' (known: {', '.join(KNOWN_TYPES)})")
        known = set(block_features(obj_type))
        for entry in entries:
            if not isinstance(entry, dict) or len(entry) != 1:
                raise TaumlError(f"{path}: {obj_type}: each feature must be 'name: [selection, aliases, type, ...]'")
            (name, spec), = entry.items()
            if name not in known:
                raise TaumlError(f"{path}: {obj_type}: tauml computes no feature '{name}'")
            if not isinstance(spec, list) or len(spec) < 3 or spec[2] not in SCALING_TYPES:
                raise TaumlError(f"{path}: {obj_type}.{name}: scaling type must be one of {', '.join(SCALING_TYPES)}")
            _check_limits(path, obj_type, name, spec)
    for obj_type, names in (cfg["Features_disable"] or {}).items():
        listed = {next(iter(e)) for e in cfg["Features_all"].get(obj_type, [])}
        unknown = [n for n in names or [] if n not in listed]
        if unknown:
            raise TaumlError(f"{path}: Features_disable.{obj_type}: not in Features_all: {', '.join(unknown)}")
    for obj_type in cfg["CellObjectType"]:
        if obj_type not in cfg["Features_all"]:
            raise TaumlError(f"{path}: CellObjectType '{obj_type}' has no Features_all entry")
    grids = cfg["SetupNN"].get("input_grids")
    if not isinstance(grids, list) or len(grids) != len(GROUPS):
        raise TaumlError(f"{path}: SetupNN.input_grids must list {len(GROUPS)} groups ({', '.join(GROUPS)})")
    for group in grids:
        bad = [t for t in group if t not in cfg["CellObjectType"]]
        if bad:
            raise TaumlError(f"{path}: SetupNN.input_grids: not a CellObjectType: {', '.join(bad)}")
    if "TauFlat" not in cfg["Features_all"]:
        raise TaumlError(f"{path}: Features_all lacks TauFlat")


def _check_limits(path, obj_type, name, spec) -> None:
    kind, params = spec[2], spec[3:]
    if kind == "linear":
        ok = (len(params) == 2 and all(isinstance(p, (int, float)) for p in params)) or (
            len(params) == 1 and isinstance(params[0], dict) and set(params[0]) == {"inner", "outer"})
        if not ok:
            raise TaumlError(f"{path}: {obj_type}.{name}: linear needs [a, b] or {{inner: [a, b], outer: [a, b]}}")
    elif kind == "normal" and params and len(params) != 2:
        raise TaumlError(f"{path}: {obj_type}.{name}: normal takes two clamp limits or none")


def feature_specs(cfg: dict, obj_type: str) -> list[tuple[str, list]]:
    """Enabled features of one type, in YAML order, as (name, [selection, aliases, scaling_type, *limits])."""
    disabled = set((cfg.get("Features_disable") or {}).get(obj_type) or [])
    out = []
    for entry in cfg["Features_all"].get(obj_type, []):
        (name, spec), = entry.items()
        if name not in disabled:
            out.append((name, spec))
    return out


def enabled_features(cfg: dict, obj_type: str) -> list[str]:
    return [name for name, _ in feature_specs(cfg, obj_type)]


def grid_groups(cfg: dict) -> dict[str, list[str]]:
    """Group name (egamma, muon, hadrons) -> object types whose features it concatenates."""
    return dict(zip(GROUPS, cfg["SetupNN"]["input_grids"]))


def grid_geometry(cfg: dict, grid: str) -> tuple[int, float]:
    """(number of cells per axis, cell size) of the inner or outer grid."""
    s = cfg["Setup"]
    return int(s[f"n_{grid}_cells"]), float(s[f"{grid}_cell_size"])


def group_width(cfg: dict, group: str) -> int:
    return sum(len(enabled_features(cfg, t)) for t in grid_groups(cfg)[group])


def input_shapes(cfg: dict) -> dict[str, tuple[int, ...]]:
    """Per-tau shape of each model input, in INPUT_NAMES order."""
    shapes = {"input_tau": (len(enabled_features(cfg, "TauFlat")),)}
    for grid in GRIDS:
        n, _ = grid_geometry(cfg, grid)
        for group in GROUPS:
            shapes[f"input_{grid}_{group}"] = (n, n, group_width(cfg, group))
    return shapes


def signal_cone(cfg: dict) -> tuple[float, float, float]:
    """(opening_coef, min_pt, min_radius) of R_sig = max(opening_coef / max(pt, min_pt), min_radius)."""
    inner = cfg["Scaling_setup"].get("cone_definition", {}).get("inner", {})
    return float(inner.get("opening_coef", 3.0)), float(inner.get("min_pt", 30.0)), float(inner.get("min_radius", 0.05))


def tau_type_classes(cfg: dict) -> list[int]:
    """TauType values of the label classes, in one-hot order (e, mu, tau, jet by default)."""
    return sorted(int(k) for k in cfg["Setup"]["tau_types_names"])
