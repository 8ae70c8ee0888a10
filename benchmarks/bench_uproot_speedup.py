"""CPU time per 552-branch bin file written through tauml's TreeWriter, with the uproot writer speed-up
(tauml.core.uproot_speedup.install, as every tauml writer) and, as the reference in the same run, with stock
uproot. Each file: uproot.recreate, one tree of all TauTuple branches, one extend of 5 entries (tauml.core.testing),
which costs almost only the per-file overhead that CreateBinnedTuples pays ~480 times per dataset.

    python benchmarks/bench_uproot_speedup.py [--files 6] [--dir /tmp/bench_uproot_speedup]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

CHILD = """
import sys, time, uproot
from tauml.core import uproot_speedup
from tauml.core.io import TreeWriter
from tauml.core.testing import random_tautuple
mode, directory, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
arrays = random_tautuple(5, seed=1)
if mode == "stock":
    uproot_speedup.install = lambda: False
start = time.process_time()
for i in range(n):
    with uproot.recreate(f"{directory}/{mode}_{i}.root") as f:
        TreeWriter(f).extend(arrays)
print((time.process_time() - start) / n)
"""


def cpu_per_file(mode: str, directory: Path, files: int) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(directory), str(files)], check=True,
                         capture_output=True, text=True).stdout
    return float(out.split()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=6)
    p.add_argument("--dir", type=Path, default=Path("/tmp/bench_uproot_speedup"))
    args = p.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    stock = cpu_per_file("stock", args.dir, args.files)
    fast = cpu_per_file("fast", args.dir, args.files)
    print(f"stock uproot: {stock:.3f} CPU s per file; with the speed-up: {fast:.3f} CPU s per file; "
          f"ratio stock/fast {stock / fast:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
