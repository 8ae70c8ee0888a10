"""Histogram axes as ROOT's TAxis, and the one check of bin edges every tool applies to its --*-bins.

Bins are numbered as in ROOT: 0 is the underflow, 1 .. n the bins, half-open [low, high), n + 1 the overflow.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from uproot.writing.identify import to_TAxis

from .errors import TaumlError


def check_edges(values: Iterable[float], what: str) -> tuple[float, ...]:
    """``values`` as bin edges: at least two, finite, strictly increasing; TaumlError naming ``what`` if not."""
    try:
        edges = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise TaumlError(f"{what}: bin edges must be numbers, got {values!r}") from None
    if len(edges) < 2 or not all(math.isfinite(e) for e in edges) or any(b <= a for a, b in zip(edges, edges[1:])):
        raise TaumlError(f"{what}: need at least 2 finite, strictly increasing bin edges, got {list(edges)}")
    return edges


@dataclass(frozen=True, eq=False)
class Axis:
    """Edges of a regular (``uniform``: n equal bins from lo to hi, a TH1's) or variable binning. ``name`` is
    the axis title in ROOT output, ``labels`` maps a bin's low edge (an integer value) to a display name."""

    edges: np.ndarray
    uniform: bool = False
    name: str = ""
    labels: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def regular(cls, n: int, lo: float, hi: float, name: str = "", labels: Mapping[int, str] | None = None) -> Axis:
        if n < 1 or not lo < hi:
            raise TaumlError(f"bad histogram binning '{n}, {lo}, {hi}': need n >= 1 and min < max")
        return cls(np.linspace(lo, hi, n + 1), True, name, labels or {})

    @classmethod
    def variable(cls, edges, name: str = "", what: str = "bins") -> Axis:
        return cls(np.asarray(check_edges(edges, what), np.float64), False, name)

    @property
    def n(self) -> int:
        return self.edges.size - 1

    @property
    def lo(self) -> float:
        return float(self.edges[0])

    @property
    def hi(self) -> float:
        return float(self.edges[-1])

    def index(self, values) -> np.ndarray:
        """ROOT's FindBin, vectorised: the bin (0 .. n + 1) of each value; NaN goes to the overflow."""
        values = np.asarray(values)
        n, lo, hi = self.n, self.lo, self.hi
        if not self.uniform:
            idx = np.searchsorted(self.edges, values, side="right")
            return np.where(np.isnan(values), n + 1, idx).astype(np.int64) if values.dtype.kind == "f" else idx
        if values.dtype.kind in "iu" and hi - lo == n and lo.is_integer():
            return np.clip(values.astype(np.int64) - int(lo), -1, n) + 1  # unit bins of integers
        pos = values.astype(np.float64)
        pos -= lo
        pos *= n
        pos /= hi - lo
        np.floor(pos, out=pos)
        np.clip(pos, -1, n, out=pos)
        np.nan_to_num(pos, copy=False, nan=n)
        return pos.astype(np.int64) + 1

    def bin_value(self, b: int) -> str:
        """Bin ``b``'s low edge as text (``20``, ``0.5``): the original's directory names in validation."""
        low = float(self.edges[b - 1])
        return str(int(low)) if low.is_integer() else f"{low:g}"

    def bin_label(self, b: int) -> str:
        value = self.bin_value(b)
        name = self.labels.get(int(float(value))) if float(value).is_integer() else None
        return name or value

    def to_root(self, name: str, title: str | None = None):
        """uproot's TAxis model (title defaults to the axis name)."""
        title = self.name if title is None else title
        if self.uniform:
            return to_TAxis(name, title, self.n, self.lo, self.hi)
        return to_TAxis(name, title, self.n, self.lo, self.hi, fXbins=self.edges.astype(np.float64))
