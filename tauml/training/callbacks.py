"""Training callbacks: checkpoints (per epoch and every N minutes), and mlflow logging as the run goes.

Checkpoint names carry the number of completed epochs, ``{prefix}_e{N}.keras`` at the end of epoch N and
``{prefix}_historic_e{N}_b{batch}_{hours}h.keras`` during epoch N + 1, so a resumed training starts at epoch N
(:func:`checkpoint_epoch`).
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import keras

from ..core.errors import TaumlError

CHECKPOINT_EPOCH = re.compile(r"_e(\d+)(?:_b\d+_[0-9.]+h)?\.keras$")
CHECK_EVERY_BATCHES = 100  # the time checkpoint looks at the clock this often, as the original


def checkpoint_epoch(path: str | Path) -> int:
    """Completed epochs of a checkpoint, from its name."""
    match = CHECKPOINT_EPOCH.search(str(path))
    if not match:
        raise TaumlError(f"{path}: not a training checkpoint (expected ..._e<epoch>.keras or "
                         "..._historic_e<epoch>_b<batch>_<hours>h.keras)")
    return int(match[1])


def epoch_checkpoint(directory: Path, prefix: str) -> keras.callbacks.ModelCheckpoint:
    """The model with optimizer state at the end of every epoch (Keras numbers epochs from 1 here)."""
    return keras.callbacks.ModelCheckpoint(str(directory / f"{prefix}_e{{epoch}}.keras"), save_freq="epoch")


class TimeCheckpoint(keras.callbacks.Callback):
    """A checkpoint every ``minutes`` of training, checked every 100 batches."""

    def __init__(self, minutes: float, directory: Path, prefix: str, on_save=None):
        super().__init__()
        self.interval_s, self.directory, self.prefix, self.on_save = minutes * 60, directory, prefix, on_save
        self.epoch = 0

    def on_train_begin(self, logs=None):
        self.start = self.last = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (batch + 1) % CHECK_EVERY_BATCHES or time.monotonic() - self.last < self.interval_s:
            return
        self.last = time.monotonic()
        hours = (self.last - self.start) / 3600
        path = self.directory / f"{self.prefix}_historic_e{self.epoch}_b{batch + 1}_{hours:.1f}h.keras"
        self.model.save(path)
        if self.on_save:
            self.on_save(path)


class MlflowLogger(keras.callbacks.Callback):
    """Per epoch: every logged value as an mlflow metric (step = epoch) and the new checkpoints as artifacts."""

    def __init__(self, checkpoint_dir: Path, artifact_path: str = "model_checkpoints"):
        super().__init__()
        self.checkpoint_dir, self.artifact_path = checkpoint_dir, artifact_path
        self.logged: set[Path] = set()

    def log_checkpoint(self, path: Path) -> None:
        import mlflow

        mlflow.log_artifact(str(path), self.artifact_path)
        self.logged.add(path)

    def on_epoch_end(self, epoch, logs=None):
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in (logs or {}).items()}, step=epoch)
        for path in sorted(self.checkpoint_dir.glob("*.keras")):
            if path not in self.logged:
                self.log_checkpoint(path)
