"""Benchmark CreateSpectralHists and ShuffleMergeSpectral against a plain uproot read of the same input.

    python benchmarks/bench_spectral.py [--entries 10000] [--files 6] [--workdir DIR]

Writes full 552-branch random TauTuples (3 datasets), then measures, each in its own process (peak RSS of
that process):
  * uproot read of the spectrum branches -> CreateSpectralHists fill speed (entries/s, ratio to the read), on
    the full-schema files and on one long file holding only the light branches;
  * uproot read of every branch -> one ShuffleMergeSpectral job over all of them (input entries/s, peak RSS,
    ratio), flattening (few % kept) and taking everything, for ZLIB-1 (the original's measured setting) and
    LZ4-4 (the workflow's default) outputs.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATASETS = {"DSA": ("e", "mu", "tau", "jet"), "DSB": ("jet",), "DSC": ("tau", "e")}
GROUPS = """A: dir=DSA file=.* types=e,mu,tau,jet
B: dir=DSB file=.* types=jet
C: dir=DSC file=.* types=tau,e
"""

CHILD = r"""
import json, resource, sys, time
kind, args = sys.argv[1], json.loads(sys.argv[2])
import uproot
from tauml.cli.spectral import create_spectral_hists, shuffle_merge_spectral
from tauml.core.io import payload_branches
t0 = time.perf_counter()
if kind == "read":
    n = 0
    for path in args["files"]:
        tree = uproot.open(path)["taus"]
        names = args["branches"] or payload_branches(tree)
        for chunk in tree.iterate(names, step_size=args.get("step", 10_000), library="ak"):
            n += len(chunk)
elif kind == "hists":
    assert create_spectral_hists(args["argv"]) == 0
    n = args["entries"]
else:
    assert shuffle_merge_spectral(args["argv"]) == 0
    n = args["entries"]
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "entries": n, "rate": n / dt,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def child(kind: str, **args) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, kind, json.dumps(args)], check=True, capture_output=True,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_inputs(work: Path, entries: int, n_files: int) -> list[str]:
    from tauml.core.testing import write_random_tautuple
    files = []
    per_ds = max(1, n_files // len(DATASETS))
    for k, (ds, types) in enumerate(DATASETS.items()):
        for j in range(per_ds):
            path = work / "raw" / ds / f"eventTuple_{j}.root"
            if not path.exists():
                write_random_tautuple(path, entries, seed=100 * k + j + 1, types=types)
            files.append(str(path))
    return files


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entries", type=int, default=10_000, help="entries per file")
    p.add_argument("--files", type=int, default=6, help="number of files (split over 3 datasets)")
    p.add_argument("--fill-entries", type=int, default=1_000_000, help="entries of the fill-speed file")
    p.add_argument("--workdir", help="keep inputs here (default: a temporary directory)")
    args = p.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_spectral_"))
    t0 = time.perf_counter()
    files = make_inputs(work, args.entries, args.files)
    total = args.entries * len(files)
    print(f"inputs: {len(files)} files x {args.entries} entries, full schema ({time.perf_counter() - t0:.0f} s)")

    from tauml.spectral.create_hists import SPECTRUM_BRANCHES
    spec = work / "spec"
    ref = child("read", files=files, branches=SPECTRUM_BRANCHES, step=200_000)
    fills = []
    for ds in DATASETS:
        ds_files = [f for f in files if f"/{ds}/" in f]
        fills.append(child("hists", entries=args.entries * len(ds_files), argv=[
            "--output", str(spec / f"{ds}.root"), "--output_entries", str(spec / f"{ds}.txt"), "--input-dir",
            str(work / "raw" / ds), "--pt-hist", "4990, 10, 5000", "--eta-hist", "25, 0, 2.5", "--quiet"]))
    fill_rate = total / sum(f["seconds"] for f in fills)
    print(f"CreateSpectralHists: {fill_rate:,.0f} entries/s; uproot read of its "
          f"{len(SPECTRUM_BRANCHES)} branches: {ref['rate']:,.0f} entries/s; ratio {fill_rate / ref['rate']:.2f}")

    # fill speed on a file with many entries, so that opening 552-branch headers does not dominate
    from tauml.core.testing import random_tautuple
    from tauml.core.io import write_tree
    big = work / "fill" / "DSF" / "light.root"
    if not big.exists():
        write_tree(big, random_tautuple(args.fill_entries, seed=99, all_branches=False))
    ref_big = child("read", files=[str(big)], branches=SPECTRUM_BRANCHES, step=200_000)
    fill_big = child("hists", entries=args.fill_entries, argv=[
        "--output", str(work / "fill" / "DSF.root"), "--output_entries", str(work / "fill" / "DSF.txt"),
        "--input-dir", str(big.parent), "--pt-hist", "4990, 10, 5000", "--eta-hist", "25, 0, 2.5", "--quiet"])
    print(f"CreateSpectralHists on one {args.fill_entries:,}-entry file: {fill_big['rate']:,.0f} entries/s; uproot "
          f"read of its branches: {ref_big['rate']:,.0f} entries/s; ratio {fill_big['rate'] / ref_big['rate']:.2f}")

    from tauml.cli.spectral_tools import main as tools
    tools(["filelist", *(str(spec / f"{ds}.txt") for ds in DATASETS), "--output", str(work / "mix.txt"),
           "--seed", "1"])
    (work / "groups.cfg").write_text(GROUPS)
    read_all = child("read", files=files, branches=None)
    print(f"uproot read of all branches: {read_all['rate']:,.0f} entries/s, peak RSS {read_all['rss_mb']:.0f} MB")
    flatten = ["--pt-bins", "20, 30, 50, 100, 1000", "--eta-bins", "0, 1.5, 2.3"]
    take_all = ["--pt-bins", "20, 1000", "--eta-bins", "0, 2.3", "--tau-ratio", "e:-1, mu:-1, tau:-1, jet:-1"]
    for label, algo, level, opts in (("flatten", "ZLIB", 1, flatten), ("flatten", "LZ4", 4, flatten),
                                     ("take all", "ZLIB", 1, take_all), ("take all", "LZ4", 4, take_all)):
        res = child("merge", entries=total, argv=[
            "--cfg", str(work / "groups.cfg"), "--input", str(work / "mix.txt"), "--prefix", str(work / "raw"),
            "--input-spec", str(spec), "--output", str(work / f"out_{algo}.root"), *opts,
            "--compression-algo", algo, "--compression-level", str(level), "--quiet"])
        import uproot
        written = uproot.open(work / f"out_{algo}.root")["taus"].num_entries
        print(f"ShuffleMergeSpectral {label} ({algo}-{level}): {res['rate']:,.0f} input entries/s, {written} written "
              f"({written / total:.0%}), peak RSS {res['rss_mb']:.0f} MB; ratio to the uproot read "
              f"{res['rate'] / read_all['rate']:.2f}, RSS ratio {res['rss_mb'] / read_all['rss_mb']:.2f}")


if __name__ == "__main__":
    main()
