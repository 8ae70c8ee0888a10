"""Working with mlflow stores after training: re-homing an experiment of a file store (set_mlflow_paths), the
results table (print_results) and one TensorBoard over all runs (run_tensorboard)."""
from __future__ import annotations

import os
from pathlib import Path

import yaml

from ..core.documents import read_yaml
from ..core.errors import TaumlError
from ..core.io import atomic_path
from .tracking import file_store_uri


def _read_meta(path: Path) -> dict:
    data = read_yaml(path, "mlflow metadata file")
    if not isinstance(data, dict):
        raise TaumlError(f"{path}: not mlflow metadata")
    return data


def _write_meta(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(data, default_flow_style=False))


def _experiment_id(store: Path, id_or_name: str) -> str:
    """The id of experiment ``id_or_name`` of a file store: an id as given, or the id of the one experiment of
    that name (mlflow's ids are random, the names are what the training's ``experiment_name`` set)."""
    if (store / id_or_name / "meta.yaml").is_file():
        return id_or_name
    named = [p.parent.name for p in sorted(store.glob("*/meta.yaml")) if _read_meta(p).get("name") == id_or_name]
    if len(named) == 1:
        return named[0]
    if named:
        raise TaumlError(f"{store}: {len(named)} experiments are named '{id_or_name}' ({', '.join(named)}): "
                         "give the id")
    raise TaumlError(f"{store / id_or_name}: no mlflow experiment of that id or name (meta.yaml missing)")


def set_mlflow_paths(path_to_mlflow: str, exp_id: str, new_path_to_mlflow: str, new_exp_id: str | None = None,
                     new_exp_name: str | None = None) -> Path:
    """Prepare experiment ``exp_id`` of the file store ``path_to_mlflow`` to live in ``new_path_to_mlflow``
    (as ``new_exp_id``, named ``new_exp_name``): artifact_location / artifact_uri point there, the ids are
    updated and, with a new id, the experiment folder is renamed. Returns the experiment folder."""
    store = Path(path_to_mlflow).resolve()
    exp_id = _experiment_id(store, str(exp_id))
    exp_dir = store / exp_id
    meta_file = exp_dir / "meta.yaml"
    new_id = str(new_exp_id) if new_exp_id is not None else str(exp_id)
    if new_id != str(exp_id) and (store / new_id).exists():
        raise TaumlError(f"{store / new_id}: exists already; choose another --new-exp-id")
    new_exp_path = Path(os.path.abspath(new_path_to_mlflow)) / new_id
    experiment = _read_meta(meta_file)
    if "artifact_location" not in experiment:
        raise TaumlError(f"{meta_file}: no artifact_location (not an experiment's meta.yaml)")
    runs = []
    for run_dir in sorted(p for p in exp_dir.iterdir() if p.is_dir() and (p / "meta.yaml").is_file()):
        run = _read_meta(run_dir / "meta.yaml")
        if run.get("run_id") != run_dir.name or "artifact_uri" not in run:
            raise TaumlError(f"{run_dir / 'meta.yaml'}: not the metadata of run {run_dir.name}")
        runs.append((run_dir / "meta.yaml", run))
    experiment["artifact_location"] = new_exp_path.as_uri()
    experiment["experiment_id"] = new_id
    if new_exp_name is not None:
        experiment["name"] = new_exp_name
    for path, run in runs:
        run["artifact_uri"] = (new_exp_path / run["run_id"] / "artifacts").as_uri()
        run["experiment_id"] = new_id
        _write_meta(path, run)
    _write_meta(meta_file, experiment)
    if new_id != str(exp_id):
        os.replace(exp_dir, store / new_id)
    return store / new_id


def _client(store: str):
    import mlflow

    if "://" in store or store.startswith("sqlite:"):
        uri = store
    else:
        if not Path(store).is_dir():
            raise TaumlError(f"{store}: no such mlflow store directory")
        uri = file_store_uri(store)
    return mlflow.MlflowClient(uri)


def _last(run, name: str) -> str:
    value = run.data.metrics.get(name)
    return "-" if value is None else f"{value:.6g}"


def results(store: str) -> list[dict[str, str]]:
    """Per run of every experiment: run id, run name, model, trainable parameters, last loss and val_loss."""
    client = _client(store)
    rows = []
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"]):
            rows.append({"experiment": experiment.name, "run_id": run.info.run_id,
                         "run_name": run.info.run_name or "-",
                         "model": run.data.params.get("model_name", "-"),
                         "trainable_params": run.data.params.get("n_train_params", "-"),
                         "loss": _last(run, "loss"), "val_loss": _last(run, "val_loss"),
                         "status": run.info.status})
    return rows


def format_results(rows: list[dict[str, str]]) -> list[str]:
    return [f"RunID: {r['run_id']} Name: {r['run_name']} Experiment: {r['experiment']} Model: {r['model']} "
            f"Trainable params: {r['trainable_params']} loss: {r['loss']} val_loss: {r['val_loss']} "
            f"({r['status']})" for r in rows]


def tensorboard_logdir_spec(store: str) -> str:
    """``name:dir,...`` of every run's train and validation logs, labelled ``<run name>_<run id>_train``."""
    client = _client(store)
    entries = []
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"]):
            uri = run.info.artifact_uri
            local = Path(uri.removeprefix("file://")) if uri.startswith("file://") or "://" not in uri else None
            if local is None or not local.is_dir():  # re-homed by set_mlflow_paths, not copied yet: the store's own
                local = Path(store) / experiment.experiment_id / run.info.run_id / "artifacts"
            label = f"{run.info.run_name or run.data.params.get('model_name', 'run')}_{run.info.run_id[:8]}"
            for split, folder in (("train", "train"), ("val", "validation")):
                logs = local / "tensorboard_logs" / folder
                if logs.is_dir():
                    entries.append(f"{label}_{split}:{logs}")
    if not entries:
        raise TaumlError(f"{store}: no run with TensorBoard logs")
    return ",".join(entries)
