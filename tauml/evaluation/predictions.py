"""The predictions file: ``<output>/<input stem>_pred.h5``, group ``--tree``, float32 1-D datasets
``deepId_e``, ``deepId_mu``, ``deepId_tau``, ``deepId_jet``, one row per entry of the input in its order."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..core.errors import TaumlError
from ..core.io import atomic_path
from ..core.remote import find_root_files
from .tables import PRED_COLUMNS, PRED_SUFFIX, stem


def prediction_path(output_dir, input_path) -> Path:
    return Path(output_dir) / f"{stem(input_path)}{PRED_SUFFIX}"


def check_probabilities(probs: np.ndarray, where: str) -> None:
    """Abort on NaN or a value outside [0, 1] (a broken model or input)."""
    if probs.ndim != 2 or probs.shape[1] != len(PRED_COLUMNS):
        raise TaumlError(f"{where}: model output has shape {probs.shape}, expected (n, {len(PRED_COLUMNS)})")
    if not np.isfinite(probs).all():
        raise TaumlError(f"{where}: model output holds NaN or inf")
    if (probs < 0).any() or (probs > 1).any():
        raise TaumlError(f"{where}: model output outside [0, 1]")


def write_predictions(path, probs: np.ndarray, tree: str = "taus") -> None:
    """Write (n, 4) probabilities [e, mu, tau, jet] atomically."""
    probs = np.asarray(probs, np.float32)
    check_probabilities(probs, str(path))
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            group = f.create_group(tree, track_order=True)
            for i, name in enumerate(PRED_COLUMNS):
                group.create_dataset(name, data=probs[:, i], compression="gzip", compression_opts=1,
                                     track_times=False)


def input_files(input_path, filelist=None, max_n_files=None) -> list[str]:
    """The tuples to predict: ``input_path`` itself, the .root/.h5 files below it (sorted), or the names in
    ``filelist`` (one per line, relative to ``input_path``); at most ``max_n_files``."""
    path = Path(input_path)
    if filelist is not None:
        try:
            names = [line.strip() for line in Path(filelist).read_text().splitlines() if line.strip()]
        except OSError as err:
            raise TaumlError(f"{filelist}: cannot read the file list ({err})") from err
        files = [str(path / n) for n in names]
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise TaumlError(f"{filelist}: listed file(s) not found: {', '.join(missing)}")
    elif path.is_file():
        files = [str(path)]
    else:
        files = find_root_files([path], pattern=r"^.*\.(root|h5)$")
    if not files:
        raise TaumlError(f"{input_path}: no input files")
    return files[:max_n_files] if max_n_files is not None else files
