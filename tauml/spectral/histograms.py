"""(|eta|, pt) histograms as numpy arrays, written and read as ROOT TH2D/TH1D through uproot.

Bins follow ROOT: index 0 is the underflow, ``n + 1`` the overflow, bins are half-open ``[lo, hi)``;
only entries inside both axes count in the statistics sums, every fill counts in ``entries``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from uproot.writing.identify import to_TAxis, to_TH1x, to_TH2x

from ..core.axis import Axis
from ..core.errors import TaumlError
from ..core.io import open_file

# fine edges must meet coarse ones to this precision (the original allowed ~2 machine epsilons of the edge)
EDGE_TOLERANCE = 1e-9


_STATS = ("tsumw", "tsumw2", "tsumwx", "tsumwx2", "tsumwy", "tsumwy2", "tsumwxy")


@dataclass
class Hist2D:
    """Unit-weight 2-D histogram, ``counts[ix, iy]`` with flow bins."""
    x: Axis
    y: Axis
    counts: np.ndarray = None
    sumw2: np.ndarray = None
    entries: float = 0.0
    stats: dict = field(default_factory=lambda: dict.fromkeys(_STATS, 0.0))

    def __post_init__(self):
        shape = (self.x.n + 2, self.y.n + 2)
        if self.counts is None:
            self.counts = np.zeros(shape)
        if self.sumw2 is None:
            self.sumw2 = self.counts.copy()

    def fill(self, x, y) -> None:
        x = np.asarray(x, np.float64)
        y = np.asarray(y, np.float64)
        ix, iy = self.x.index(x), self.y.index(y)
        flat = np.bincount(ix * (self.y.n + 2) + iy, minlength=self.counts.size).reshape(self.counts.shape)
        self.counts += flat
        self.sumw2 += flat
        self.entries += x.size
        inside = (ix >= 1) & (ix <= self.x.n) & (iy >= 1) & (iy <= self.y.n)
        xi, yi = x[inside], y[inside]
        for key, value in zip(_STATS, (xi.size, xi.size, xi.sum(), (xi * xi).sum(), yi.sum(), (yi * yi).sum(),
                                       (xi * yi).sum())):
            self.stats[key] += float(value)

    def add(self, other: "Hist2D") -> None:
        self.counts += other.counts
        self.sumw2 += other.sumw2
        self.entries += other.entries
        for key in _STATS:
            self.stats[key] += other.stats[key]

    def inner(self) -> np.ndarray:
        """Counts without flow bins, ``[ix, iy]``."""
        return self.counts[1:-1, 1:-1]

    def to_root(self, name: str, title: str = ""):
        s = self.stats
        return to_TH2x(name, title, self.counts.T.ravel(), self.entries, s["tsumw"], s["tsumw2"], s["tsumwx"],
                       s["tsumwx2"], s["tsumwy"], s["tsumwy2"], s["tsumwxy"], self.sumw2.T.ravel(),
                       self.x.to_root("xaxis"), self.y.to_root("yaxis"))

    @classmethod
    def from_values(cls, x: Axis, y: Axis, values: np.ndarray, entries: float | None = None) -> "Hist2D":
        """A histogram with given in-range bin contents ``values[ix, iy]`` (diagnostics)."""
        counts = np.zeros((x.n + 2, y.n + 2))
        counts[1:-1, 1:-1] = values
        h = cls(x, y, counts, counts ** 2 if entries is None else counts.copy())
        h.entries = float(counts.sum() if entries is None else entries)
        h.stats["tsumw"] = float(values.sum())
        return h

    def rebin(self, x: Axis, y: Axis, where: str = "") -> "Hist2D":
        """Sum into coarser axes whose edges are a subset of this histogram's edges (flow -> flow)."""
        mx, my = _edge_map(self.x, x, where + " |eta|"), _edge_map(self.y, y, where + " pt")
        counts = _rebin_counts(_rebin_counts(self.counts, mx, 0), my, 1)
        sumw2 = _rebin_counts(_rebin_counts(self.sumw2, mx, 0), my, 1)
        return Hist2D(x, y, counts, sumw2, self.entries, dict(self.stats))


def _edge_map(fine: Axis, coarse: Axis, what: str) -> np.ndarray:
    """Coarse flow index of each fine flow bin; coarse edges must coincide with fine ones."""
    pos = np.searchsorted(fine.edges, coarse.edges)
    for i, (p, edge) in enumerate(zip(pos, coarse.edges)):
        near = [j for j in (p - 1, p) if 0 <= j < fine.edges.size
                and abs(fine.edges[j] - edge) <= EDGE_TOLERANCE * max(1.0, abs(edge))]
        if not near:
            lo, hi = fine.edges[0], fine.edges[-1]
            why = (f"outside the histogram range [{lo:g}, {hi:g}]" if not lo - 1e-12 <= edge <= hi + 1e-12
                   else "not aligned with the histogram's bin edges")
            raise TaumlError(f"{what}: bin edge {edge:g} is {why}")
        pos[i] = near[0]
    # fine bin k (flow index, covering [edges[k-1], edges[k])) -> coarse bin of its lower edge
    fine_lower = np.concatenate(([-np.inf], fine.edges))
    return np.clip(np.searchsorted(fine.edges[pos], fine_lower, side="right"), 0, coarse.n + 1)


def _rebin_counts(counts: np.ndarray, mapping: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(counts, axis, 0)
    result = np.zeros((int(mapping.max()) + 1,) + moved.shape[1:])
    np.add.at(result, mapping, moved)
    return np.moveaxis(result, 0, axis)


def not_valid_hist(n: int):
    """TH1D ``not_valid`` (1 bin on [0, 2]) holding the entries that have no tau or no type."""
    counts = np.array([0.0, n, 0.0])
    return to_TH1x("not_valid", "not_valid", counts, float(n), float(n), float(n), float(n), float(n), counts,
                   to_TAxis("xaxis", "", 1, 0.0, 2.0))


def read_hist2d(path, name: str, file=None) -> Hist2D | None:
    """TH2 ``name`` of a ROOT file as a Hist2D, or None if the file has no such key."""
    f = file if file is not None else open_file(path)
    if name not in f:
        return None
    try:
        h = f[name]
        xs, ys = h.axis(0).edges(), h.axis(1).edges()
        counts = np.asarray(h.values(flow=True), np.float64)
        variances = np.asarray(h.variances(flow=True), np.float64)
        entries = float(h.member("fEntries"))
    except Exception as err:
        raise TaumlError(f"{path}: '{name}' is not a readable 2-D histogram ({err})") from err
    if counts.shape != (xs.size + 1, ys.size + 1):
        raise TaumlError(f"{path}: '{name}' has an unexpected shape {counts.shape}")
    return Hist2D(Axis.variable(xs), Axis.variable(ys), counts, variances, entries)
