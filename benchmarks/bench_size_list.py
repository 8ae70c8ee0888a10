"""CreateTupleSizeList speed in files/s on 552-branch bin files, against the previous implementation.

    python benchmarks/bench_size_list.py [--files 200] [--entries 20]

Writes ``--files`` TauTuples with every schema branch (as CreateBinnedTuples' bin files) into a temporary
directory, copies them to a second one (so that neither run reads a warm uproot object), then times
(1) the previous implementation: uproot's ``file["taus"].num_entries``, which builds all 552 branches,
(2) ``tuple_sizes`` reading the TTree header, without its cache, and (3) a rerun that finds every file in
the cache. All three must give the same list.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from tauml.binning.size_list import CACHE_FILE, tuple_sizes
from tauml.core.io import open_file, open_tree
from tauml.core.schema import TREE
from tauml.core.testing import write_random_tautuple


def previous_implementation(top: Path) -> list[tuple[str, int]]:
    """The size list as it was computed before the header reader (tauml 5e03687)."""
    rows = []
    for root, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if not name.endswith(".root") or name.startswith("."):
                continue
            path = Path(root, name)
            if TREE not in open_file(path):
                continue
            rows.append((path.relative_to(top).as_posix(), open_tree(path).num_entries))
    return sorted(rows)


def timed(label: str, n_files: int, call):
    start = time.perf_counter()
    rows = call()
    seconds = time.perf_counter() - start
    print(f"{label:<44} {seconds:8.2f} s  {n_files / seconds:9.1f} files/s")
    return rows, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--entries", type=int, default=20, help="entries per file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        first, second = Path(tmp, "a"), Path(tmp, "b")
        (first / "DS").mkdir(parents=True)
        template = first / "DS" / "tau_pt_20_eta_0.000.root"
        write_random_tautuple(template, args.entries, seed=1)
        for i in range(1, args.files):
            shutil.copy(template, first / "DS" / f"tau_pt_{20 + i}_eta_0.000.root")
        shutil.copytree(first, second)
        size_mb = template.stat().st_size / 2**20
        print(f"{args.files} files of {args.entries} entries, 552 branches, {size_mb:.2f} MiB each")
        old, t_old = timed("previous: uproot num_entries (all branches)", args.files,
                           lambda: previous_implementation(first))
        new, t_new = timed("tuple_sizes, TTree header, no cache", args.files,
                           lambda: tuple_sizes(second, use_cache=False, progress=False))
        tuple_sizes(second, progress=False)  # fills the cache
        assert (second / CACHE_FILE).exists()
        cached, t_cached = timed("tuple_sizes, every file in the cache", args.files,
                                 lambda: tuple_sizes(second, progress=False))
        assert old == new == cached
        print(f"speed-up: header {t_old / t_new:.1f}x, cache {t_old / t_cached:.1f}x")


if __name__ == "__main__":
    main()
