"""mlflow: the tracking store, the experiment, and what a training run records.

The default store is the local file store ``file://<abs path_to_mlflow>`` (mlruns/<experiment id>/<run id>/),
named explicitly: mlflow >= 3.7 would otherwise pick a SQLite database. Any tracking URI (``sqlite:///...``,
``http://...``) works the same.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ..core.errors import TaumlError
from ..model.network import SUB_NETS


def file_store_uri(path: str | os.PathLike) -> str:
    """``file://`` URI of a local store; mlflow >= 3.10 refuses file stores unless MLFLOW_ALLOW_FILE_STORE is
    set, so it is set here (the layout set_mlflow_paths, print_results and run_tensorboard work on)."""
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return Path(os.path.abspath(path)).as_uri()


def tracking_uri(cfg: Mapping) -> str:
    if cfg.get("tracking_uri"):
        uri = str(cfg["tracking_uri"])
        return file_store_uri(uri.removeprefix("file://")) if uri.startswith("file://") else uri
    return file_store_uri(cfg.get("path_to_mlflow") or "mlruns")


def experiment_id(client, name: str) -> str:
    """The id of experiment ``name``, created if missing."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name)
        except MlflowException:  # a parallel training created it first
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                raise
    if experiment.lifecycle_stage != "active":
        raise TaumlError(f"mlflow experiment '{name}' is deleted: restore it or choose another experiment_name")
    return experiment.experiment_id


def run_params(cfg: Mapping, n_train_params: int) -> dict[str, str]:
    """The original's parameter names: model_name, {net}_{key}, TauLossesSFs_{i}, n_train_params, plus the
    settings that decide a run."""
    setup = cfg["training_cfg"]["SetupNN"]
    params = {"model_name": setup["model_name"], "n_train_params": n_train_params}
    for net in SUB_NETS:
        params.update({f"{net}_{key}": value for key, value in setup[net].items()})
    params.update({f"TauLossesSFs_{i}": sf for i, sf in enumerate(setup["TauLossesSFs"])})
    for key in ("optimizer_name", "learning_rate", "n_batches", "n_batches_val", "n_epochs"):
        params[key] = setup.get(key)
    params["batch_size"] = cfg["training_cfg"]["Setup"]["n_tau"]
    for key in ("seed", "sparse", "precision", "jit_compile", "use_weights", "resume", "log_suffix"):
        params[key] = cfg.get(key)
    return {key: str(value) for key, value in params.items()}
