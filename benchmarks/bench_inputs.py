"""Training-input speed: taus/s per core for the cell grids alone and for full DataLoader batches (dense and
sparse), and memory per batch, on production-like TauTuples of the embedded producer.

    python benchmarks/bench_inputs.py [--events 400] [--input FILE.root ...] [--batch-size 250] [--epochs 2]

References measured in the same run: (1) a plain-Python per-object loop doing the membership and the
highest-pt choice per cell (the work of the original's cling loop, without any feature) on a few hundred taus;
(2) the anchor figures of the original C++ loader: ~500 taus/s per worker, ~106 MB per dense 250-tau batch.
CPU time (all threads of this process) is the stable figure on a shared machine; wall time is printed too.
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from tauml.features.config import load_training_cfg
from tauml.features.grids import raw_from_tautuple
from tauml.features.loader import DataLoader
from tauml.features.sources import TauTupleSource
from tauml.production import produce

REPO = Path(__file__).resolve().parents[1]
ORIGINAL_TAUS_PER_S = 500.0
ORIGINAL_DENSE_BATCH_MB = 106.0
PROCESSES = ("DYtautau", "QCD", "TT")


def timed(f):
    wall, cpu = time.perf_counter(), time.process_time()
    result = f()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def python_reference(chunk, cfg, n_taus: int) -> float:
    """CPU seconds per tau of a plain-Python membership + highest-pt-per-cell loop over pfCand objects."""
    pt, eta, phi = (np.asarray(chunk[f"tau_{v}"]) for v in ("pt", "eta", "phi"))
    objs = {v: chunk[f"pfCand_{v}"] for v in ("pt", "eta", "phi", "particleType")}
    n_inner, inner = cfg["Setup"]["n_inner_cells"], cfg["Setup"]["inner_cell_size"]
    n_outer, outer = cfg["Setup"]["n_outer_cells"], cfg["Setup"]["outer_cell_size"]
    start = time.process_time()
    for t in range(n_taus):
        r_sig = max(3 / max(pt[t], 30), 0.05)
        best: dict = {}
        o_pt, o_eta, o_phi, o_type = (objs[v][t].tolist() for v in ("pt", "eta", "phi", "particleType"))
        for j in range(len(o_pt)):
            deta = o_eta[j] - eta[t]
            dphi = (o_phi[j] - phi[t] + math.pi) % (2 * math.pi) - math.pi
            dr = math.hypot(deta, dphi)
            for grid, radius, n, size in (("inner", r_sig, n_inner, inner), ("outer", 0.5, n_outer, outer)):
                if dr >= radius:
                    continue
                ie = int(math.copysign(math.floor(abs(deta) / size + 0.5), deta))
                ip = int(math.copysign(math.floor(abs(dphi) / size + 0.5), dphi))
                if abs(ie) > n // 2 or abs(ip) > n // 2:
                    continue
                key = (grid, ie, ip, o_type[j])
                if key not in best or o_pt[j] > best[key]:
                    best[key] = o_pt[j]
    return (time.process_time() - start) / n_taus


def rss_megabytes() -> float:
    """Resident memory of this process now (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def batch_megabytes(x: dict) -> float:
    return sum(v.nbytes for v in x.values()) / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=400, help="events per process (DYtautau, QCD, TT)")
    p.add_argument("--input", nargs="+", default=None, help="existing TauTuples instead of producing some")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--epochs", type=int, default=2, help="loader epochs timed per mode (after one warm-up)")
    args = p.parse_args()
    cfg = load_training_cfg(REPO / "config/training/training_v1.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        files = list(args.input or [])
        if not files:
            for i, process in enumerate(PROCESSES):
                path = Path(tmp) / f"{process}.root"
                produce(process, args.events, 1000 + i, path)
                files.append(str(path))
        sources = [TauTupleSource(f, cfg) for f in files]
        n_entries = sum(s.n_entries for s in sources)
        chunks = [s.tree.arrays(s.branches, library="ak", how=dict) for s in sources]
        n_objects = sum(int(np.sum(np.asarray([len(x) for x in c["pfCand_pt"]]))) for c in chunks)
        print(f"input: {len(files)} file(s), {n_entries} entries, {n_objects / n_entries:.1f} pfCands per entry")
        raw_from_tautuple(chunks[0], cfg, files[0])  # compile / load the kernel cache
        _, wall, cpu = timed(lambda: [raw_from_tautuple(c, cfg, f) for c, f in zip(chunks, files)])
        grid_rate = n_entries / cpu
        ref = python_reference(chunks[0], cfg, min(300, len(chunks[0]["tau_pt"])))
        print(f"grids alone: {grid_rate:,.0f} taus/s per core (cpu {cpu:.2f} s, wall {wall:.2f} s); plain-Python "
              f"membership loop {1 / ref:,.0f} taus/s -> x{grid_rate * ref:.0f}; "
              f"vs the original ~{ORIGINAL_TAUS_PER_S:.0f} taus/s: x{grid_rate / ORIGINAL_TAUS_PER_S:.0f}")
        for sparse in (False, True):
            loader = DataLoader(cfg, files, _identity(cfg), batch_size=args.batch_size, n_workers=1,
                                sparse=sparse, seed=1)
            warm = list(loader.epoch(0))
            megabytes = np.mean([batch_megabytes(x) for x, _, _ in warm[:-1] or warm])
            n_taus = sum(len(y) for _, y, _ in warm)
            rss = []

            def epochs():
                for e in range(1, 1 + args.epochs):
                    sum(1 for _ in loader.epoch(e))
                    rss.append(rss_megabytes())

            _, wall, cpu = timed(epochs)
            rate = n_taus * args.epochs / cpu
            mode = "sparse" if sparse else "dense"
            print(f"loader {mode}: {rate:,.0f} taus/s per core end to end (cpu {cpu:.2f} s, wall {wall:.2f} s, "
                  f"{n_taus} training taus x {args.epochs} epochs) -> x{rate / ORIGINAL_TAUS_PER_S:.0f} the original;"
                  f" {megabytes:.1f} MB per {args.batch_size}-tau batch "
                  f"(original dense {ORIGINAL_DENSE_BATCH_MB:.0f} MB: x{ORIGINAL_DENSE_BATCH_MB / megabytes:.2f}); "
                  f"RSS after each epoch: {', '.join(f'{r:.0f}' for r in rss)} MB")


def _identity(cfg) -> dict:
    data = {}
    for obj_type, entries in cfg["Features_all"].items():
        p = {"mean": 0, "std": 1, "lim_min": "-inf", "lim_max": "inf"}
        data[obj_type] = {next(iter(e)): ({"global": p} if obj_type in ("TauFlat", "GridGlobal")
                                          else {"inner": p, "outer": p}) for e in entries}
    return data


if __name__ == "__main__":
    main()
