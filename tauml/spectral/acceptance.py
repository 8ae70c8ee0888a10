"""Acceptance probabilities of ShuffleMergeSpectral (spec §5.3-5.4): flatten each (|eta|, pt) spectrum,
then balance the tau types to the --tau-ratio proportions."""
from __future__ import annotations

import sys
from collections.abc import Mapping

import numpy as np

from ..core.errors import TaumlError
from ..core.schema import TauType

TAKE_ALL = -1.0


def parse_tau_ratio(text: str) -> dict[int, float]:
    """``"jet:1, e:1, mu:1, tau:1"`` -> {TauType: ratio}; -1 takes every entry of that type."""
    ratios: dict[int, float] = {}
    for item in text.replace(",", " ").split():
        name, sep, value = item.partition(":")
        if not sep or name not in TauType.__members__:
            raise TaumlError(f"--tau-ratio '{text}': expected '<type>:<ratio>' items with types "
                             f"{', '.join(TauType.__members__)}, got '{item}'")
        try:
            r = float(value)
        except ValueError:
            raise TaumlError(f"--tau-ratio '{text}': '{value}' is not a number") from None
        if not (r >= 0 or r == TAKE_ALL) or not np.isfinite(r):
            raise TaumlError(f"--tau-ratio: ratio of '{name}' must be >= 0 or -1 (take all), got {value}")
        if TauType[name] in ratios:
            raise TaumlError(f"--tau-ratio: type '{name}' given twice")
        ratios[int(TauType[name])] = r
    if not ratios:
        raise TaumlError("--tau-ratio is empty")
    return ratios


def bin_acceptance(counts: np.ndarray, eta_edges, pt_edges, where: str, takeall: bool = False,
                   disbalance: float = 1.0, enable_emptybin: bool = False) -> np.ndarray:
    """Acceptance ``P[ix, iy]`` that makes the accepted spectrum flat.

    Without takeall every bin yields about ``min_b N_b`` entries (``P_b = min N / N_b``). With takeall the last
    pt bin is taken whole and the other bins are scaled down so that together they yield at most
    ``disbalance * N_last`` entries.
    """
    counts = np.asarray(counts, np.float64)
    P = np.zeros_like(counts)
    flat = counts[:, :-1] if takeall else counts
    if flat.size:
        empty = np.argwhere(flat <= 0)
        if empty.size and not enable_emptybin:
            ix, iy = empty[0]
            raise TaumlError(f"{where}: {len(empty)} empty bin(s), first |eta| [{eta_edges[ix]:g}, "
                             f"{eta_edges[ix + 1]:g}) pt [{pt_edges[iy]:g}, {pt_edges[iy + 1]:g}); "
                             "use --enable-emptybin to accept empty bins or choose coarser bins")
        filled = flat > 0
        if filled.any():
            n_min = flat[filled].min()
            P_flat = np.where(filled, n_min / np.where(filled, flat, 1.0), 0.0)
            if takeall:
                P_flat *= _disbalance_scale(counts, n_min, flat.size, where, disbalance, enable_emptybin)
            P[:, :flat.shape[1]] = P_flat
    if takeall:
        P[:, -1] = 1.0
    return P


def _disbalance_scale(counts, n_min, n_bins, where, disbalance, enable_emptybin) -> float:
    """s = min(1, disbalance * N_last * max P) with target 1/n_bins per bin, so Σ accepted(low pt) <= disbalance * N_last."""
    n_last = counts[:, -1].sum()
    if n_last <= 0:
        if not enable_emptybin:
            raise TaumlError(f"{where}: the last pt bin is empty, so --lastbin-takeall would reject every other "
                             "bin; use --enable-emptybin to flatten without the cap")
        print(f"warning: {where}: last pt bin empty; --lastbin-disbalance cap not applied", file=sys.stderr)
        return 1.0
    return min(1.0, disbalance * n_last / (n_bins * n_min))


def type_acceptance(ratios: Mapping[int, float], expected: Mapping[int, float]) -> dict[int, float]:
    """p_t so that accepted types follow the ratios: ``expected[t]`` = Σ_groups Σ_b N_b P_b of type t."""
    present = set(expected)
    missing = [TauType(t).name for t in ratios if t not in present]
    if missing:
        raise TaumlError(f"--tau-ratio lists type(s) {', '.join(missing)} that no data group provides")
    dropped = [TauType(t).name for t in sorted(present) if t not in ratios]
    if dropped:
        print(f"warning: type(s) {', '.join(dropped)} of the data groups are not in --tau-ratio and are not taken",
              file=sys.stderr)
    p: dict[int, float] = {t: 0.0 for t in present}
    for t, r in ratios.items():
        if r == TAKE_ALL:
            p[t] = 1.0
        elif r > 0:
            if expected[t] <= 0:
                raise TaumlError(f"--tau-ratio: type '{TauType(t).name}' has no entries in the chosen bins")
            p[t] = r / expected[t]
    scaled = [p[t] for t, r in ratios.items() if r > 0]
    top = max(scaled, default=0.0)
    for t, r in ratios.items():
        if r > 0:
            p[t] /= top
    return p
