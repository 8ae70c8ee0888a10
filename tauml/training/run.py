"""One DeepTau training: configuration -> checked inputs -> model -> fit from the DataLoader -> mlflow run.

Every input is checked before the mlflow run starts (files, scaling parameters, the network settings), so a bad
configuration leaves nothing behind. During the run, checkpoints go to mlflow as they are written; TensorBoard
logs and ``metrics.log`` at the end, also when the training fails.
"""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..core.errors import TaumlError
from ..core.io import atomic_path
from ..features.config import input_shapes
from ..features.loader import DataLoader, as_scaling, split_files
from .config import input_files
from .tracking import experiment_id, run_params, tracking_uri


RUN_INFO = "mlflow_run.json"  # in model_dir: which mlflow run made the model


@dataclass
class TrainResult:
    run_id: str
    experiment_id: str
    artifact_uri: str
    initial_epoch: int
    final_epoch: int
    history: dict


def setup_gpu(gpu_cfg: dict | None) -> None:
    """Only ``gpu_index`` visible, at most ``gpu_mem`` GiB of it (TensorFlow backend; no GPU: nothing to do)."""
    import keras

    gpu_cfg = gpu_cfg or {}
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    index = gpu_cfg.get("gpu_index")
    if not gpus or index is None:
        return
    if not 0 <= int(index) < len(gpus):
        raise TaumlError(f"gpu_cfg.gpu_index {index}: {len(gpus)} GPU(s) visible")
    tf.config.set_visible_devices([gpus[int(index)]], "GPU")
    if gpu_cfg.get("gpu_mem"):
        limit = int(float(gpu_cfg["gpu_mem"]) * 1024)
        tf.config.set_logical_device_configuration(gpus[int(index)],
                                                   [tf.config.LogicalDeviceConfiguration(memory_limit=limit)])


def _positive(cfg: dict, key: str) -> int | None:
    value = cfg["training_cfg"]["SetupNN"].get(key)
    return int(value) if value is not None and int(value) > 0 else None


def _model(cfg: dict, shapes: dict):
    """(compiled model, initial epoch): new, or the resumed checkpoint with its optimizer state."""
    import keras

    from ..model import build_network, compile_model, set_precision
    from ..model.sparse import DensifyCells
    from .callbacks import checkpoint_epoch

    setup = cfg["training_cfg"]["SetupNN"]
    set_precision(str(cfg.get("precision", "float32")))
    if cfg.get("resume"):
        path = Path(cfg["resume"])
        epoch = checkpoint_epoch(path)
        if not path.is_file():
            raise TaumlError(f"{path}: resume checkpoint does not exist")
        try:
            model = keras.saving.load_model(path)
        except (OSError, ValueError) as err:
            raise TaumlError(f"{path}: cannot load the checkpoint: {err}") from None
        if any(isinstance(layer, DensifyCells) for layer in model.layers) != bool(cfg.get("sparse")):
            raise TaumlError(f"{path}: the checkpoint was trained with sparse={not cfg.get('sparse')}")
        return model, epoch
    model = build_network(setup, shapes, sparse=bool(cfg.get("sparse")))
    compile_model(model, setup, jit_compile=bool(cfg.get("jit_compile")))
    return model, int(setup.get("epoch") or 0)



def _summary(model) -> str:
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=120)
    return "\n".join(lines) + "\n"


def n_trainable(model) -> int:
    return sum(int(v.numpy().size if hasattr(v, "numpy") else v.size) for v in model.trainable_weights)


def train(cfg: dict) -> TrainResult:
    """Run the training of a composed configuration (:func:`tauml.training.config.compose_config`)."""
    import keras
    import mlflow

    from ..model.forms import save_model_forms
    from ..model.losses import METRIC_NAMES
    from .callbacks import MlflowLogger, TimeCheckpoint, epoch_checkpoint
    from .feed import EpochFeed, FeedEpochs, keras_data

    training_cfg, setup = cfg["training_cfg"], cfg["training_cfg"]["SetupNN"]
    train_files, val_files = split_files(input_files(cfg), float(setup.get("validation_split", 0)))
    scaling_path = str(cfg["scaling_cfg"])
    scaling = as_scaling(scaling_path, training_cfg)
    shapes = input_shapes(training_cfg)
    n_batches, n_batches_val = _positive(cfg, "n_batches"), _positive(cfg, "n_batches_val")
    if keras.backend.backend() != "tensorflow" and n_batches is None:
        raise TaumlError(f"SetupNN.n_batches: the {keras.backend.backend()} backend needs n_batches > 0")
    sparse, weights, seed = bool(cfg.get("sparse")), bool(cfg.get("use_weights")), int(cfg.get("seed") or 0)

    def loader(files, count):
        return DataLoader(training_cfg, files, scaling, seed=seed, sparse=sparse, weights=weights,
                          n_batches=count)

    train_feed = EpochFeed(loader(train_files, n_batches), n_batches or 0, weights)
    val_feed = EpochFeed(loader(val_files, n_batches_val), n_batches_val or 0, weights, fixed_epoch=0) \
        if val_files else None
    setup_gpu(cfg.get("gpu_cfg"))
    keras.utils.set_random_seed(seed)
    model, initial_epoch = _model(cfg, shapes)
    model.run_eagerly = bool(cfg.get("run_eagerly"))
    n_epochs = int(setup.get("n_epochs", 1))
    if initial_epoch >= n_epochs:
        raise TaumlError(f"SetupNN.n_epochs {n_epochs}: the training starts at epoch {initial_epoch}, nothing to do")

    uri = tracking_uri(cfg)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    exp_id = experiment_id(client, str(cfg["experiment_name"]))
    prefix = f"{setup['model_name']}_{cfg.get('log_suffix', 'step1')}"
    work = Path(tempfile.mkdtemp(prefix="tauml-train-", dir=cfg.get("work_dir")))
    try:
        with mlflow.start_run(experiment_id=exp_id, run_name=cfg.get("run_name")) as run:
            mlflow.log_params(run_params(cfg, n_trainable(model)))
            mlflow.log_text(yaml.safe_dump(training_cfg, sort_keys=False), "input_cfg/training_cfg.yaml")
            mlflow.log_text(yaml.safe_dump(cfg, sort_keys=False), "input_cfg/train.yaml")
            mlflow.log_dict({name: "" for name in METRIC_NAMES}, "input_cfg/metric_names.json")
            mlflow.log_artifact(scaling_path, "input_cfg")
            mlflow.log_text(_summary(model), "model_summary.txt")
            checkpoints, tensorboard = work / "checkpoints", work / "tensorboard_logs"
            checkpoints.mkdir()
            logger = MlflowLogger(checkpoints)
            n_log = _positive(cfg, "n_batches_log")
            callbacks = [
                FeedEpochs(*[f for f in (train_feed, val_feed) if f is not None]),
                TimeCheckpoint(float(cfg.get("time_checkpoint_minutes") or 720), checkpoints, prefix,
                               on_save=logger.log_checkpoint),
                keras.callbacks.CSVLogger(str(work / "metrics.log"), append=True),
                keras.callbacks.TensorBoard(str(tensorboard), update_freq=n_log or "epoch", write_graph=False),
                epoch_checkpoint(checkpoints, prefix),
                logger,
            ]
            try:
                history = model.fit(
                    keras_data(train_feed, shapes, sparse),
                    validation_data=keras_data(val_feed, shapes, sparse) if val_feed else None,
                    epochs=n_epochs, initial_epoch=initial_epoch, callbacks=callbacks, shuffle=False,
                    verbose=1 if sys.stdout.isatty() else 2)
            except Exception:
                loader_error = train_feed.error or (val_feed.error if val_feed else None)
                if isinstance(loader_error, TaumlError):
                    raise loader_error from None
                raise
            finally:
                if (work / "metrics.log").is_file():
                    mlflow.log_artifact(str(work / "metrics.log"))
                if tensorboard.is_dir():
                    mlflow.log_artifacts(str(tensorboard), "tensorboard_logs")
            final = Path(cfg["model_dir"]) if cfg.get("model_dir") else work / f"{prefix}_final"
            save_model_forms(model, final)
            mlflow.log_artifacts(str(final), "model")
            if cfg.get("model_dir"):
                info = {"run_id": run.info.run_id, "experiment_id": exp_id, "tracking_uri": uri,
                        "artifact_uri": run.info.artifact_uri}
                with atomic_path(final / RUN_INFO) as tmp:
                    tmp.write_text(json.dumps(info, indent=2) + "\n")
            return TrainResult(run.info.run_id, exp_id, run.info.artifact_uri, initial_epoch, n_epochs,
                               {k: [float(v) for v in vs] for k, vs in history.history.items()})
    finally:
        shutil.rmtree(work, ignore_errors=True)
