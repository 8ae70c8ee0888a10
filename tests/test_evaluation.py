"""Evaluation stage: weighted ROC/AUC and working points against hand computations, the plot and JSON outputs
of evaluate_performance, the predictions format, the BDT baseline on produced physics, and bad inputs."""
from __future__ import annotations

import json
import re

import h5py
import numpy as np
import pytest
from scipy import stats

from tauml.cli.evaluation import baseline_bdt, evaluate_performance
from tauml.core.errors import TaumlError
from tauml.core.io import write_tree
from tauml.core.testing import random_tautuple
from tauml.evaluation import bdt
from tauml.evaluation.performance import evaluate
from tauml.evaluation.plot_setup import load_setup, parse_setup_args
from tauml.evaluation.predictions import prediction_path, write_predictions
from tauml.evaluation.roc import Curve, clopper_pearson, ratio_to, roc_curve, weighted_efficiency, working_points
from tauml.evaluation.tables import PRED_COLUMNS, Table, discriminator

ISO = "tau_byCombinedIsolationDeltaBetaCorr3Hits"


def pairwise_auc(is_tau, score, weight):
    """Weighted AUC by its definition: P(score_tau > score_other), ties counted half."""
    num = 0.0
    for i in np.flatnonzero(is_tau):
        for j in np.flatnonzero(~is_tau):
            num += weight[i] * weight[j] * (1.0 if score[i] > score[j] else 0.5 if score[i] == score[j] else 0.0)
    return num / (weight[is_tau].sum() * weight[~is_tau].sum())


def explicit_roc(is_tau, score, weight):
    """(fpr, tpr) at every distinct threshold, passing = score >= threshold."""
    points = []
    for thr in np.unique(score)[::-1]:
        passed = score >= thr
        points.append((weight[passed & ~is_tau].sum() / weight[~is_tau].sum(),
                       weight[passed & is_tau].sum() / weight[is_tau].sum()))
    return np.array(points)


def test_weighted_roc_and_auc_match_a_hand_computation():
    rng = np.random.default_rng(5)
    n = 120
    is_tau = rng.random(n) < 0.4
    score = np.round(rng.normal(is_tau * 1.0, 1.0), 1)  # rounding makes ties
    weight = rng.uniform(0.2, 3.0, n)
    fpr, tpr, thr, auc = roc_curve(is_tau, score, weight)
    assert auc == pytest.approx(pairwise_auc(is_tau, score, weight), rel=1e-12)
    expected = explicit_roc(is_tau, score, weight)
    # every point of the curve is one of the explicit thresholds' points, and the curve ends at (1, 1)
    for x, y, t in zip(fpr[1:], tpr[1:], thr[1:]):
        passed = score >= t
        assert x == pytest.approx(weight[passed & ~is_tau].sum() / weight[~is_tau].sum())
        assert y == pytest.approx(weight[passed & is_tau].sum() / weight[is_tau].sum())
    assert (fpr[-1], tpr[-1]) == pytest.approx((1.0, 1.0))
    assert np.trapezoid(expected[:, 1], expected[:, 0]) + expected[0, 0] * expected[0, 1] / 2 == pytest.approx(auc)


def test_clopper_pearson_and_weighted_working_points():
    low, high = clopper_pearson(np.array([0, 7, 20]), np.array([20, 20, 20]))
    for k, lo, hi in zip((0, 7, 20), low, high):
        ci = stats.binomtest(k, 20).proportion_ci(confidence_level=0.6827, method="exact")
        assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-9)
    passed = np.array([True] * 7 + [False] * 13)
    eff, down, up = weighted_efficiency(passed, np.ones(20))
    ci = stats.binomtest(7, 20).proportion_ci(confidence_level=0.6827, method="exact")
    assert (eff, eff - down, eff + up) == pytest.approx((0.35, ci.low, ci.high))
    # doubling every weight changes neither the efficiency nor its effective-count interval
    assert weighted_efficiency(passed, np.full(20, 2.0)) == pytest.approx((eff, down, up))
    w = np.linspace(0.5, 2, 20)
    eff_w = weighted_efficiency(passed, w)[0]
    assert eff_w == pytest.approx(w[:7].sum() / w.sum())
    is_tau = np.array([True] * 20 + [False] * 20)
    score = np.concatenate([np.linspace(0.3, 1, 20), np.linspace(0, 0.7, 20)])
    wp = working_points("x WP", "k", is_tau, np.ones(40), {"Loose": score > 0.4, "Tight": score > 0.6})
    assert wp.tpr == pytest.approx([(score[:20] > 0.4).mean(), (score[:20] > 0.6).mean()])
    assert wp.fpr == pytest.approx([(score[20:] > 0.4).mean(), (score[20:] > 0.6).mean()])
    assert wp.tpr_err.shape == (2, 2) and (wp.tpr_err >= 0).all()


def test_ratio_to_itself_is_one_and_discriminator_definition():
    c = Curve("a", "b", fpr=np.linspace(0.01, 1, 50), tpr=np.linspace(0.3, 1, 50))
    tpr, ratio = ratio_to(c, c, 0.7)
    assert len(tpr) > 10 and ratio == pytest.approx(np.ones_like(ratio))
    probs = np.array([[0.1, 0.2, 0.6, 0.1], [0.5, 0.5, 0.0, 0.0]])
    assert discriminator(probs, "e") == pytest.approx([0.6 / 0.7, 0.0])
    assert discriminator(probs, "jet") == pytest.approx([0.6 / 0.7, 0.0])


def _tuple(path, n, types, seed):
    """A small TauTuple: reco taus with a decay mode, labels by the tau-type rule, the isolation ID filled."""
    a = random_tautuple(n, seed=seed, types=types, all_branches=False)
    rng = np.random.default_rng(seed)
    a["tau_decayMode"] = rng.choice([0, 1, 5, 10], n).astype(np.int32)
    is_tau = a["genLepton_kind"] == 5
    raw = rng.exponential(np.where(is_tau, 1.0, 4.0)).astype(np.float32)
    a["tau_byCombinedIsolationDeltaBetaCorr3Hitsraw"] = raw
    a[ISO] = sum(((raw < cut) << bit) for bit, cut in ((3, 2.5), (4, 1.5), (5, 0.8))).astype(np.uint16)
    write_tree(path, a)
    return a


def _predictions(directory, tuple_path, a, seed, n=None):
    rng = np.random.default_rng(seed)
    n = len(a["tau_pt"]) if n is None else n
    logits = rng.normal(0, 1, (n, 4))
    logits[:, 2] += 1.5 * (a["genLepton_kind"][:n] == 5)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    write_predictions(prediction_path(directory, tuple_path), probs)
    return probs


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    d = tmp_path_factory.mktemp("eval")
    taus, jets = d / "tau_DY.root", d / "jet_QCD.root"
    a_t, a_j = _tuple(taus, 600, ("tau",), 1), _tuple(jets, 600, ("jet",), 2)
    p_t, p_j = _predictions(d / "pred", taus, a_t, 3), _predictions(d / "pred", jets, a_j, 4)
    return {"dir": d, "taus": taus, "jets": jets, "a": (a_t, a_j), "p": (p_t, p_j)}


def test_evaluate_performance_pages_pngs_json_and_auc(samples, capsys):
    d = samples["dir"]
    out = d / "plots" / "tau_vs_jet.pdf"
    rc = evaluate_performance(["--input-taus", str(samples["taus"]), "--input-other", str(samples["jets"]),
                               "--other-type", "jet", "--deep-results", str(d / "pred"), "--output", str(out),
                               "--setup", "run2", "--setup-args", "mode=internal", "--draw-wp", "--store-json"])
    assert rc == 0
    printed = capsys.readouterr().out
    edges = load_setup("run2", "jet", "mode=internal").pt_bins
    pdf = out.read_bytes()
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == len(edges) - 1
    for lo, hi in zip(edges, edges[1:]):
        png = out.with_name(f"tau_vs_jet_pt_{lo:g}_{hi:g}.png")
        assert png.stat().st_size > 10_000
    bins = json.loads(out.with_suffix(".json").read_text())
    assert [(b["pt_min"], b["pt_max"]) for b in bins] == list(zip(edges, edges[1:]))
    first = bins[0]
    assert set(first) == {"pt_min", "pt_max", "pt_text", "period", "plot_setup", "discriminators"}
    assert first["plot_setup"]["ratio_title"] == "MVA/DeepTau" and first["period"] == "2017 (13 TeV)"
    names = [x["name"] for x in first["discriminators"]]
    assert names == ["cut-based isolation (JINST 13 (2018) P10005)", "cut-based isolation (JINST 13 (2018) P10005) WP",
                     "DeepTau vs. jet", "DeepTau vs. jet WP"]
    deep = first["discriminators"][2]
    assert deep["is_ref"] and not deep["dots_only"]
    assert len(deep["false_positive_rate"]) == len(deep["true_positive_rate"]) == len(deep["thresholds"])
    wp = first["discriminators"][3]
    assert wp["working_points"][0] == "VVVLoose" and len(wp["true_positive_rate_up"]) == 8
    # the AUC of the first bin, by hand from the inputs: reco taus, decay modes 5/6 removed, 20 < pt < 30
    (a_t, a_j), (p_t, p_j) = samples["a"], samples["p"]
    keep = [(a["tau_pt"] > 20) & (a["tau_pt"] < 30) & (a["tau_decayMode"] != 5) for a in (a_t, a_j)]
    score = np.concatenate([discriminator(p_t[keep[0]], "jet"), discriminator(p_j[keep[1]], "jet")])
    is_tau = np.repeat([True, False], [keep[0].sum(), keep[1].sum()])
    expected = pairwise_auc(is_tau, score, np.ones(len(score)))
    assert deep["auc_score"] == pytest.approx(expected, rel=1e-3)
    assert f"[20, 30] DeepTau vs. jet roc_auc = {expected:.6f}" in printed


def test_weights_change_the_curves(samples):
    d = samples["dir"]
    (d / "weights").mkdir(exist_ok=True)
    for path, a in zip((samples["taus"], samples["jets"]), samples["a"]):
        with h5py.File(d / "weights" / f"{path.stem}_weights.h5", "w") as f:
            f["taus/weight"] = np.where(a["tau_pt"] > 25, 3.0, 1.0)
    kwargs = dict(setup_args="mode=public", store_json=False)
    plain = evaluate(samples["taus"], samples["jets"], "jet", d / "pred", d / "w0.pdf", **kwargs)
    weighted = evaluate(samples["taus"], samples["jets"], "jet", d / "pred", d / "w1.pdf", weights=d / "weights",
                        **kwargs)
    ref_auc = [next(x["auc_score"] for x in b["discriminators"] if x["is_ref"]) for b in (plain[0], weighted[0])]
    assert ref_auc[0] != pytest.approx(ref_auc[1], abs=1e-6)


def test_bad_inputs_leave_nothing(samples, tmp_path):
    d = samples["dir"]
    short = tmp_path / "short"
    _predictions(short, samples["taus"], samples["a"][0], 5, n=500)
    _predictions(short, samples["jets"], samples["a"][1], 6)
    out = tmp_path / "out" / "x.pdf"
    with pytest.raises(TaumlError, match="has 500 rows, the tuple has 600"):
        evaluate(samples["taus"], samples["jets"], "jet", short, out)
    with pytest.raises(TaumlError, match="unknown setup 'run3'"):
        evaluate(samples["taus"], samples["jets"], "jet", d / "pred", out, setup="run3")
    with pytest.raises(TaumlError, match="unknown other type 'tau'"):
        evaluate(samples["taus"], samples["jets"], "tau", d / "pred", out)
    with pytest.raises(TaumlError, match="unknown option 'mod'"):
        evaluate(samples["taus"], samples["jets"], "jet", d / "pred", out, setup_args="mod=internal")
    with pytest.raises(TaumlError, match="no '.*_pred.h5'|no predictions file"):
        evaluate(samples["taus"], samples["jets"], "jet", tmp_path / "none", out)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    nan = tmp_path / "nan.h5"
    with pytest.raises(TaumlError, match="NaN"):
        write_predictions(nan, np.full((3, 4), np.nan))
    with pytest.raises(TaumlError, match=r"outside \[0, 1\]"):
        write_predictions(nan, np.full((3, 4), 1.5))
    assert list(tmp_path.glob("*nan*")) == []
    with pytest.raises(TaumlError, match="expected key=value"):
        parse_setup_args("mode")


def test_predictions_file_layout(tmp_path):
    probs = np.random.default_rng(0).dirichlet(np.ones(4), 17)
    path = prediction_path(tmp_path, "some/dir/tau_DY.root")
    assert path.name == "tau_DY_pred.h5"
    write_predictions(path, probs)
    with h5py.File(path) as f:
        assert list(f["taus"]) == list(PRED_COLUMNS)
        for i, name in enumerate(PRED_COLUMNS):
            assert f["taus"][name].dtype == np.float32 and f["taus"][name].shape == (17,)
            assert f["taus"][name][...] == pytest.approx(probs[:, i].astype(np.float32))
    again = tmp_path / "again" / path.name
    write_predictions(again, probs)
    assert again.read_bytes() == path.read_bytes()


def test_labels_prefer_the_tau_type_branch(tmp_path):
    a = random_tautuple(50, seed=3, types=("tau", "jet"), all_branches=False)
    path = tmp_path / "t.root"
    write_tree(path, a)
    rule = Table(path).labels()
    assert set(rule) == {2, 3}
    a["tauType"] = np.full(50, 1, np.int32)
    write_tree(path, a)
    assert (Table(path).labels() == 1).all()


def test_bdt_baseline_on_produced_taus(produced_tuples, tmp_path):
    """Trained on produced DY->tautau (tau_h, e and mu from tau decays, jets) + QCD, applied to the same files:
    one row per entry, and the BDT separates genuine tau_h from jets (AUC well above 0.5) as does the isolation."""
    files = [str(produced_tuples[p]) for p in ("DYtautau", "QCD")]
    model = tmp_path / "bdt" / "bdt.pkl"
    assert baseline_bdt(["train", "--input", *files, "--output", str(model), "--max-iter", "40"]) == 0
    wps = json.loads(bdt.working_points_path(model).read_text())
    assert list(wps["jet"]) == list(bdt.WP_EFFICIENCIES)
    assert all((np.diff(list(wps[k].values())) >= 0).all() for k in wps)  # tighter points, higher thresholds
    pred = tmp_path / "bdt_pred"
    for f in files:
        assert baseline_bdt(["apply", "--model", str(model), "--input", f, "--output", str(pred)]) == 0
    for f in files:
        with h5py.File(prediction_path(pred, f)) as h:
            n = Table(f).n
            probs = np.stack([h["taus"][c][...] for c in PRED_COLUMNS], 1)
        assert probs.shape == (n, 4) and probs.sum(1) == pytest.approx(np.ones(n), abs=1e-5)
        x, _ = bdt.features(Table(f))
        assert probs == pytest.approx(bdt.load(model)["model"].predict_proba(x).astype(np.float32), abs=1e-6)
    out = tmp_path / "plots" / "jet.pdf"
    bins = evaluate(files[0], files[1], "jet", pred, out, mva_results=pred, store_json=True, setup_args="mode=public",
                    mva_working_points=bdt.working_points_path(model))
    curves = {x["name"]: x for x in bins[0]["discriminators"]}
    assert curves["cut-based isolation (JINST 13 (2018) P10005)"]["auc_score"] > 0.7
    assert curves["BDT"]["auc_score"] > 0.7
    assert len(curves["BDT WP"]["true_positive_rate"]) == len(bdt.WP_EFFICIENCIES)


def _scaling_file(path, cfg):
    """Scaling parameters that keep every feature (clamped to ±5): enough to run a model on real inputs."""
    from tauml.features.blocks import KNOWN_TYPES
    from tauml.features.config import enabled_features

    entry = {"global": {"mean": 0.0, "std": 1.0, "lim_min": -5.0, "lim_max": 5.0}}
    path.write_text(json.dumps({t: {n: entry for n in enabled_features(cfg, t)} for t in KNOWN_TYPES}))
    return path


@pytest.fixture(scope="module")
def deeptau(tmp_path_factory):
    """An (untrained) DeepTau of the default configuration as model.keras, and a scaling file for it."""
    keras = pytest.importorskip("keras")
    from tauml.features.config import load_training_cfg
    from tauml.model import build_model

    d = tmp_path_factory.mktemp("deeptau")
    cfg_path = "config/training/training_v1.yaml"
    cfg = load_training_cfg(cfg_path)
    keras.utils.set_random_seed(1)
    path = d / "model.keras"
    build_model(cfg).save(path)
    return {"model": path, "cfg": cfg_path, "scaling": _scaling_file(d / "scaling.json", cfg), "dir": d}


def _reversed_copy(src, dst, n):
    """The first n entries of a TauTuple, in reverse order."""
    from tauml.core.io import open_tree, payload_branches

    tree = open_tree(src)
    arrays = tree.arrays(payload_branches(tree), library="ak", entry_stop=n)
    write_tree(dst, {k: arrays[k][::-1] for k in arrays.fields})


def test_apply_training_rows_follow_the_input(produced_tuples, deeptau, tmp_path, capsys):
    from tauml.cli.evaluation import apply_training

    src = produced_tuples["DYtautau"]
    rev = tmp_path / "reversed.root"
    _reversed_copy(src, rev, 40)
    out = tmp_path / "pred"
    common = ["--output", str(out), "--model", str(deeptau["model"]), "--training-cfg", deeptau["cfg"],
              "--scaling", str(deeptau["scaling"]), "--batch-size", "16"]
    assert apply_training(["--input", str(src), "--max-n-entries-per-file", "40", *common]) == 0
    assert apply_training(["--input", str(rev), *common]) == 0
    read = {}
    for name in (src, rev):
        with h5py.File(prediction_path(out, name)) as f:
            assert list(f["taus"]) == list(PRED_COLUMNS)
            read[name] = np.stack([f["taus"][c][...] for c in PRED_COLUMNS], 1)
    assert read[src].shape == (40, 4) and read[src].dtype == np.float32
    assert read[src].sum(1) == pytest.approx(np.ones(40), abs=1e-5)
    assert read[rev] == pytest.approx(read[src][::-1], abs=1e-5)
    before = prediction_path(out, src).stat().st_mtime_ns
    capsys.readouterr()
    assert apply_training(["--input", str(src), *common]) == 0
    assert "exists, skipped" in capsys.readouterr().out
    assert prediction_path(out, src).stat().st_mtime_ns == before


def test_apply_training_wrong_model_inputs(produced_tuples, deeptau, tmp_path, capsys):
    import keras

    from tauml.cli.evaluation import apply_training

    inp = keras.Input((5,), name="something_else")
    wrong = keras.Model(inp, keras.layers.Dense(4, activation="softmax")(inp))
    wrong.save(tmp_path / "wrong.keras")
    out = tmp_path / "pred"
    rc = apply_training(["--input", str(produced_tuples["DYtautau"]), "--output", str(out), "--model",
                         str(tmp_path / "wrong.keras"), "--training-cfg", deeptau["cfg"], "--scaling",
                         str(deeptau["scaling"]), "--max-n-entries-per-file", "8"])
    assert rc == 1
    err = capsys.readouterr().err
    assert err.startswith("apply_training: error: ") and len(err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_tiny_chain_through_evaluation_and_report(tmp_path):
    """config/test/chain.yaml from production to the ROC plots of a briefly trained DeepTau, and the report."""
    import sys
    from pathlib import Path

    import yaml

    sys.path.insert(0, str(Path(__file__).parent / "services"))
    import tiny_chain

    runs = tmp_path / "runs.txt"
    runs.write_text("run_name=tiny training_cfg.SetupNN.n_batches=4 training_cfg.SetupNN.n_batches_val=1 "
                    "training_cfg.SetupNN.n_epochs=1 training_cfg.SetupNN.n_load_workers=1 "
                    "training_cfg.Setup.n_tau=50\n")
    workdir = tiny_chain.make_workdir(tmp_path / "chain", config="chain.yaml")
    config = yaml.safe_load((workdir / "tiny.yaml").read_text())
    config["training"] = {"runs": str(runs)}
    config["evaluation"] = {"pairs": [{"taus": "tau_DY", "other": "jet_QCD", "type": "jet"},
                                      {"taus": "tau_DY", "other": "e_DY", "type": "e"}],
                            "bdt": {"max_iter": 20}}
    for name in ("config/config.yaml", "tiny.yaml"):
        (workdir / name).write_text(yaml.safe_dump(config))
    tiny_chain.snakemake(workdir, "--cores", "2", timeout=3000)
    plots = workdir / "results" / "plots" / "tiny"
    for pair in ("tau_DY_vs_jet_QCD", "tau_DY_vs_e_DY"):
        bins = json.loads((plots / f"{pair}.json").read_text())
        assert [b["pt_min"] for b in bins] == [20, 100]
        names = [d["name"] for d in bins[0]["discriminators"]]
        assert "BDT" in names and "DeepTau (tiny) vs. " + pair.split("_")[-2] in names
        assert all((plots / f"{pair}_pt_{lo}_{hi}.png").stat().st_size > 10_000 for lo, hi in ((20, 100), (100, 1000)))
    for item in ("tau_DY", "jet_QCD", "e_DY"):
        with h5py.File(workdir / "results" / "predictions" / "tiny" / f"{item}_pred.h5") as f:
            n = Table(workdir / "results" / "training_preparation" / "testing" / f"{item}.root").n
            assert f["taus"]["deepId_tau"].shape == (n,)
    report = tmp_path / "report.html"
    tiny_chain.snakemake(workdir, "--report", str(report), timeout=600)
    assert report.stat().st_size > 100_000
