"""Drawing one ROC page per pt bin: mis-id probability against τh efficiency (log y) over the ratio to the
reference DeepTau, 7×7 in, main:ratio 3:1, shared x, mplhep's CMS style."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import mplhep  # noqa: E402
import numpy as np  # noqa: E402

from .roc import Curve, ratio_to  # noqa: E402

STYLE = {**mplhep.style.CMS, "font.size": 14, "legend.fontsize": 10, "xtick.labelsize": 12,
         "ytick.labelsize": 12, "axes.labelsize": 14, "figure.figsize": (7, 7),
         "mathtext.fontset": "dejavusans"}  # the style's TeX Gyre fonts are not installed everywhere
TYPE_TEXT = {"e": "e", "mu": r"$\mu$", "jet": "jet"}


def pt_text(lo: float, hi: float, inequality: bool, last: bool) -> str:
    if inequality and last:
        return rf"$p_T > {lo:g}$ GeV"
    if inequality:
        return rf"${lo:g} < p_T < {hi:g}$ GeV"
    return rf"$p_T \in ({lo:g}, {hi:g})$ GeV"


def draw_page(curves: list[Curve], plot: dict, other_type: str, lo: float, hi: float, text: str, period: str,
              public: bool) -> plt.Figure:
    """One figure: curves (the reference last), its settings ``plot`` (Setup.plot), labels."""
    with plt.style.context(STYLE):
        fig = plt.figure(figsize=(7, 7))
        grid = fig.add_gridspec(2, 1, height_ratios=[3, 1], hspace=0)
        ax = fig.add_subplot(grid[0])
        ax_ratio = fig.add_subplot(grid[1], sharex=ax)
        ref = next((c for c in curves if c.is_ref and not c.dots_only), None)
        x_range = plot["x"][1] - plot["x"][0]
        for c in curves:
            _draw_curve(ax, c)
            if ref is not None and c is not ref and not c.dots_only and len(c.tpr) > 1:
                tpr, ratio = ratio_to(c, ref, x_range)
                ax_ratio.plot(tpr, ratio, color=c.color, linestyle="--" if c.dashed else "-", linewidth=1.5)
        if ref is not None:
            ax_ratio.axhline(1.0, color=ref.color, linewidth=1.5)
        ax.set_yscale(plot["yscale"])
        ax.set_xlim(*plot["x"])
        ax.set_ylim(*plot["y"])
        ax.set_ylabel(plot["ylabel"])
        ax.grid(True, which="major", alpha=0.5)
        ax.tick_params(labelbottom=False)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc=plot["legend_loc"], frameon=False)
        ax_ratio.set_yscale(plot["ratio_yscale"])
        ax_ratio.set_ylim(*plot["ratio_y"])
        ax_ratio.set_xlabel("Tau ID efficiency")
        ax_ratio.set_ylabel(plot["ratio_title"], labelpad=plot["ratio_ylabel_pad"] / 2)
        ax_ratio.grid(True, which="major", alpha=0.5)
        if public:
            mplhep.cms.label("Preliminary", data=False, rlabel=period, ax=ax, loc=0, fontsize=14)
            ax.text(0.97, 0.04, text, transform=ax.transAxes, ha="right", va="bottom")
        else:
            ax.set_title(f"tau vs {other_type}. pt range ({lo:g}, {hi:g}) GeV", fontsize=14)
        if not curves:
            ax.text(0.5, 0.5, "too few taus or other objects in this bin", transform=ax.transAxes,
                    ha="center", va="center")
        fig.subplots_adjust(left=0.15, right=0.96, bottom=0.1, top=0.93)
    return fig


def _draw_curve(ax, c: Curve) -> None:
    label = c.name if c.auc is None else f"{c.name} (AUC {c.auc:.3f})"
    if not c.dots_only:
        ax.plot(c.tpr, c.fpr, color=c.color, linestyle="--" if c.dashed else "-", linewidth=1.5, label=label)
        return
    shown = np.isfinite(c.tpr) & np.isfinite(c.fpr) & (c.fpr > 0)
    errors = {} if c.fpr_err is None else {"xerr": c.tpr_err[:, shown], "yerr": c.fpr_err[:, shown]}
    ax.errorbar(c.tpr[shown], c.fpr[shown], color=c.color, marker="o", markersize=4, linestyle="none",
                label=label if c.legend else None, **errors)
