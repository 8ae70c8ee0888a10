"""Training throughput of the default DeepTau v2 (taus/s) and the share of step time spent waiting for data.

Two runs of N steps in one process: (a) the model alone on one cached batch (the compute limit), (b) the real
DataLoader through the training feed; waiting share = 1 - a/b in time per step. Prints the ratio to the
original's ~730 taus/s (GTX 1080 Ti, PR 48) and, for a GPU, to the 30,000 taus/s target.

    python benchmarks/bench_training.py --steps 10                       # CPU, fp32 (TensorFlow backend)
    python benchmarks/bench_training.py --steps 10 --precision bfloat16  # where the CPU has AVX-512 BF16 / AMX
    KERAS_BACKEND=jax python benchmarks/bench_training.py --steps 50 --batch-size 1000 --precision bfloat16 \
        --jit --sparse                                                   # one GPU: the prepared device check
Without --input it produces a small physics sample first (DYtautau + QCD) and its scaling JSON.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ORIGINAL_TAUS_PER_S = 730.0
GPU_TARGET_TAUS_PER_S = 30_000.0


def sample(directory: Path, events: int) -> list[Path]:
    from tauml.production import produce

    files = []
    for i, process in enumerate(("DYtautau", "QCD")):
        path = directory / f"{process}.root"
        produce(process, events, 100 + i, path)
        files.append(path)
    return files


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", nargs="*", help="TauTuple / flat tuple files (default: a produced sample)")
    p.add_argument("--scaling", help="scaling JSON (default: feature_scaling of the inputs)")
    p.add_argument("--events", type=int, default=300, help="events per process of the produced sample")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--precision", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--jit", action="store_true", help="XLA-compile the train step")
    p.add_argument("--sparse", action="store_true", help="sparse cells, scattered on the device")
    p.add_argument("--workers", type=int, default=2, help="loader threads")
    args = p.parse_args()

    import keras
    import numpy as np

    from tauml.features.config import input_shapes, load_training_cfg
    from tauml.features.loader import DataLoader
    from tauml.inputs.scaling import feature_scaling
    from tauml.model import build_network, compile_model, set_precision
    from tauml.training.feed import EpochFeed, keras_data

    cfg = load_training_cfg(Path(__file__).resolve().parents[1] / "config" / "training" / "training_v1.yaml")
    work = Path(tempfile.mkdtemp(prefix="bench_training_"))
    files = [Path(f) for f in args.input] if args.input else sample(work, args.events)
    scaling = args.scaling or feature_scaling(cfg, file_path=[str(f) for f in files], output_folder=work)
    shapes = input_shapes(cfg)
    set_precision(args.precision)
    model = build_network(cfg["SetupNN"], shapes, sparse=args.sparse)
    compile_model(model, cfg["SetupNN"], jit_compile=args.jit)
    loader = DataLoader(cfg, files, scaling, batch_size=args.batch_size, sparse=args.sparse,
                        n_workers=args.workers, n_batches=args.steps + 1)
    x, y, _ = next(loader.epoch(0))
    model.train_on_batch(x, y)  # tracing / compilation outside the timing

    start = time.perf_counter()
    for _ in range(args.steps):
        model.train_on_batch(x, y)
    keras.ops.convert_to_numpy(model.trainable_weights[0].value)
    compute_s = (time.perf_counter() - start) / args.steps

    feed = EpochFeed(loader, args.steps + 1, weights=False)
    start = time.perf_counter()
    model.fit(keras_data(feed, shapes, args.sparse), epochs=1, verbose=0)
    fed_s = (time.perf_counter() - start) / (args.steps + 1)

    taus = args.batch_size / fed_s
    print(f"backend {keras.backend.backend()}, precision {args.precision}, jit {args.jit}, sparse {args.sparse}, "
          f"batch {args.batch_size}, {args.steps} steps, params {model.count_params():,}")
    print(f"compute only: {compute_s * 1e3:.0f} ms/step = {args.batch_size / compute_s:.0f} taus/s")
    print(f"with the DataLoader: {fed_s * 1e3:.0f} ms/step = {taus:.0f} taus/s; waiting for data "
          f"{max(0.0, 1 - compute_s / fed_s):.0%} of the step (loader wait inside the feed "
          f"{feed.wait_s / max(feed.batches, 1) * 1e3:.0f} ms/batch)")
    print(f"ratio to the original's {ORIGINAL_TAUS_PER_S:.0f} taus/s: {taus / ORIGINAL_TAUS_PER_S:.2f}; "
          f"to the GPU target {GPU_TARGET_TAUS_PER_S:.0f}: {taus / GPU_TARGET_TAUS_PER_S:.3f}")
    print(f"inputs: {', '.join(str(f) for f in files)} ({np.sum([f.stat().st_size for f in files]) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
