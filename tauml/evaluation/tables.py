"""Reading what evaluate_performance needs: tau columns and labels from TauTuples or flat training tuples
(ROOT tree or HDF5 group ``taus``), per-tau predictions (``<stem>_pred.h5``) and weights
(``<stem>_weights.h5``), all aligned by row."""
from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..core.errors import TaumlError
from ..core.io import open_tree
from ..core.schema import NO_TYPE, TAU_TYPE_BRANCHES, TREE, TauType, tau_type

CLASSES = ("e", "mu", "tau", "jet")  # order of the model's softmax output
PRED_COLUMNS = tuple(f"deepId_{c}" for c in CLASSES)
FLAT_LABELS = tuple(f"gen_{c}" for c in CLASSES)
PRED_SUFFIX = "_pred.h5"
WEIGHTS_SUFFIX = "_weights.h5"


def stem(path) -> str:
    """Base name without the extension: the name of the matching predictions and weights files."""
    return Path(str(path)).name.rsplit(".", 1)[0]


def is_hdf5(path) -> bool:
    return str(path).endswith((".h5", ".hdf5"))


class Table:
    """Scalar columns of one tuple file (ROOT tree or HDF5 group), read on demand."""

    def __init__(self, path, tree: str = TREE):
        self.path, self.tree = str(path), tree
        if is_hdf5(path):
            try:
                self._h5 = h5py.File(path, "r")
            except OSError as err:
                raise TaumlError(f"{path}: not a readable HDF5 file ({err})") from err
            if tree not in self._h5:
                raise TaumlError(f"{path}: has no group '{tree}'")
            group = self._h5[tree]
            self.columns = {k for k, v in group.items() if isinstance(v, h5py.Dataset)}
            self.n = len(group[next(iter(sorted(self.columns)))]) if self.columns else 0
            self._root = None
        else:
            self._root = open_tree(path, tree)
            self._h5 = None
            self.columns = set(self._root.keys(recursive=False))
            self.n = int(self._root.num_entries)

    def read(self, names) -> dict[str, np.ndarray]:
        names = list(dict.fromkeys(names))
        missing = [n for n in names if n not in self.columns]
        if missing:
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise TaumlError(f"{self.path}: '{self.tree}' lacks column(s) {', '.join(missing[:5])}{more}")
        try:
            if self._h5 is not None:
                return {n: np.asarray(self._h5[self.tree][n][...]) for n in names}
            return dict(self._root.arrays(names, library="np"))
        except TaumlError:
            raise
        except Exception as err:
            raise TaumlError(f"{self.path}: cannot read '{self.tree}' ({err})") from err

    def labels(self) -> np.ndarray:
        """TauType per row: the ``tauType`` branch where set, else the TauTuple tau-type rule, or the flat
        tuples' one-hot ``gen_e/gen_mu/gen_tau/gen_jet``; -1 where none applies."""
        result = np.full(self.n, NO_TYPE, np.int32)
        if "tauType" in self.columns:
            result = self.read(["tauType"])["tauType"].astype(np.int32)
            result[result < 0] = NO_TYPE
            if (result >= 0).all():
                return result
        if all(c in self.columns for c in TAU_TYPE_BRANCHES):
            rule = tau_type(self.read(TAU_TYPE_BRANCHES))
            return np.where(result >= 0, result, rule).astype(np.int32)
        if all(c in self.columns for c in FLAT_LABELS):
            onehot = np.stack([self.read([c])[c] for c in FLAT_LABELS], axis=1) > 0.5
            flat = np.array([TauType[c] for c in CLASSES], np.int32)[onehot.argmax(1)]
            return np.where(result >= 0, result, np.where(onehot.any(1), flat, NO_TYPE)).astype(np.int32)
        if (result >= 0).any():
            return result
        raise TaumlError(f"{self.path}: no labels: needs 'tauType', the tau-type rule branches "
                         f"({', '.join(TAU_TYPE_BRANCHES)}) or {', '.join(FLAT_LABELS)}")

    def close(self):
        if self._h5 is not None:
            self._h5.close()


def _h5_columns(path: Path, tree: str, names, n_rows: int, what: str) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise TaumlError(f"{path}: no {what} file")
    try:
        with h5py.File(path, "r") as f:
            group = f[tree] if tree in f else f
            missing = [n for n in names if n not in group]
            if missing:
                raise TaumlError(f"{path}: {what} lacks column(s) {', '.join(missing)} (group '{tree}')")
            out = {n: np.asarray(group[n][...], np.float64) for n in names}
    except OSError as err:
        raise TaumlError(f"{path}: not a readable HDF5 file ({err})") from err
    for n, values in out.items():
        if values.shape != (n_rows,):
            raise TaumlError(f"{path}: {what} column '{n}' has {len(values)} rows, the tuple has {n_rows}")
        if not np.isfinite(values).all():
            raise TaumlError(f"{path}: {what} column '{n}' holds non-finite values")
    return out


def read_predictions(directory, tuple_path, n_rows: int, tree: str = TREE) -> np.ndarray:
    """(n_rows, 4) probabilities [e, mu, tau, jet] of ``<directory>/<stem>_pred.h5``."""
    path = Path(directory) / f"{stem(tuple_path)}{PRED_SUFFIX}"
    cols = _h5_columns(path, tree, PRED_COLUMNS, n_rows, "predictions")
    probs = np.stack([cols[c] for c in PRED_COLUMNS], axis=1)
    if (probs < 0).any() or (probs > 1).any():
        raise TaumlError(f"{path}: predictions outside [0, 1]")
    return probs


def read_weights(directory, tuple_path, n_rows: int, tree: str = TREE) -> np.ndarray:
    """Per-row weights of ``<directory>/<stem>_weights.h5`` (column ``weight``), or ones without a directory."""
    if directory is None:
        return np.ones(n_rows)
    path = Path(directory) / f"{stem(tuple_path)}{WEIGHTS_SUFFIX}"
    weight = _h5_columns(path, tree, ["weight"], n_rows, "weights")["weight"]
    if (weight < 0).any():
        raise TaumlError(f"{path}: negative weights")
    return weight


def discriminator(probs: np.ndarray, other_type: str) -> np.ndarray:
    """D_k = p_tau / (p_tau + p_k); 0 where p_tau = 0."""
    p_tau, p_k = probs[:, CLASSES.index("tau")], probs[:, CLASSES.index(other_type)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(p_tau > 0, p_tau / (p_tau + p_k), 0.0)
