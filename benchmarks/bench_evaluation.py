"""Inference speed of apply_training per model form, against the input building alone, on one core.

    python benchmarks/bench_evaluation.py [--events 300] [--batch-size 250] [--threads 1] [--work DIR]

Produces a DY->tautau TauTuple with the embedded producer, builds the default DeepTau (untrained: the speed
does not depend on the weights), writes its three forms (model.keras, saved_model/, frozen.pb), then times
(1) iterate_taus alone (read + grids + scaling), the reference of this run, and (2) iterate_taus + the model for
each form, in taus/s. Anchor: CMSSW's DeepTau 2017v2 took ~0.085 s per event (cmssw PR 26796).
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

CMSSW_SECONDS_PER_EVENT = 0.085


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--threads", type=int, default=1, help="TensorFlow/numba threads (default 1: per core)")
    p.add_argument("--work", default=None, help="keep inputs and models here (default: a temporary directory)")
    args = p.parse_args()
    for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

    import keras
    import tensorflow as tf

    from tauml.features.blocks import KNOWN_TYPES
    from tauml.features.config import enabled_features, load_training_cfg
    from tauml.features.loader import iterate_taus
    from tauml.model import build_model, load_predictor, save_model_forms
    from tauml.production import produce

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_eval_"))
    work.mkdir(parents=True, exist_ok=True)
    tuple_path = work / "DYtautau.root"
    if not tuple_path.exists():
        produce("DYtautau", args.events, 4242, tuple_path)
    cfg = load_training_cfg("config/training/training_v1.yaml")
    entry = {"global": {"mean": 0.0, "std": 1.0, "lim_min": -5.0, "lim_max": 5.0}}
    scaling = work / "scaling.json"
    scaling.write_text(json.dumps({t: {n: entry for n in enabled_features(cfg, t)} for t in KNOWN_TYPES}))
    models = work / "model"
    if not (models / "frozen.pb").exists():
        keras.utils.set_random_seed(1)
        save_model_forms(build_model(cfg), models)

    def batches():
        return iterate_taus(tuple_path, cfg, scaling, args.batch_size)

    sum(len(x["input_tau"]) for x in batches())  # numba kernels compiled and file cached
    start = time.perf_counter()
    n = sum(len(x["input_tau"]) for x in batches())
    t_inputs = time.perf_counter() - start
    print(f"input: {n} taus of {args.events} DY->tautau events, batch {args.batch_size}, {args.threads} thread(s)")
    print(f"iterate_taus alone        {n / t_inputs:10.0f} taus/s  (reference)")
    for form in ("model.keras", "saved_model", "frozen.pb"):
        predict = load_predictor(models / form)
        predict(next(iter(batches())))  # graph tracing and first-call allocations
        start = time.perf_counter()
        for x in batches():
            predict(x)
        t = time.perf_counter() - start
        per_tau = t / n
        print(f"apply_training {form:11s} {n / t:10.0f} taus/s  {per_tau * 1e3:7.2f} ms/tau  "
              f"model share {1 - t_inputs / t:5.1%}  CMSSW anchor / this = {CMSSW_SECONDS_PER_EVENT / per_tau:6.1f}")


if __name__ == "__main__":
    main()
