"""validation_tool speed: histogram filling in entries/s against a plain uproot read of the same branches.

    python benchmarks/bench_validation.py [--files 4] [--entries-per-file 1000000] [--nsplit 100]

Writes ShuffleMergeSpectral-like files into a temporary directory, then times (1) a plain uproot read of
the six branches validation_tool reads, (2) the one-pass filling of all chunk histograms with 1 and 2
threads, (3) the statistical tests, and (4) the plots, per test path.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import uproot

from tauml.core.io import write_tree
from tauml.core.testing import random_tautuple
from tauml.validation.compare import (
    BRANCHES, Binning, Report, comparisons, fill_counts, find_inputs, load_hashes, scan_inputs,
)
from tauml.validation.output import write_plots

GROUPS = {f"group{i}": str(1000 + i) for i in range(8)}
DATASETS = {f"dataset{i}": str(2000 + i) for i in range(40)}


def write_inputs(top: Path, n_files: int, n: int) -> None:
    for i in range(n_files):
        arrays = random_tautuple(n, seed=i + 1, all_branches=False)
        rng = np.random.default_rng(i)
        arrays["tauType"] = rng.integers(0, 4, n).astype(np.int32)
        ds = rng.integers(0, len(DATASETS), n)
        arrays["dataset_id"] = (2000 + ds).astype(np.uint64)
        arrays["dataset_group_id"] = (1000 + ds % len(GROUPS)).astype(np.uint64)
        write_tree(top / f"ShuffleMergeSpectral_{i}.root", arrays)
    (top / "dataset_hash.json").write_text(json.dumps(DATASETS))
    (top / "datagroup_hash.json").write_text(json.dumps(GROUPS))


def timed(f):
    """Result, wall time and CPU time of this process (all threads): on a shared machine, CPU time is the
    stable figure."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = f()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=4)
    p.add_argument("--entries-per-file", type=int, default=1_000_000)
    p.add_argument("--nsplit", type=int, default=100)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        write_inputs(top, args.files, args.entries_per_file)
        paths = find_inputs(top)
        files = scan_inputs(paths)
        total = files[-1].offset + files[-1].entries

        def plain_read():
            for path in paths:
                for _ in uproot.open(path)["taus"].iterate(list(BRANCHES), step_size=1_000_000, library="np"):
                    pass
        _, t_read, c_read = timed(plain_read)
        print(f"entries: {total} in {len(files)} files, nsplit {args.nsplit}")
        print(f"plain uproot read of {len(BRANCHES)} branches: {total / t_read:,.0f} entries/s "
              f"({total / c_read:,.0f} per CPU second)")

        binning = Binning.build(load_hashes(top / "dataset_hash.json"), load_hashes(top / "datagroup_hash.json"),
                                use_dataset_id=True)
        for threads in (1, 2):
            counts, t_fill, c_fill = timed(lambda: fill_counts(files, binning, args.nsplit, threads,
                                                               task_entries=total // 4, progress=False))
            print(f"validation fill, {threads} thread(s), with --use_dataset_id: {total / t_fill:,.0f} entries/s "
                  f"= {t_read / t_fill:.2f} x the plain read ({total / c_fill:,.0f} per CPU second "
                  f"= {c_read / c_fill:.2f} x)")
        tests, t_tests, _ = timed(lambda: comparisons(counts, True, "Chi2", "first"))
        print(f"Chi2 tests: {len(tests)} test paths x {args.nsplit} chunks in {t_tests:.2f} s")

        sample = Report(files, tests[:10], "Chi2", "first", args.nsplit, {})
        for procs in (1, 2):
            target = top / f"plots_{procs}"
            target.mkdir()
            _, t_plot, _ = timed(lambda: write_plots(sample, target, 0.05, ("pdf", "png"), True, procs, progress=False))
            print(f"plots (pdf + png), {procs} process(es): {t_plot / len(sample.comparisons):.2f} s per test path")

if __name__ == "__main__":
    main()
