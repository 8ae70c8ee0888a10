"""Training_v0p1 / tauml-train (the original Training_v0p1.py), set_mlflow_paths, print_results, run_tensorboard."""
from __future__ import annotations

import argparse
import subprocess

from . import run


def _train_parser() -> argparse.ArgumentParser:
    from ..training.config import DEFAULT_CONFIG_DIR, DEFAULT_CONFIG_NAME

    p = argparse.ArgumentParser(
        prog="Training_v0p1",
        description="Train DeepTau v2 from the DataLoader and record the run in mlflow. The configuration is "
                    "train.yaml composed by Hydra with training_v1.yaml under training_cfg; OVERRIDES use Hydra's "
                    "grammar: key=value, +new_key=value, ~key, nested dicts as 'training_cfg.SetupNN.tau_net="
                    "{dropout_rate: 0.3}'. The working directory does not change.",
        epilog="Example: Training_v0p1 experiment_name=run3_cnn_ho2 scaling_cfg=results/scaling/scaling.json "
               "training_cfg.SetupNN.n_batches=100. Browse the runs with `MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri mlruns`.")
    p.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="Hydra overrides (experiment_name=NAME is required)")
    p.add_argument("--config-dir", "-cd", default=DEFAULT_CONFIG_DIR, help="directory of train.yaml and training_v1.yaml")
    p.add_argument("--config-name", "-cn", default=DEFAULT_CONFIG_NAME, help="configuration name")
    p.add_argument("--cfg", choices=["job"], default=None,
                   help="print the composed configuration (Hydra's --cfg job) and exit")
    return p


def _train(args: argparse.Namespace) -> int:
    from ..training.config import compose_config

    cfg = compose_config(args.overrides, args.config_dir, args.config_name)
    if args.cfg:
        import yaml

        print(yaml.safe_dump(cfg, sort_keys=False), end="")
        return 0
    from ..training.run import train

    result = train(cfg)
    print(f"mlflow run {result.run_id} (experiment {result.experiment_id}): epochs {result.initial_epoch} -> "
          f"{result.final_epoch}, artifacts {result.artifact_uri}")
    return 0


def main(argv=None) -> int:
    return run(_train_parser, _train, argv)


def _paths_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="set_mlflow_paths",
        description="Prepare one experiment of an mlflow file store for a new place (merging mlruns folders): "
                    "artifact_location in the experiment's meta.yaml and artifact_uri in each run's become "
                    "file://NEW_PATH/<id>/...; with -nid the experiment id changes (folder renamed), with -nn "
                    "its name.")
    p.add_argument("-p", "--path-to-mlflow", required=True, help="the mlruns folder holding the experiment")
    p.add_argument("-id", "--exp-id", required=True, help="experiment id to modify, or its name")
    p.add_argument("-np", "--new-path-to-mlflow", required=True, help="the mlruns folder it will live in")
    p.add_argument("-nid", "--new-exp-id", default=None, help="new experiment id")
    p.add_argument("-nn", "--new-exp-name", default=None, help="new experiment name")
    return p


def _paths(args: argparse.Namespace) -> int:
    from ..training.mlruns import set_mlflow_paths

    folder = set_mlflow_paths(args.path_to_mlflow, args.exp_id, args.new_path_to_mlflow, args.new_exp_id,
                              args.new_exp_name)
    print(f"{folder}: paths point to {args.new_path_to_mlflow}")
    return 0


def set_mlflow_paths_main(argv=None) -> int:
    return run(_paths_parser, _paths, argv)


def _results_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="print_results",
                                description="Per run of an mlflow store: run id, name, model, trainable parameters, "
                                            "last loss and val_loss.")
    p.add_argument("mlruns", help="mlflow file store folder (mlruns) or a tracking URI")
    return p


def _results(args: argparse.Namespace) -> int:
    from ..training.mlruns import format_results, results

    for line in format_results(results(args.mlruns)):
        print(line)
    return 0


def print_results_main(argv=None) -> int:
    return run(_results_parser, _results, argv)


def _tensorboard_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_tensorboard",
                                description="One TensorBoard over the train and validation logs of every run, "
                                            "labelled <run name>_<run id>_{train,val}.")
    p.add_argument("mlruns", help="mlflow file store folder (mlruns)")
    p.add_argument("--port", type=int, default=9090, help="TensorBoard port")
    p.add_argument("--print-only", action="store_true", help="print the --logdir_spec and exit")
    return p


def _tensorboard(args: argparse.Namespace) -> int:
    import sys

    from ..training.mlruns import tensorboard_logdir_spec

    spec = tensorboard_logdir_spec(args.mlruns)
    if args.print_only:
        print(spec)
        return 0
    return subprocess.call([sys.executable, "-m", "tensorboard.main", f"--port={args.port}", "--logdir_spec", spec])


def run_tensorboard_main(argv=None) -> int:
    return run(_tensorboard_parser, _tensorboard, argv)
