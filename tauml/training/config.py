"""The training configuration: train.yaml composed by Hydra (training_v1.yaml under ``training_cfg``) with
command-line overrides in Hydra's grammar (``key=value``, ``+key=value``, ``~key``, nested dicts).

Hydra's compose API is used, so the working directory never changes (the original's ``@hydra.main`` moved
into ``outputs/...`` and broke relative paths).
"""
from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

from ..core.errors import TaumlError
from ..features.config import check_training_cfg

DEFAULT_CONFIG_DIR = "config/training"
DEFAULT_CONFIG_NAME = "train"
INPUT_PATTERNS = ("*.root", "*.h5")


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def compose_config(overrides: Sequence[str] = (), config_dir: str | os.PathLike = DEFAULT_CONFIG_DIR,
                   config_name: str = DEFAULT_CONFIG_NAME) -> dict:
    """The resolved configuration as plain containers; a bad override or a missing value is a TaumlError."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    directory = Path(config_dir).resolve()
    if not (directory / f"{config_name}.yaml").is_file():
        raise TaumlError(f"{directory / f'{config_name}.yaml'}: no such configuration file")
    try:
        with initialize_config_dir(config_dir=str(directory), version_base=None, job_name="Training_v0p1"):
            cfg = compose(config_name=config_name, overrides=list(overrides))
        missing = sorted(key for key in cfg if OmegaConf.is_missing(cfg, key))
        if missing:
            raise TaumlError(f"{directory / config_name}.yaml: no value for {', '.join(missing)} "
                             f"(give it on the command line: {missing[0]}=...)")
        resolved = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except (HydraException, OmegaConfBaseException) as err:
        raise TaumlError(f"{directory / config_name}.yaml: {_one_line(err)}") from None
    check_training_cfg(resolved.get("training_cfg"), f"{directory / config_name}.yaml: training_cfg")
    return resolved


def input_files(cfg: dict) -> list[str]:
    """``input_files`` if given, else the ROOT / HDF5 files directly in ``training_cfg.Setup.input_dir``."""
    files = cfg.get("input_files")
    if files:
        files = [str(f) for f in ([files] if isinstance(files, str) else files)]
        absent = [f for f in files if not os.path.isfile(f)]
        if absent:
            raise TaumlError(f"{absent[0]}: input file does not exist")
        return sorted(files)
    directory = cfg["training_cfg"]["Setup"].get("input_dir")
    if not directory or not os.path.isdir(directory):
        raise TaumlError(f"{directory}: training_cfg.Setup.input_dir is not a directory (or give input_files)")
    found = sorted(f for pattern in INPUT_PATTERNS for f in glob.glob(os.path.join(glob.escape(directory), pattern)))
    if not found:
        raise TaumlError(f"{directory}: no input files ({' or '.join(INPUT_PATTERNS)})")
    return found


def read_override_lines(path: str | os.PathLike) -> dict[str, list[str]]:
    """{run name: [overrides]} of an override-lines file (the original's input_run3_cnn_ho1.txt): one training
    per line, Hydra overrides separated by spaces (shell quoting), ``#`` comments; ``run_name=NAME`` names the
    run (default ``run<line number>``)."""
    import re
    import shlex

    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise TaumlError(f"{path}: cannot read the training override lines ({err.strerror})") from None
    runs: dict[str, list[str]] = {}
    for number, line in enumerate(lines, start=1):
        try:
            words = shlex.split(line, comments=True)
        except ValueError as err:
            raise TaumlError(f"{path}:{number}: {err}") from None
        if not words:
            continue
        names = [w.split("=", 1)[1] for w in words if w.startswith("run_name=")]
        name = names[-1] if names else f"run{number}"
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise TaumlError(f"{path}:{number}: run name '{name}' may hold only letters, digits, '_', '.', '-'")
        if name in runs:
            raise TaumlError(f"{path}:{number}: run name '{name}' repeats an earlier line")
        runs[name] = [w for w in words if not w.startswith("run_name=")]
    if not runs:
        raise TaumlError(f"{path}: no training lines")
    return runs
