"""Plot setups (``--setup run2|phase2|FILE``, ``--setup-args k=v,...``): pt bins, working points, legacy IDs
and axis ranges of evaluate_performance, read from YAML."""
from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import yaml

from ..core.errors import TaumlError

OTHER_TYPES = ("e", "mu", "jet")
BUILTIN = ("run2", "phase2")
REQUIRED_KEYS = ("period", "options", "pt_bins", "removed_decay_modes", "deep_working_points", "deep_cuts",
                 "legacy_cuts", "wp_bits", "legacy", "mva_color", "prev_deep_color", "deep_color", "plot")


@dataclass(frozen=True)
class Setup:
    """One setup resolved for an other type (e, mu or jet) and its options."""
    name: str
    data: dict
    other_type: str

    @property
    def options(self) -> dict:
        return self.data["options"]

    @property
    def mode(self) -> str:
        return self.options["mode"]

    @property
    def period(self) -> str:
        return self.data["period"]

    @property
    def pt_bins(self) -> list[float]:
        return [float(x) for x in self.data["pt_bins"][self.mode]]

    @property
    def deep_working_points(self) -> dict[str, float]:
        return self.data["deep_working_points"].get(self.other_type, {})

    def legacy(self) -> list[dict]:
        return [d for d in self.data["legacy"].get(self.other_type, []) if self.mode in d.get("modes", [self.mode])]

    def plot(self, bin_index: int) -> dict:
        """Axis settings of one pt bin: per-bin lists repeat their last entry for later bins."""
        common = self.data["plot"]
        own = common[self.other_type]

        def per_bin(key):
            ranges = own[key][self.mode]
            return [float(x) for x in ranges[min(bin_index, len(ranges) - 1)]]

        return {
            "ylabel": common["ylabel"], "yscale": common["yscale"], "legend_loc": common["legend_loc"],
            "ratio_ylabel_pad": common["ratio_ylabel_pad"], "ratio_yscale": own["ratio_yscale"],
            "ratio_title": own["ratio_title"], "x": [float(x) for x in own["x"]], "y": per_bin("y"),
            "ratio_y": per_bin("ratio_y"),
        }


def _parse_value(text: str):
    value = yaml.safe_load(text)
    return value if isinstance(value, (bool, int, float, str)) else text


def parse_setup_args(text: str | None) -> dict:
    """``"mode=internal,apply_dm_cuts=false"`` -> {"mode": "internal", "apply_dm_cuts": False}."""
    args = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise TaumlError(f"--setup-args: expected key=value, got '{item}'")
        args[key.strip()] = _parse_value(value.strip())
    return args


def load_setup(name: str, other_type: str, setup_args: str | None = None) -> Setup:
    """A built-in setup by name or a YAML file, with ``--setup-args`` applied to its options."""
    if other_type not in OTHER_TYPES:
        raise TaumlError(f"unknown other type '{other_type}' (choose from {', '.join(OTHER_TYPES)})")
    if name in BUILTIN:
        text, source = files(__package__).joinpath("setups", f"{name}.yaml").read_text(), name
    else:
        path = Path(name)
        if not path.is_file():
            raise TaumlError(f"unknown setup '{name}': neither {', '.join(BUILTIN)} nor an existing YAML file")
        text, source = path.read_text(), str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise TaumlError(f"{source}: not a valid YAML setup ({err})") from err
    if not isinstance(data, dict):
        raise TaumlError(f"{source}: a setup must be a mapping")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise TaumlError(f"{source}: setup lacks key(s): {', '.join(missing)}")
    options = dict(data["options"])
    for key, value in parse_setup_args(setup_args).items():
        if key not in options:
            raise TaumlError(f"--setup-args: unknown option '{key}' of setup {source} "
                             f"(known: {', '.join(options)})")
        options[key] = value
    data = {**data, "options": options}
    if options["mode"] not in data["pt_bins"]:
        raise TaumlError(f"{source}: unknown mode '{options['mode']}' (choose from {', '.join(data['pt_bins'])})")
    if other_type not in data["plot"]:
        raise TaumlError(f"{source}: no plot settings for other type '{other_type}'")
    bins = data["pt_bins"][options["mode"]]
    if len(bins) < 2 or any(b <= a for a, b in zip(bins, bins[1:])):
        raise TaumlError(f"{source}: pt bins of mode '{options['mode']}' must increase strictly: {bins}")
    return Setup(source, data, other_type)
