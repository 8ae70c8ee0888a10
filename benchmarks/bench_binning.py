"""CreateBinnedTuples throughput and memory against the read limit (uproot reading the same branches).

Step 1, input (not measured):
    python benchmarks/bench_binning.py generate --dir /tmp/bench_binning/raw --gb 1.0
writes 552-branch random TauTuples (tauml.core.testing) of 10,000 entries per file until the total is >= --gb.
Step 2, measurement:
    python benchmarks/bench_binning.py measure --dir /tmp/bench_binning/raw --work /tmp/bench_binning/out --n-threads 2
runs, each in a child process: (a) the read limit, every payload branch of every file read with uproot in
chunks of the split's size; (b) CreateBinnedTuples (README bins unless --pt-bins/--eta-bins); (c)
CreateBinnedTuples on one file cut to 500 entries, which costs almost only the per-bin-file overhead
(creating ~480 files with 552 branches each). Peak RSS is sampled over the whole process tree (sum over
processes) and reported with the largest single process.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path


def generate(directory: Path, gb: float, per_file: int) -> None:
    from tauml.core.testing import write_random_tautuple

    directory.mkdir(parents=True, exist_ok=True)
    total, index = 0, 0
    while total < gb * 1e9:
        path = directory / f"eventTuple_{index}.root"
        write_random_tautuple(path, per_file, seed=100 + index)
        total += path.stat().st_size
        index += 1
        print(f"{path}: {path.stat().st_size / 1e6:.0f} MB (total {total / 1e9:.2f} GB)", flush=True)


def _tree_rss_kb(root_pid: int) -> tuple[int, int]:
    """(sum, max) of VmRSS over ``root_pid`` and its descendants, in kB."""
    parents, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parents[int(entry)] = int(fields["PPid"])
        rss[int(entry)] = int(fields.get("VmRSS", "0 kB").split()[0])
    tree, grew = {root_pid}, True
    while grew:
        new = {p for p, pp in parents.items() if pp in tree} - tree
        tree |= new
        grew = bool(new)
    values = [rss.get(p, 0) for p in tree]
    return sum(values), max(values)


def timed(cmd: list[str]) -> tuple[float, int, int]:
    """Wall seconds, peak summed RSS and peak single-process RSS (kB) of a command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak_sum = peak_max = 0
    while proc.poll() is None:
        s, m = _tree_rss_kb(proc.pid)
        peak_sum, peak_max = max(peak_sum, s), max(peak_max, m)
        time.sleep(0.2)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed with status {proc.returncode}")
    return wall, peak_sum, peak_max


def read_all(files: list[str], step: str) -> None:
    from tauml.core.io import iterate, open_tree, payload_branches

    n = 0
    for path in files:
        for chunk in iterate(path, payload_branches(open_tree(path)), step_size=step):
            n += len(chunk)
    print(f"read {n} entries", file=sys.stderr)


def cut(source: str, target: Path, n: int) -> None:
    from tauml.core.io import open_tree, payload_branches, write_tree

    tree = open_tree(source)
    arrays = tree.arrays(payload_branches(tree), entry_stop=n)
    write_tree(target, {k: arrays[k] for k in arrays.fields})


def measure(directory: Path, work: Path, n_threads: int, bins: list[str]) -> None:
    from tauml.binning.split import DEFAULT_STEP
    from tauml.core.io import open_tree

    files = sorted(str(p) for p in directory.glob("*.root"))
    entries = sum(open_tree(f).num_entries for f in files)
    mb = sum(os.path.getsize(f) for f in files) / 1e6
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    me = [sys.executable, __file__]

    read_s, read_rss, _ = timed(me + ["read", "--dir", str(directory)])
    split_s, split_rss, split_max = timed(["CreateBinnedTuples", "--output", str(work / "split"), "--input-dir",
                                           str(directory), "--n-threads", str(n_threads), *bins])
    cut(files[0], work / "small" / "small.root", 500)
    small_s, _, _ = timed(["CreateBinnedTuples", "--output", str(work / "small_split"), "--input-dir",
                           str(work / "small"), "--n-threads", str(n_threads), *bins])
    n_out = len(list((work / "split").glob("*.root")))
    out_mb = sum(p.stat().st_size for p in (work / "split").glob("*.root")) / 1e6

    print(f"input: {len(files)} files, {entries} entries, {mb:.0f} MB (step {DEFAULT_STEP}, n_threads {n_threads}, "
          f"bins {' '.join(bins) or 'README'})")
    print(f"read limit (uproot, all branches): {read_s:.1f} s, {entries / read_s:.0f} entries/s, "
          f"{mb / read_s:.1f} MB/s, peak RSS {read_rss / 1024:.0f} MB")
    print(f"CreateBinnedTuples: {split_s:.1f} s, {entries / split_s:.0f} entries/s, {mb / split_s:.1f} MB/s, "
          f"{n_out} files, {out_mb:.0f} MB written; peak RSS {split_rss / 1024:.0f} MB (all processes), "
          f"{split_max / 1024:.0f} MB (largest process)")
    print(f"ratio split/read limit: {read_s / split_s:.2f}")
    print(f"500-entry split into the same bins (per-file overhead): {small_s:.1f} s; without it: "
          f"{entries / max(split_s - small_s, 1e-9):.0f} entries/s, ratio {read_s / max(split_s - small_s, 1e-9):.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--dir", type=Path, required=True)
    g.add_argument("--gb", type=float, default=1.0)
    g.add_argument("--per-file", type=int, default=10_000)
    m = sub.add_parser("measure")
    m.add_argument("--dir", type=Path, required=True)
    m.add_argument("--work", type=Path, required=True)
    m.add_argument("--n-threads", type=int, default=2)
    m.add_argument("--pt-bins", help="default: the README's (30 pt bins)")
    m.add_argument("--eta-bins", help="default: the README's (4 |eta| bins)")
    r = sub.add_parser("read")
    r.add_argument("--dir", type=Path, required=True)
    args = p.parse_args()
    if args.what == "generate":
        generate(args.dir, args.gb, args.per_file)
    elif args.what == "measure":
        bins = [x for flag, value in (("--pt-bins", args.pt_bins), ("--eta-bins", args.eta_bins)) if value
                for x in (flag, value)]
        measure(args.dir, args.work, args.n_threads, bins)
    else:
        from tauml.binning.split import DEFAULT_STEP

        read_all(sorted(str(f) for f in args.dir.glob("*.root")), DEFAULT_STEP)


if __name__ == "__main__":
    main()
