"""ShuffleMerge throughput and peak memory on 552-branch binned tuples.

Makes a step-1-like input (one tau type, several datasets, a pt × |eta| grid of bin files), then measures,
each in a fresh process: a plain read + write of the same files into one output (the reference), and
ShuffleMerge on the same input; repeated with every file 4× larger to show that the peak RSS stays flat.

    python benchmarks/bench_shufflemerge.py --entries 6000 --buffer-mb 64 --work /tmp/bench_sm
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PT = [20, 30, 40, 60, 100, 1000]
ETA = [0.0, 1.15, 2.3]
DATASETS = ("DYtautau", "ZprimeTauTau", "TT")


def make_input(root: Path, entries: int, seed: int) -> None:
    """``entries`` taus spread over DATASETS × PT × ETA bin files, plus size_list.txt."""
    from tauml.core.io import write_tree
    from tauml.core.binfiles import bin_name
    from tauml.core.schema import TauType
    from tauml.core.testing import random_tautuple

    cells = [(d, i, j) for d in DATASETS for i in range(len(PT) - 1) for j in range(len(ETA) - 1)]
    per_file = max(1, entries // len(cells))
    lines = []
    for n_cell, (dataset, i, j) in enumerate(cells):
        a = random_tautuple(per_file, seed=seed + n_cell, types=("tau",))
        rng = np.random.default_rng(seed + n_cell)
        a["tau_pt"] = rng.uniform(PT[i], PT[i + 1], per_file).astype(np.float32)
        a["tau_eta"] = rng.uniform(ETA[j], ETA[j + 1], per_file).astype(np.float32)
        name = f"{bin_name(TauType.tau, PT[i], ETA[j])}.root"
        write_tree(root / dataset / name, a)
        lines.append(f"{dataset}/{name} {per_file}")
    (root / "size_list.txt").write_text("\n".join(sorted(lines)) + "\n")
    (root / "merge.cfg").write_text("".join(f"tau_{d}: dir={d} file=tau_.*\n" for d in DATASETS))


def copy_all(root: Path, output: Path, block: int = 4096) -> int:
    """The reference: read every bin file once and write all entries, in file order and in blocks of
    ``block`` entries, with the same buffers and writer as ShuffleMerge."""
    from tauml.core import columns
    from tauml.core.io import TreeWriter, iterate, open_tree, payload_branches, root_writer

    files = sorted(root.glob("*/*.root"))
    names = payload_branches(open_tree(files[0]))
    pending, n_pending = [], 0
    with root_writer(output) as f:
        writer = TreeWriter(f)
        for path in files:
            for chunk in iterate(path, names):
                pending.append(columns.from_awkward(chunk, path))
                n_pending += len(chunk)
                if n_pending >= block:
                    writer.extend(columns.to_writer_arrays(columns.concatenate(pending)))
                    pending, n_pending = [], 0
        if pending:
            writer.extend(columns.to_writer_arrays(columns.concatenate(pending)))
    return writer.entries


def child(kind: str, root: Path, output: Path, buffer_mb: float) -> None:
    start = time.perf_counter()
    if kind == "copy":
        n = copy_all(root, output)
    else:
        from tauml.shufflemerge.merge import shuffle_merge
        n = sum(shuffle_merge(root / "merge.cfg", root, output, PT, ETA, calc_weights=True,
                              ensure_uniformity=True, buffer_mb=buffer_mb, progress=False,
                              log=lambda m: None).values())
    seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"entries": n, "seconds": seconds, "rss_mb": rss_mb}))


def measure(kind: str, root: Path, buffer_mb: float) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--work", str(root), "--buffer-mb", str(buffer_mb)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entries", type=int, default=6000, help="entries of the smaller input")
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_shufflemerge"))
    p.add_argument("--buffer-mb", type=float, default=64, help="ShuffleMerge --buffer-mb (both inputs exceed it)")
    p.add_argument("--child", choices=("copy", "shuffle"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args.work, args.work.parent / f"{args.work.name}_{args.child}.root", args.buffer_mb)
        return
    rows = []
    for factor in (1, 4):
        root = args.work / f"x{factor}"
        if not (root / "size_list.txt").exists():
            make_input(root, args.entries * factor, seed=1000 * factor)
        copy, mix = measure("copy", root, args.buffer_mb), measure("shuffle", root, args.buffer_mb)
        rows.append((factor, copy, mix))
        ref_rate, mix_rate = copy["entries"] / copy["seconds"], mix["entries"] / mix["seconds"]
        print(f"input x{factor}: {mix['entries']} entries | read+write {ref_rate:.0f} entries/s, peak RSS "
              f"{copy['rss_mb']:.0f} MB | ShuffleMerge {mix_rate:.0f} entries/s, peak RSS {mix['rss_mb']:.0f} MB | "
              f"ratio {mix_rate / ref_rate:.2f}", flush=True)
    (_, _, small), (_, _, large) = rows
    print(f"peak RSS ShuffleMerge x4 / x1: {large['rss_mb'] / small['rss_mb']:.2f}")


if __name__ == "__main__":
    main()
