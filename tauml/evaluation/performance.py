"""evaluate_performance: D_k = p_tau / (p_tau + p_k) of DeepTau (and a previous DeepTau, the MVA-like
baseline, the tuple's legacy IDs) on genuine τh against one other type, weighted ROC curves and working
points per pt bin, one PDF page and one PNG per bin, optionally the curves as JSON."""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_pdf import PdfPages

from ..core.errors import TaumlError
from ..core.io import atomic_path
from ..core.schema import TauType
from . import plots
from .plot_setup import Setup, load_setup
from .roc import Curve, roc_curve, working_points
from .tables import Table, discriminator, read_predictions, read_weights

MARKER_SIZE = 5
MIN_ENTRIES = 2  # per class and pt bin for a curve


@dataclass
class Source:
    """A set of 4-class predictions drawn as one discriminator."""
    label: str
    directory: str
    color: str
    is_ref: bool = False
    working_points: dict[str, float] | None = None  # thresholds on D_k
    draw_wp: bool = True


@dataclass
class Sample:
    """The selected rows of both input files: τh (is_tau) and the other type."""
    is_tau: np.ndarray
    pt: np.ndarray
    weight: np.ndarray
    scores: dict[str, np.ndarray]  # per source label: D_k
    columns: dict[str, np.ndarray]  # legacy ID columns present in both files


def _legacy_columns(setup: Setup) -> list[str]:
    names = [c for d in setup.legacy() for c in (d.get("raw"), d.get("wp_column")) if c]
    if setup.options["apply_legacy_cuts"]:
        names += [column for column, _ in setup.data["legacy_cuts"].get(setup.other_type, [])]
    return list(dict.fromkeys(names))


def _select_file(path, wanted: int, setup: Setup, sources: list[Source], weights_dir, tree: str) -> dict:
    table = Table(path, tree)
    try:
        if table.n == 0:
            raise TaumlError(f"{path}: no entries in '{tree}'")
        labels = table.labels()
        base = table.read(["tau_pt"] + [c for c in ("tau_decayMode", "tau_index") if c in table.columns])
        pt = base["tau_pt"].astype(np.float64)
        keep = (labels == wanted) & np.isfinite(pt) & (pt > 0)
        if "tau_index" in base:
            keep &= base["tau_index"] >= 0
        if setup.options["apply_dm_cuts"] and "tau_decayMode" in base:
            keep &= ~np.isin(base["tau_decayMode"], setup.data["removed_decay_modes"])
        probs = {s.label: read_predictions(s.directory, path, table.n, tree) for s in sources}
        weight = read_weights(weights_dir, path, table.n, tree)
        columns = table.read([c for c in _legacy_columns(setup) if c in table.columns])
    finally:
        table.close()
    if setup.options["apply_deep_cuts"] and sources:
        ref = probs[sources[-1].label]
        for k, wp in setup.data["deep_cuts"].get(setup.other_type, {}).items():
            keep &= discriminator(ref, k) > setup.data["deep_working_points"][k][wp]
    if setup.options["apply_legacy_cuts"]:
        for column, bit in setup.data["legacy_cuts"].get(setup.other_type, []):
            if column in columns:
                keep &= (columns[column].astype(np.int64) & (1 << int(bit))) != 0
    return {
        "n": int(keep.sum()), "pt": pt[keep], "weight": weight[keep],
        "scores": {label: discriminator(p[keep], setup.other_type) for label, p in probs.items()},
        "columns": {k: v[keep] for k, v in columns.items()},
    }


def load_sample(input_taus, input_other, setup: Setup, sources: list[Source], weights_dir, tree: str) -> Sample:
    taus = _select_file(input_taus, TauType.tau, setup, sources, weights_dir, tree)
    other = _select_file(input_other or input_taus, TauType[setup.other_type], setup, sources, weights_dir, tree)
    if taus["n"] == 0:
        raise TaumlError(f"{input_taus}: no genuine tau_h passes the selection")
    if other["n"] == 0:
        raise TaumlError(f"{input_other or input_taus}: no '{setup.other_type}' passes the selection")
    common = sorted(set(taus["columns"]) & set(other["columns"]))
    return Sample(
        is_tau=np.concatenate([np.ones(taus["n"], bool), np.zeros(other["n"], bool)]),
        pt=np.concatenate([taus["pt"], other["pt"]]),
        weight=np.concatenate([taus["weight"], other["weight"]]),
        scores={k: np.concatenate([taus["scores"][k], other["scores"][k]]) for k in taus["scores"]},
        columns={k: np.concatenate([taus["columns"][k], other["columns"][k]]) for k in common},
    )


def _usable_legacy(setup: Setup, sample: Sample) -> list[dict]:
    """Legacy IDs whose columns exist in both files and take more than one value (are filled)."""
    usable = []
    for d in setup.legacy():
        needed = [c for c in (d.get("raw"), d.get("wp_column")) if c]
        absent = [c for c in needed if c not in sample.columns]
        constant = [c for c in needed if c in sample.columns and np.unique(sample.columns[c]).size < 2]
        if absent or constant:
            why = f"missing {', '.join(absent)}" if absent else f"{', '.join(constant)} not filled"
            print(f"evaluate_performance: skipping '{d['name']}' ({why})")
            continue
        usable.append(d)
    return usable


def bin_curves(sample: Sample, sel: np.ndarray, setup: Setup, legacy: list[dict], sources: list[Source],
               lo: float, hi: float) -> list[Curve]:
    """Curves of one pt bin, in drawing order: legacy IDs, then the sources (the reference last)."""
    is_tau, weight = sample.is_tau[sel], sample.weight[sel]
    if min(is_tau.sum(), (~is_tau).sum()) < MIN_ENTRIES or weight[is_tau].sum() <= 0 or weight[~is_tau].sum() <= 0:
        print(f"evaluate_performance: [{lo:g}, {hi:g}] too few entries ({is_tau.sum()} tau_h, "
              f"{(~is_tau).sum()} {setup.other_type})")
        return []
    curves = []

    def add(name, color, score, passes, dashed=False, is_ref=False):
        if score is not None:
            fpr, tpr, thr, auc = roc_curve(is_tau, score, weight)
            print(f"[{lo:g}, {hi:g}] {name} roc_auc = {auc:.6f}")
            curves.append(Curve(name, color, fpr, tpr, thr, auc, dashed=dashed, is_ref=is_ref))
        if passes:
            wp = working_points(f"{name} WP", color, is_tau, weight, passes)
            wp.legend, wp.is_ref = score is None, is_ref
            curves.append(wp)

    bits = setup.data["wp_bits"]
    for d in legacy:
        score = sample.columns[d["raw"]][sel].astype(np.float64) * d.get("sign", 1) if d.get("raw") else None
        mask = sample.columns[d["wp_column"]][sel].astype(np.int64) if d.get("wp_column") else None
        passes = {wp: (mask & (1 << bits[wp])) != 0 for wp in d.get("working_points", [])} if mask is not None else {}
        add(d["name"], d["color"], score, passes, dashed=d.get("dashed", False))
    for s in sources:
        score = sample.scores[s.label][sel]
        passes = {wp: score > thr for wp, thr in (s.working_points or {}).items()} if s.draw_wp else {}
        add(s.label, s.color, score, passes, is_ref=s.is_ref)
    return curves


def _floats(values) -> list[float]:
    return [float(f"{v:.4e}") for v in np.asarray(values, np.float64)]


def curve_json(c: Curve) -> dict:
    entry = {
        "name": c.name, "false_positive_rate": _floats(c.fpr), "true_positive_rate": _floats(c.tpr),
        "thresholds": _floats(c.thresholds) if c.thresholds is not None else [],
        "is_ref": c.is_ref, "color": c.color, "auc_score": float(f"{c.auc:.4e}") if c.auc is not None else None,
        "dots_only": c.dots_only, "dashed": c.dashed, "marker_size": MARKER_SIZE if c.dots_only else 0,
    }
    if c.wp_names:
        entry["working_points"] = c.wp_names
    if c.fpr_err is not None:
        entry.update(false_positive_rate_down=_floats(c.fpr_err[0]), false_positive_rate_up=_floats(c.fpr_err[1]),
                     true_positive_rate_down=_floats(c.tpr_err[0]), true_positive_rate_up=_floats(c.tpr_err[1]))
    return entry


def bin_json(lo, hi, text, setup: Setup, plot: dict, curves: list[Curve]) -> dict:
    return {
        "pt_min": lo, "pt_max": hi, "pt_text": text, "period": setup.period,
        "plot_setup": {
            "ylabel": plot["ylabel"], "yscale": plot["yscale"], "ratio_yscale": plot["ratio_yscale"],
            "legend_loc": plot["legend_loc"], "ratio_ylabel_pad": plot["ratio_ylabel_pad"],
            "xmin": plot["x"][0], "xmax": plot["x"][1], "ymin": plot["y"][0], "ymax": plot["y"][1],
            "ratio_ymin": plot["ratio_y"][0], "ratio_ymax": plot["ratio_y"][1], "ratio_title": plot["ratio_title"],
        },
        "discriminators": [curve_json(c) for c in curves],
    }


def output_paths(output) -> tuple[Path, Path]:
    """(pdf, json) for ``--output OUT.pdf``; the PNGs are OUT_pt_<lo>_<hi>.png next to them."""
    pdf = Path(output)
    if pdf.suffix.lower() != ".pdf":
        raise TaumlError(f"{output}: --output must be a .pdf file")
    return pdf, pdf.with_suffix(".json")


def png_path(pdf: Path, lo: float, hi: float) -> Path:
    return pdf.with_name(f"{pdf.stem}_pt_{lo:g}_{hi:g}.png")


def evaluate(input_taus, input_other, other_type: str, deep_results, output, *, deep_label="DeepTau",
             prev_deep_results=None, prev_deep_label="DeepTau (previous)", mva_results=None, mva_label="BDT",
             mva_working_points=None,
             setup="run2", setup_args=None, weights=None, draw_wp=False, store_json=False, public_plots=False,
             inequality_in_title=False, tree="taus") -> list[dict]:
    """Write the PDF (one page per pt bin), the PNGs and, with ``store_json``, the JSON; return the bins."""
    s = load_setup(setup, other_type, setup_args)
    pdf_path, json_path = output_paths(output)
    type_text = "vs. " + {"e": "e", "mu": "mu", "jet": "jet"}[other_type]
    sources = []
    if mva_results is not None:
        sources.append(Source(mva_label, mva_results, s.data["mva_color"],
                              working_points=_mva_working_points(mva_working_points, other_type)))
    if prev_deep_results is not None:
        sources.append(Source(prev_deep_label, prev_deep_results, s.data["prev_deep_color"], draw_wp=False))
    sources.append(Source(f"{deep_label} {type_text}", deep_results, s.data["deep_color"], is_ref=True,
                          working_points=s.deep_working_points, draw_wp=draw_wp))
    sample = load_sample(input_taus, input_other, s, sources, weights, tree)
    legacy = _usable_legacy(s, sample)
    edges = s.pt_bins
    bins = []
    with contextlib.ExitStack() as outputs:
        pdf_tmp = outputs.enter_context(atomic_path(pdf_path))
        json_tmp = outputs.enter_context(atomic_path(json_path)) if store_json else None
        with PdfPages(pdf_tmp, metadata={"CreationDate": None, "ModDate": None}) as pdf:
            for i, (lo, hi) in enumerate(zip(edges, edges[1:])):
                sel = (sample.pt > lo) & (sample.pt < hi)
                curves = bin_curves(sample, sel, s, legacy, sources, lo, hi)
                plot = s.plot(i)
                text = plots.pt_text(lo, hi, inequality_in_title, i == len(edges) - 2)
                fig = plots.draw_page(curves, plot, other_type, lo, hi, text, s.period, public_plots)
                pdf.savefig(fig)
                fig.savefig(outputs.enter_context(atomic_path(png_path(pdf_path, lo, hi))), format="png", dpi=100)
                plt.close(fig)
                bins.append(bin_json(lo, hi, text, s, plot, curves))
        if json_tmp is not None:
            json_tmp.write_text(json.dumps(bins, indent=1) + "\n")
    return bins


def _mva_working_points(path, other_type: str) -> dict[str, float]:
    """Thresholds on D_k of the MVA baseline's working points (baseline_bdt train), loosest first."""
    if path is None:
        return {}
    try:
        return {k: float(v) for k, v in json.loads(Path(path).read_text())[other_type].items()}
    except OSError as err:
        raise TaumlError(f"{path}: cannot read the working points ({err})") from err
    except (ValueError, KeyError, AttributeError, TypeError) as err:
        raise TaumlError(f"{path}: not a working-point JSON with '{other_type}' ({err})") from err
