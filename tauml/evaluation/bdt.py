"""baseline_bdt: the MVA-like baseline ID, a gradient-boosted-tree classifier (scikit-learn's
HistGradientBoostingClassifier) on high-level tau features, 4 classes [e, mu, tau, jet] as DeepTau.

``train`` fits it on training tuples and derives working points as the legacy MVA IDs had them: thresholds on
D_k at fixed genuine-τh efficiencies of the training taus. ``apply`` writes ``<stem>_pred.h5`` files in
DeepTau's format, so evaluate_performance reads both the same way.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from tqdm import tqdm

from ..core.errors import TaumlError
from ..core.io import atomic_path
from ..core.schema import branches
from .predictions import prediction_path, write_predictions
from .tables import CLASSES, Table, discriminator

# High-level reconstructed-tau quantities (isolation sums, impact parameters, secondary vertex, strip shapes):
# what the legacy MVA IDs were trained on, without the PF-candidate grids DeepTau adds.
FEATURES = (
    "tau_pt", "tau_eta", "tau_mass", "tau_charge", "tau_decayMode", "tau_chargedIsoPtSum",
    "tau_chargedIsoPtSumdR03", "tau_neutralIsoPtSum", "tau_neutralIsoPtSumdR03", "tau_neutralIsoPtSumWeight",
    "tau_footprintCorrection", "tau_photonPtSumOutsideSignalCone", "tau_puCorrPtSum", "tau_dxy", "tau_dxy_error",
    "tau_ip3d", "tau_ip3d_error", "tau_dz", "tau_hasSecondaryVertex", "tau_flightLength_sig",
    "tau_pt_weighted_deta_strip", "tau_pt_weighted_dphi_strip", "tau_pt_weighted_dr_signal",
    "tau_pt_weighted_dr_iso", "tau_leadingTrackNormChi2", "tau_e_ratio", "tau_gj_angle_diff", "tau_n_photons",
    "tau_emFraction", "tau_inside_ecal_crack", "tau_leadChargedCand_etaAtEcalEntrance",
)
# genuine-τh efficiency of each working point on the training taus (as the 2017v2 isolation MVA)
WP_EFFICIENCIES = {"VVLoose": 0.95, "VLoose": 0.90, "Loose": 0.80, "Medium": 0.70, "Tight": 0.60,
                   "VTight": 0.50, "VVTight": 0.40}
OTHER_TYPES = ("e", "mu", "jet")


def features(table: Table, names=FEATURES) -> tuple[np.ndarray, np.ndarray]:
    """(X, reco) of a file: float64 features with schema defaults as NaN (trees route missing values), and
    the mask of entries that hold a reconstructed tau."""
    cols = table.read(list(names) + [c for c in ("tau_index",) if c in table.columns])
    schema = branches()
    x = np.empty((table.n, len(names)))
    for j, name in enumerate(names):
        values = cols[name].astype(np.float64)
        default = schema[name].default if name in schema else None
        x[:, j] = np.where((values == default) | ~np.isfinite(values), np.nan, values)
    reco = np.isfinite(x[:, 0]) & (x[:, 0] > 0)
    if "tau_index" in cols:
        reco &= cols["tau_index"] >= 0
    return x, reco


def train(inputs: list[str], output, *, tree="taus", seed=0, max_iter=200, learning_rate=0.1, max_leaf_nodes=31,
          max_taus=None) -> dict:
    """Fit on the labelled reco taus of ``inputs``; write the model (pickle) and <output stem>_working_points.json."""
    xs, ys = [], []
    for path in tqdm(inputs, desc="baseline_bdt: reading", unit="file", disable=None):
        table = Table(path, tree)
        try:
            x, reco = features(table)
            labels = table.labels()
        finally:
            table.close()
        keep = reco & (labels >= 0) & (labels < len(CLASSES))
        xs.append(x[keep])
        ys.append(labels[keep])
    x, y = np.concatenate(xs), np.concatenate(ys)
    if max_taus is not None and len(y) > max_taus:
        x, y = x[:max_taus], y[:max_taus]
    counts = np.bincount(y, minlength=len(CLASSES))
    if (counts == 0).any():
        absent = [c for c, n in zip(CLASSES, counts) if n == 0]
        raise TaumlError(f"{', '.join(inputs)}: no training taus of type(s) {', '.join(absent)}")
    weight = (len(y) / (len(CLASSES) * counts))[y]  # balanced classes
    model = HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=learning_rate,
                                           max_leaf_nodes=max_leaf_nodes, early_stopping=len(y) > 10_000,
                                           random_state=seed)
    model.fit(x, y, sample_weight=weight)
    probs = model.predict_proba(x)
    taus = y == CLASSES.index("tau")
    wps = {k: {wp: float(np.quantile(discriminator(probs[taus], k), 1 - eff)) for wp, eff in WP_EFFICIENCIES.items()}
           for k in OTHER_TYPES}
    out = Path(output)
    with atomic_path(out) as tmp:
        tmp.write_bytes(pickle.dumps({"model": model, "features": FEATURES, "classes": CLASSES}, protocol=5))
    with atomic_path(working_points_path(out)) as tmp:
        tmp.write_text(json.dumps(wps, indent=1) + "\n")
    return {"taus": dict(zip(CLASSES, counts.tolist())), "iterations": int(model.n_iter_), "working_points": wps}


def working_points_path(model_path) -> Path:
    model_path = Path(model_path)
    return model_path.with_name(f"{model_path.stem}_working_points.json")


def load(model_path) -> dict:
    try:
        state = pickle.loads(Path(model_path).read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError) as err:
        raise TaumlError(f"{model_path}: not a baseline_bdt model ({err})") from err
    if not isinstance(state, dict) or "model" not in state:
        raise TaumlError(f"{model_path}: not a baseline_bdt model")
    return state


def apply(model_path, inputs: list[str], output_dir, *, tree="taus") -> list[Path]:
    """Predictions for every entry of each input (entries without a reco tau get the model's value for
    missing features); existing outputs are kept."""
    state = load(model_path)
    written = []
    for path in tqdm(inputs, desc="baseline_bdt: predicting", unit="file", disable=None):
        target = prediction_path(output_dir, path)
        if target.exists():
            continue
        table = Table(path, tree)
        try:
            x, _ = features(table, state["features"])
        finally:
            table.close()
        probs = state["model"].predict_proba(x) if len(x) else np.zeros((0, len(CLASSES)))
        write_predictions(target, probs, tree)
        written.append(target)
    return written
