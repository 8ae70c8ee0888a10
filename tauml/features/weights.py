"""Per-tau spectrum weights: target / input (|eta|, pt) spectrum, rebinned to Setup.yaxis x Setup.xaxis_list.

The spectra are CreateSpectralHists histograms ``eta_pt_hist_<type>`` (x = |eta|, y = pt); the target is the tau
spectrum of Setup.target_spectrum. Each spectrum is normalised to unit sum in the coarse bins, so the weights
flatten every type to the tau spectrum; the original computed these weights but never passed them on.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import TaumlError
from ..core.io import open_file
from .blocks import TAU_FLAT
from .config import tau_type_classes
from .raw import RawTaus

PT, ETA = TAU_FLAT.index("tau_pt"), TAU_FLAT.index("tau_eta")


def _coarse(path, name: str, pt_edges: np.ndarray, eta_edges: list[np.ndarray]) -> list[np.ndarray]:
    f = open_file(path)
    if name not in f.keys(cycle=False):
        raise TaumlError(f"{path}: has no histogram '{name}'")
    h = f[name]
    values = h.values(flow=False)
    x_mid = 0.5 * (h.axes[0].edges()[1:] + h.axes[0].edges()[:-1])
    y_mid = 0.5 * (h.axes[1].edges()[1:] + h.axes[1].edges()[:-1])
    pt_bin = np.searchsorted(pt_edges, y_mid, side="right") - 1
    out = []
    for j, edges in enumerate(eta_edges):
        rows = values[:, pt_bin == j].sum(axis=1)
        eta_bin = np.searchsorted(edges, x_mid, side="right") - 1
        ok = (eta_bin >= 0) & (eta_bin < len(edges) - 1)
        out.append(np.bincount(eta_bin[ok], rows[ok], minlength=len(edges) - 1))
    total = sum(c.sum() for c in out)
    if total <= 0:
        raise TaumlError(f"{path}: histogram '{name}' is empty in the weight bins")
    return [c / total for c in out]


class SpectrumWeights:
    def __init__(self, input_spectrum, target_spectrum, names: dict, pt_edges, eta_edges, threshold: float):
        self.pt_edges = np.asarray(pt_edges, np.float64)
        self.eta_edges = [np.asarray(e, np.float64) for e in eta_edges]
        if len(self.eta_edges) != len(self.pt_edges) - 1:
            raise TaumlError(f"Setup.xaxis_list: {len(self.eta_edges)} |eta| binnings for "
                             f"{len(self.pt_edges) - 1} pt bins")
        target = _coarse(target_spectrum, "eta_pt_hist_tau", self.pt_edges, self.eta_edges)
        self.tables = {}
        for tau_type, name in names.items():
            source = _coarse(input_spectrum, f"eta_pt_hist_{name}", self.pt_edges, self.eta_edges)
            with np.errstate(divide="ignore", invalid="ignore"):
                table = [np.where(s > 0, t / s, 0.0) for t, s in zip(target, source)]
            positive = np.concatenate([w[w > 0] for w in table])
            span = positive.max() / positive.min() if positive.size else 1.0
            if span > threshold:
                raise TaumlError(f"{input_spectrum}: weights of type '{name}' span {span:.3g} > weight_thr {threshold:g}")
            self.tables[int(tau_type)] = table

    @classmethod
    def from_setup(cls, cfg: dict) -> "SpectrumWeights":
        s = cfg["Setup"]
        names = {t: s["tau_types_names"][str(t)] for t in tau_type_classes(cfg)}
        return cls(s["input_spectrum"], s["target_spectrum"], names, s["yaxis"], s["xaxis_list"],
                   float(s["weight_thr"]))

    def __call__(self, raw: RawTaus) -> np.ndarray:
        pt = raw.tau[:, PT].astype(np.float64)
        eta = np.abs(raw.tau[:, ETA].astype(np.float64))
        j = np.clip(np.searchsorted(self.pt_edges, pt, side="right") - 1, 0, len(self.eta_edges) - 1)
        w = np.zeros(len(raw), np.float64)
        for row in range(len(raw)):
            table = self.tables.get(int(raw.tau_type[row]))
            if table is None:
                continue
            edges = self.eta_edges[j[row]]
            i = np.clip(np.searchsorted(edges, eta[row], side="right") - 1, 0, len(edges) - 2)
            w[row] = table[j[row]][i]
        return w.astype(np.float32)
