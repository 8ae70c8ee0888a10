"""apply_training, evaluate_performance and baseline_bdt: the evaluation stage's commands (original:
Training/python/apply_training.py, evaluate_performance.py with plot_setups/)."""
from __future__ import annotations

import argparse

from ..evaluation.plot_setup import BUILTIN, OTHER_TYPES
from ..core.errors import TaumlError
from . import run


def build_evaluate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="evaluate_performance",
        description="ROC curves of DeepTau (D_k = p_tau / (p_tau + p_k)) for genuine tau_h against one other type, "
                    "per pt bin of the setup, weighted, with the ratio to DeepTau, the tuple's legacy IDs and the "
                    "baselines; one PDF page and one PNG per pt bin. The AUC of every curve is printed.",
        epilog="Predictions are <dir>/<input stem>_pred.h5 (columns deepId_e, deepId_mu, deepId_tau, deepId_jet, "
               "one row per entry of the input); weights <dir>/<input stem>_weights.h5 (column weight). Labels: "
               "the tauType branch, else the TauTuple tau-type rule, else gen_e/gen_mu/gen_tau/gen_jet.")
    p.add_argument("--input-taus", required=True, help="tuple (TauTuple or flat; .root or .h5) of the tau_h")
    p.add_argument("--input-other", default=None, help="tuple of the other type (default: --input-taus)")
    p.add_argument("--other-type", required=True, choices=OTHER_TYPES, help="e, mu or jet")
    p.add_argument("--deep-results", required=True, help="directory of the DeepTau predictions")
    p.add_argument("--deep-results-label", default="DeepTau", help="legend label (default %(default)s)")
    p.add_argument("--prev-deep-results", default=None, help="directory of a previous DeepTau's predictions")
    p.add_argument("--prev-deep-results-label", default="DeepTau (previous)", help="default %(default)s")
    p.add_argument("--mva-results", default=None,
                   help="directory of the MVA-like baseline's predictions (baseline_bdt apply), with its "
                        "--mva-working-points")
    p.add_argument("--mva-results-label", default="BDT", help="default %(default)s")
    p.add_argument("--mva-working-points", default=None,
                   help="working-point JSON of the MVA-like baseline (baseline_bdt train), drawn as points")
    p.add_argument("--output", required=True, help="OUT.pdf; PNGs OUT_pt_<lo>_<hi>.png and OUT.json beside it")
    p.add_argument("--setup", default="run2", help=f"{' or '.join(BUILTIN)} or a YAML file (default %(default)s)")
    p.add_argument("--setup-args", default="",
                   help="k=v,... options of the setup: mode=public|internal, apply_dm_cuts, apply_legacy_cuts, "
                        "apply_deep_cuts (default: the setup's)")
    p.add_argument("--weights", default=None, help="directory of <input stem>_weights.h5 (default: weight 1)")
    p.add_argument("--tree", default="taus", help="tree or HDF5 group of tuples and predictions (default %(default)s)")
    p.add_argument("--draw-wp", action="store_true", help="draw DeepTau's working points with Clopper-Pearson errors")
    p.add_argument("--store-json", action="store_true", help="also write the curves as OUT.json")
    p.add_argument("--public-plots", action="store_true", help="CMS Simulation Preliminary labels instead of titles")
    p.add_argument("--inequality-in-title", action="store_true", help="pt text as inequalities (last bin: pt > lo)")
    return p


def evaluate_act(args: argparse.Namespace) -> None:
    from ..evaluation.performance import evaluate

    bins = evaluate(args.input_taus, args.input_other, args.other_type, args.deep_results, args.output,
                    deep_label=args.deep_results_label, prev_deep_results=args.prev_deep_results,
                    prev_deep_label=args.prev_deep_results_label, mva_results=args.mva_results,
                    mva_label=args.mva_results_label, mva_working_points=args.mva_working_points,
                    setup=args.setup, setup_args=args.setup_args, weights=args.weights, draw_wp=args.draw_wp,
                    store_json=args.store_json, public_plots=args.public_plots,
                    inequality_in_title=args.inequality_in_title, tree=args.tree)
    print(f"evaluate_performance: wrote {args.output} ({len(bins)} pt bins)")


def evaluate_performance(argv=None) -> int:
    return run(build_evaluate_parser, evaluate_act, argv)


def build_apply_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="apply_training",
        description="Apply a trained DeepTau to tuples (TauTuples or flat training tuples, .root or .h5): one "
                    "<output>/<input stem>_pred.h5 per input with float32 columns deepId_e, deepId_mu, deepId_tau, "
                    "deepId_jet, one row per entry in input order. Existing outputs are skipped; NaN or a value "
                    "outside [0, 1] aborts.")
    p.add_argument("--input", required=True, help="input file, or directory searched for .root and .h5 files")
    p.add_argument("--output", required=True, help="output directory")
    p.add_argument("--model", required=True, help="model.keras, a SavedModel directory or a frozen .pb")
    p.add_argument("--filelist", default=None, help="file with input names relative to --input, one per line")
    p.add_argument("--tree", default="taus", help="input tree and output group (default %(default)s)")
    p.add_argument("--training-cfg", default="config/training/training_v1.yaml",
                   help="features and grids of the model (default %(default)s)")
    p.add_argument("--scaling", default=None,
                   help="scaling JSON (default: the training config's Scaling_setup output)")
    p.add_argument("--chunk-size", type=int, default=1000, help="entries read at once (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=250, help="taus per model call (default %(default)s)")
    p.add_argument("--max-queue-size", type=int, default=8, help="batches prepared ahead (default %(default)s)")
    p.add_argument("--max-n-files", type=int, default=None, help="at most this many inputs (default all)")
    p.add_argument("--max-n-entries-per-file", type=int, default=None, help="first N entries per file (default all)")
    return p


def apply_act(args: argparse.Namespace) -> None:
    from ..evaluation.apply import apply_training
    from ..evaluation.predictions import input_files

    for flag in ("batch_size", "max_queue_size", "chunk_size", "max_n_files", "max_n_entries_per_file"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            raise TaumlError(f"--{flag.replace('_', '-')} must be positive, got {value}")
    files = input_files(args.input, args.filelist, args.max_n_files)
    written = apply_training(files, args.output, args.model, args.training_cfg, args.scaling, tree=args.tree,
                             batch_size=args.batch_size, chunk_size=args.chunk_size, max_queue_size=args.max_queue_size,
                             max_entries_per_file=args.max_n_entries_per_file)
    print(f"apply_training: wrote {len(written)} prediction file(s) to {args.output}")


def apply_training(argv=None) -> int:
    return run(build_apply_parser, apply_act, argv)


def build_bdt_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="baseline_bdt",
        description="The MVA-like baseline ID: a gradient-boosted-tree classifier (scikit-learn "
                    "HistGradientBoostingClassifier) on high-level tau features, classes [e, mu, tau, jet].")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="fit on training tuples; writes MODEL and MODEL-stem_working_points.json",
                       description="Fit on the labelled reco taus of the inputs (classes balanced). Working points: "
                                   "thresholds on D_k at fixed tau_h efficiencies of the training taus.")
    t.add_argument("--input", nargs="+", required=True, help="training tuples (.root or .h5)")
    t.add_argument("--output", required=True, help="model file (pickle), e.g. models/bdt/bdt.pkl")
    t.add_argument("--tree", default="taus", help="default %(default)s")
    t.add_argument("--seed", type=int, default=0, help="default %(default)s")
    t.add_argument("--max-iter", type=int, default=200, help="boosting iterations (default %(default)s)")
    t.add_argument("--learning-rate", type=float, default=0.1, help="default %(default)s")
    t.add_argument("--max-leaf-nodes", type=int, default=31, help="default %(default)s")
    t.add_argument("--max-taus", type=int, default=None, help="use at most the first N taus (default all)")
    a = sub.add_parser("apply", help="write <output>/<input stem>_pred.h5 per input",
                       description="Predictions of a trained baseline in DeepTau's predictions format.")
    a.add_argument("--model", required=True, help="model file of 'baseline_bdt train'")
    a.add_argument("--input", required=True, help="input file, or directory searched for .root and .h5 files")
    a.add_argument("--output", required=True, help="output directory")
    a.add_argument("--tree", default="taus", help="default %(default)s")
    return p


def bdt_act(args: argparse.Namespace) -> None:
    from ..evaluation import bdt
    from ..evaluation.predictions import input_files

    if args.command == "train":
        info = bdt.train(args.input, args.output, tree=args.tree, seed=args.seed, max_iter=args.max_iter,
                         learning_rate=args.learning_rate, max_leaf_nodes=args.max_leaf_nodes, max_taus=args.max_taus)
        print(f"baseline_bdt: trained on {info['taus']} in {info['iterations']} iterations -> {args.output}")
    else:
        written = bdt.apply(args.model, input_files(args.input), args.output, tree=args.tree)
        print(f"baseline_bdt: wrote {len(written)} prediction file(s) to {args.output}")


def baseline_bdt(argv=None) -> int:
    return run(build_bdt_parser, bdt_act, argv)
