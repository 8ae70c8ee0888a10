"""apply_training: a trained DeepTau (any form the training writes: ``.keras``, SavedModel, frozen ``.pb``)
on tuples (TauTuples or flat training tuples, ``.root`` or ``.h5``) -> ``<output>/<stem>_pred.h5`` per input.

Batches are built by the inputs' ``iterate_taus`` in a background thread, up to ``max_queue_size`` ahead of
the model. Finished outputs are skipped, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core.errors import TaumlError
from .predictions import check_probabilities, prediction_path, write_predictions
from .tables import Table


def default_scaling(training_cfg: dict) -> Path:
    """The scaling JSON of the training config's Scaling_setup: <output_json_folder>/scaling_params_v<version>.json."""
    setup = training_cfg["Scaling_setup"]
    return Path(setup["output_json_folder"]) / f"scaling_params_v{setup['version']}.json"


def predict_file(predictor, path, training_cfg: dict, scaling, *, tree="taus", batch_size=250, chunk_size=1000,
                 max_queue_size=8, max_entries=None, progress=None) -> np.ndarray:
    """(n, 4) probabilities for the first ``max_entries`` (default all) entries of one file, in file order."""
    from ..features.loader import iterate_taus, prefetch

    table = Table(path, tree)
    n = table.n if max_entries is None else min(table.n, max_entries)
    table.close()
    out = np.empty((n, 4), np.float32)
    done = 0
    batches = iterate_taus(path, training_cfg, scaling, batch_size, chunk_size=max(1, min(chunk_size, n)))
    for x in prefetch(batches, max_queue_size):
        if done >= n:
            break
        try:
            probs = np.asarray(predictor(x), np.float32)
        except TaumlError:
            raise
        except Exception as err:  # a model whose inputs do not match the batches
            raise TaumlError(f"{path}: the model cannot predict these inputs ({type(err).__name__}: {err})") from err
        check_probabilities(probs, str(path))
        take = min(len(probs), n - done)
        out[done:done + take] = probs[:take]
        done += take
        if progress is not None:
            progress.update(take)
    if done != n:
        raise TaumlError(f"{path}: got {done} predictions for {n} entries")
    return out


def apply_training(inputs: list[str], output_dir, model, training_cfg_path, scaling=None, *, tree="taus",
                   batch_size=250, chunk_size=1000, max_queue_size=8, max_entries_per_file=None) -> list[Path]:
    """Predictions for every input without an output yet; returns the files written."""
    from ..features.config import load_training_cfg
    from ..model.forms import load_predictor

    pending = [p for p in inputs if not prediction_path(output_dir, p).exists()]
    for p in sorted(set(inputs) - set(pending)):
        print(f"apply_training: {prediction_path(output_dir, p)} exists, skipped")
    if not pending:
        return []
    cfg = load_training_cfg(training_cfg_path)
    scaling = Path(scaling) if scaling is not None else default_scaling(cfg)
    if not scaling.is_file():
        raise TaumlError(f"{scaling}: no scaling file")
    try:
        predictor = load_predictor(model)
    except TaumlError:
        raise
    except Exception as err:
        raise TaumlError(f"{model}: cannot load the model ({type(err).__name__}: {err})") from err
    total = 0
    for p in pending:
        table = Table(p, tree)
        total += table.n if max_entries_per_file is None else min(table.n, max_entries_per_file)
        table.close()
    written = []
    with tqdm(total=total, desc="apply_training", unit="tau", disable=None) as bar:
        for p in pending:
            probs = predict_file(predictor, p, cfg, scaling, tree=tree, batch_size=batch_size, chunk_size=chunk_size,
                                 max_queue_size=max_queue_size,
                                 max_entries=max_entries_per_file, progress=bar)
            target = prediction_path(output_dir, p)
            write_predictions(target, probs, tree)
            written.append(target)
    return written
