"""Weighted ROC curves, AUC, working-point efficiencies with Clopper–Pearson intervals, and the ratio to a
reference curve. x = τh efficiency (true-positive rate), y = mis-id probability (false-positive rate)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats
from sklearn import metrics

CONFIDENCE = 0.6827  # one standard deviation


@dataclass
class Curve:
    """One discriminator in one pt bin: a line (raw score), points (working points), or both."""
    name: str
    color: str
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray | None = None
    auc: float | None = None
    dots_only: bool = False
    dashed: bool = False
    is_ref: bool = False
    # (down, up) distances from the point, only for working points
    fpr_err: np.ndarray | None = None
    tpr_err: np.ndarray | None = None
    wp_names: list[str] = field(default_factory=list)
    legend: bool = True  # False for the working points of a discriminator whose line is drawn too


def roc_curve(is_tau: np.ndarray, score: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, ...]:
    """(fpr, tpr, thresholds, auc) of a score that is higher for τh, with per-entry weights."""
    fpr, tpr, thr = metrics.roc_curve(is_tau, score, sample_weight=weight)
    auc = float(metrics.roc_auc_score(is_tau, score, sample_weight=weight))
    return fpr, tpr, thr, auc


def clopper_pearson(passed: np.ndarray, total: np.ndarray, cl: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Central Clopper–Pearson interval (low, high) of passed/total; counts may be non-integer (effective)."""
    passed, total = np.asarray(passed, float), np.asarray(total, float)
    alpha = 1 - cl
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(passed > 0, stats.beta.ppf(alpha / 2, passed, total - passed + 1), 0.0)
        high = np.where(passed < total, stats.beta.ppf(1 - alpha / 2, passed + 1, total - passed), 1.0)
    return np.nan_to_num(low), np.nan_to_num(high, nan=1.0)


def weighted_efficiency(passed: np.ndarray, weight: np.ndarray) -> tuple[float, float, float]:
    """(efficiency, error down, error up): weighted pass fraction, Clopper–Pearson on effective counts.

    With weights the binomial counts are the effective ones, n_eff = (Σw)² / Σw², k_eff = eff · n_eff;
    with unit weights this is the usual interval on (passed, total).
    """
    total = float(weight.sum())
    if total <= 0:
        return float("nan"), 0.0, 0.0
    eff = float(weight[passed].sum()) / total
    n_eff = total**2 / float((weight**2).sum())
    low, high = clopper_pearson(eff * n_eff, n_eff)
    return eff, eff - float(low), float(high) - eff


def working_points(name: str, color: str, is_tau: np.ndarray, weight: np.ndarray,
                   passes: dict[str, np.ndarray], dots_only: bool = True) -> Curve:
    """Points of a discriminator's working points, loosest first: passes maps WP name -> boolean mask."""
    effs = {kind: [weighted_efficiency(mask[sel], weight[sel]) for mask in passes.values()]
            for kind, sel in (("tau", is_tau), ("other", ~is_tau))}
    tau, other = np.array(effs["tau"]).reshape(-1, 3), np.array(effs["other"]).reshape(-1, 3)
    return Curve(name, color, fpr=other[:, 0], tpr=tau[:, 0], dots_only=dots_only,
                 fpr_err=other[:, 1:].T, tpr_err=tau[:, 1:].T, wp_names=list(passes))


def prune(curve: Curve, x_range: float) -> tuple[np.ndarray, np.ndarray]:
    """(tpr, fpr) with one point per TPR rounded to max(0, round(log10(1000 / x_range))) decimals, as the
    original does before taking ratios (the first point of each rounded TPR: its lowest mis-id)."""
    decimals = max(0, round(np.log10(1000 / x_range)))
    tpr, first = np.unique(np.round(curve.tpr, decimals), return_index=True)
    return tpr, curve.fpr[first]


def ratio_to(curve: Curve, ref: Curve, x_range: float) -> tuple[np.ndarray, np.ndarray]:
    """(tpr, fpr / fpr_ref) at the same TPR, the reference interpolated; points where fpr_ref = 0 dropped."""
    tpr, fpr = prune(curve, x_range)
    ref_tpr, ref_fpr = prune(ref, x_range)
    ref_at = np.interp(tpr, ref_tpr, ref_fpr)
    ok = (ref_at > 0) & (tpr >= ref_tpr[0]) & (tpr <= ref_tpr[-1])
    return tpr[ok], fpr[ok] / ref_at[ok]


def fpr_at_tpr(curve: Curve, target: float) -> float:
    """Mis-id probability of a curve at a τh efficiency (linear interpolation of the curve)."""
    order = np.argsort(curve.tpr, kind="stable")
    return float(np.interp(target, curve.tpr[order], curve.fpr[order]))
