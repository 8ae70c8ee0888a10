"""Outputs of validation_tool: pvalues.json, histograms.root, plots, summary.txt and summary.json.

All of them are written into a temporary sibling of the output directory, renamed at the end.
"""
from __future__ import annotations

import json
import multiprocessing
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import uproot
from uproot.writing import identify

from ..core.axis import Axis
from ..core.children import die_with_parent
from ..core.errors import TaumlError
from ..core.io import atomic_path
from .compare import Comparison, Report
from .summary import SUMMARY_JSON, SUMMARY_TXT, summary_json, summary_lines

PVALUES_JSON = "pvalues.json"
HISTOGRAMS_ROOT = "histograms.root"
DEFAULT_FORMATS = ("pdf", "png")
FORMATS = ("pdf", "png", "svg", "eps")


def pvalues_tree(comparisons: list[Comparison]) -> dict:
    """``{"tauType": {"pvalues": [...], "2": {"tau_pt": {"pvalues": [...]}}}, ...}`` as the original."""
    tree: dict = {}
    for c in comparisons:
        node = tree
        for part in c.path.split("/"):
            node = node.setdefault(part, {})
        node["pvalues"] = c.pvalues
    return tree


def th1d(name: str, title: str, axis: Axis, counts: np.ndarray):
    """A TH1D of raw counts (flow bins included, errors sqrt(n)), statistics filled from bin centres."""
    data = counts.astype(np.float64)
    inner = data[1:-1]
    edges = axis.edges
    centres = 0.5 * (edges[:-1] + edges[1:])
    return identify.to_TH1x(
        fName=name, fTitle=title, data=data, fEntries=float(data.sum()), fTsumw=float(inner.sum()),
        fTsumw2=float(inner.sum()), fTsumwx=float(inner @ centres), fTsumwx2=float(inner @ centres**2),
        fSumw2=data.copy(), fXaxis=axis.to_root("xaxis"),
    )


def write_histograms(path: Path, comparisons: list[Comparison]) -> None:
    with uproot.recreate(path) as f:
        for c in comparisons:
            for i, counts in enumerate(c.counts):
                f[f"{c.path}/chunk_{i}"] = th1d(f"chunk_{i}", c.path, c.axis, counts)


def passed(report: Report, threshold: float) -> bool:
    return not any(c.failing(threshold) for c in report.comparisons)


def _check_replaceable(output: Path, formats) -> None:
    """An existing output directory is replaced only if it holds nothing but a previous run's outputs."""
    if not output.exists():
        return
    if not output.is_dir():
        raise TaumlError(f"{output}: --output exists and is not a directory")
    ours = {PVALUES_JSON, HISTOGRAMS_ROOT, SUMMARY_TXT, SUMMARY_JSON, *DEFAULT_FORMATS, *formats}
    foreign = sorted(p.name for p in output.iterdir() if p.name not in ours)
    if foreign:
        raise TaumlError(f"{output}: --output holds files that are not validation outputs "
                         f"({', '.join(foreign[:5])}); refusing to replace it")


def write_plots(report: Report, out_dir: Path, threshold: float, formats, legend: bool, n_procs: int = 1,
                progress: bool = True) -> None:
    """One figure per test path; ``n_procs`` processes draw them in parallel (matplotlib is single-threaded)."""
    from .plots import plot_comparison  # matplotlib (~0.7 s to import) only for a run that draws plots

    for fmt in formats:
        (out_dir / fmt).mkdir()
    draw = partial(plot_comparison, out_dir=out_dir, formats=formats, threshold=threshold, test=report.test,
                   reference=report.reference, legend=legend)
    n = len(report.comparisons)
    pool = (ProcessPoolExecutor(n_procs, mp_context=multiprocessing.get_context("fork"), initializer=die_with_parent)
            if n_procs > 1 else None)
    try:
        done = pool.map(draw, report.comparisons, chunksize=4) if pool else map(draw, report.comparisons)
        for i, _ in enumerate(done, 1):
            if progress and (i % 50 == 0 or i == n):
                print(f"validation_tool: plotted {i}/{n} tests", file=sys.stderr)
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)


def write_outputs(report: Report, output, threshold: float, formats=DEFAULT_FORMATS, legend: bool = False,
                  n_procs: int = 1, progress: bool = True, pvthreshold: float | None = None,
                  correction: str = "none") -> None:
    output = Path(output)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise TaumlError(f"--formats: choose from {', '.join(FORMATS)} or none (got {', '.join(formats)})")
    _check_replaceable(output, formats)
    with atomic_path(output) as tmp:
        tmp.mkdir()
        with open(tmp / PVALUES_JSON, "w") as f:
            json.dump(pvalues_tree(report.comparisons), f, indent=4)
        (tmp / SUMMARY_TXT).write_text("\n".join(summary_lines(report, threshold, titles=True)) + "\n")
        summary = summary_json(report, threshold, threshold if pvthreshold is None else pvthreshold, correction)
        (tmp / SUMMARY_JSON).write_text(json.dumps(summary, indent=2) + "\n")
        write_histograms(tmp / HISTOGRAMS_ROOT, report.comparisons)
        write_plots(report, tmp, threshold, formats, legend, n_procs, progress)
        if output.exists():
            shutil.rmtree(output)
