"""Plots of validation_tool: per test path, the chunks' distributions and their p-values.

Left: each chunk's normalised distribution (colour = chunk index, failing chunks in red) over the reference
(black points with statistical errors). Middle: p-value of each chunk against the threshold. Right: the
p-value distribution, flat for a good mix.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from .compare import EMPTY_PVALUE, Comparison  # noqa: E402

AXIS_TITLES = {
    "tau_pt": r"$p_\mathrm{T}^{\tau}$ [GeV]", "tau_eta": r"$\eta^{\tau}$", "tauType": "tau type",
    "sampleType": "sample type", "uh_dataset_group_id": "dataset group", "uh_dataset_id": "dataset",
}
P_FLOOR = 1e-12  # p-values below are drawn at the floor of the log axis
MAX_LEGEND_CHUNKS = 8


def file_stem(path: str) -> str:
    return path.replace("/", "_")


def plot_comparison(c: Comparison, out_dir: Path, formats, threshold: float, test: str, reference: str,
                    legend: bool) -> None:
    fig = plt.figure(figsize=(15, 5.5))
    grid = fig.add_gridspec(2, 3, width_ratios=[3, 2, 1.2], height_ratios=[3, 1], hspace=0.05)
    ax_d, ax_r = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0])
    ax_p, ax_h = fig.add_subplot(grid[:, 1]), fig.add_subplot(grid[:, 2])
    failing = c.failing(threshold)
    _draw_distributions(ax_d, ax_r, c, failing, reference, legend)
    _draw_pvalues(ax_p, c, failing, threshold, legend)
    _draw_pvalue_histogram(ax_h, c)
    ref_text = "chunk 0" if reference == "first" else "sum of all other chunks"
    verdict = f"FAIL: {len(failing)}/{len(c.compared())} chunks with p < {threshold:.3g}" if failing else "PASS"
    fig.suptitle(f"{c.title or c.path}    {test} test, reference: {ref_text}    {verdict}",
                 color="tab:red" if failing else "black")
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.11, top=0.91, wspace=0.36)
    for fmt in formats:
        fig.savefig(out_dir / fmt / f"{file_stem(c.path)}.{fmt}", dpi=100)
    plt.close(fig)


def _filled_range(counts: np.ndarray) -> tuple[int, int]:
    """First and one-past-last bin with entries in any chunk."""
    filled = np.flatnonzero(counts.sum(0))
    return (int(filled[0]), int(filled[-1]) + 1) if len(filled) else (0, counts.shape[1])


def _steps(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Step-line segments (one row per histogram) for a LineCollection."""
    x = np.repeat(edges, 2)[1:-1]
    return np.stack([np.broadcast_to(x, (len(values), len(x))), np.repeat(values, 2, axis=1)], axis=-1)


def _draw_distributions(ax, ax_ratio, c: Comparison, failing: list[int], reference: str, legend: bool) -> None:
    lo, hi = _filled_range(c.counts[:, 1:-1])
    inner = c.counts[:, 1:-1][:, lo:hi].astype(np.float64)
    edges = c.axis.edges[lo:hi + 1]
    sums = inner.sum(1)
    ok = np.flatnonzero(sums > 0)
    frac = inner[ok] / sums[ok, None]
    ref = inner[0] if reference == "first" else inner.sum(0)
    ref_frac = ref / max(ref.sum(), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ref_frac > 0, frac / ref_frac, np.nan)
    for axis, values in ((ax, frac), (ax_ratio, ratio)):
        lines = LineCollection(_steps(edges, values), cmap="viridis", linewidths=0.7, alpha=0.55)
        lines.set_array(ok.astype(float))
        lines.set_clim(0, len(c.counts) - 1)
        axis.add_collection(lines)
    colour_bar = ax.figure.colorbar(lines, cax=ax.inset_axes([1.01, 0.0, 0.015, 1.0]))
    colour_bar.ax.set_title("chunk", fontsize="small")
    for i in failing[:MAX_LEGEND_CHUNKS]:
        f_i = inner[i] / max(sums[i], 1)
        ax.stairs(f_i, edges, color="tab:red", linewidth=1.3, baseline=None,
                  label=f"chunk {i}: p = {c.pvalues[i]:.2g}")
        with np.errstate(divide="ignore", invalid="ignore"):
            ax_ratio.stairs(np.where(ref_frac > 0, f_i / ref_frac, np.nan), edges, color="tab:red", linewidth=1.3,
                             baseline=None)
    centres = 0.5 * (edges[:-1] + edges[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_err = np.where(ref > 0, 1 / np.sqrt(ref), np.nan)
    ax.errorbar(centres, ref_frac, yerr=ref_frac * np.nan_to_num(rel_err), fmt="o", ms=3, color="black",
                label="chunk 0" if reference == "first" else "all chunks")
    ax_ratio.fill_between(edges, np.append(1 - rel_err, 1 - rel_err[-1]), np.append(1 + rel_err, 1 + rel_err[-1]),
                          step="post", color="grey", alpha=0.3, linewidth=0)
    ax_ratio.axhline(1, color="black", linewidth=0.8)
    for axis in (ax, ax_ratio):
        axis.set_xlim(edges[0], edges[-1])
        axis.autoscale_view(scalex=False)
    if c.axis.name == "tau_pt":
        ax.set_yscale("log")
    ax.set_ylabel("fraction of the chunk's entries")
    ax.tick_params(labelbottom=False)
    ax_ratio.set_ylabel("chunk / ref.")
    ax_ratio.set_xlabel(AXIS_TITLES.get(c.axis.name, c.axis.name))
    if c.axis.labels:
        ax_ratio.set_xticks(centres)
        ax_ratio.set_xticklabels([c.axis.bin_label(b) for b in range(lo + 1, hi + 1)],
                                 rotation=90 if hi - lo > 6 else 0, fontsize="small")
    if legend:
        if len(failing) > MAX_LEGEND_CHUNKS:
            ax.plot([], [], " ", label=f"+{len(failing) - MAX_LEGEND_CHUNKS} more failing chunks")
        ax.legend(fontsize="small", loc="best")


def _draw_pvalues(ax, c: Comparison, failing: list[int], threshold: float, legend: bool) -> None:
    compared = c.compared()  # the reference chunk is not compared with itself
    chunks = np.array([i for i, _ in compared], np.int64)
    p = np.array([v for _, v in compared], np.float64)
    empty = p == EMPTY_PVALUE
    shown = np.clip(np.where(empty, 1.0, p), P_FLOOR, 1.0)
    bad = np.isin(chunks, failing)
    good = ~bad & ~empty
    ax.scatter(chunks[good], shown[good], s=10, color="tab:blue", label="p-value")
    ax.scatter(chunks[bad], shown[bad], s=14, color="tab:red", label=f"p < {threshold:.3g}")
    if empty.any():
        ax.scatter(chunks[empty], shown[empty], s=14, marker="x", color="grey", label="empty (p = 99)")
    ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {threshold:.3g}")
    ax.set_yscale("log")
    ax.set_ylim(max(P_FLOOR, min(shown.min(initial=1.0), threshold) / 3), 1.5)
    ax.set_xlim(-1, len(c.pvalues))
    ax.set_xlabel("chunk index (entry order)")
    ax.set_ylabel("p-value against the reference" + (f" (< {P_FLOOR:g} drawn at {P_FLOOR:g})"
                                                        if (p < P_FLOOR).any() else ""))
    if legend:
        ax.legend(fontsize="small", loc="best")


def _draw_pvalue_histogram(ax, c: Comparison) -> None:
    p = np.asarray([v for _, v in c.compared() if v != EMPTY_PVALUE])
    ax.hist(p, bins=10, range=(0, 1), color="tab:blue", alpha=0.7)
    if len(p):
        ax.axhline(len(p) / 10, color="black", linestyle=":", linewidth=1)
    ax.set_xlabel("p-value")
    ax.set_ylabel("chunks (flat if well mixed)")
