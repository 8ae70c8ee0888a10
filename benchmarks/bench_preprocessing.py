"""Every preprocessing command on CMS-format inputs (``make_cms_inputs.py``), with the README's options; tauml
as checked out here ("new") and, with --old, another tauml source tree ("old", e.g. the last commit:
``mkdir /tmp/tauml_old && git archive HEAD tauml | tar -x -C /tmp/tauml_old``), interleaved step by step.

    python benchmarks/make_cms_inputs.py --output /tmp/cms_inputs --datasets A:2,B:1 --entries 2000
    python benchmarks/bench_preprocessing.py --inputs /tmp/cms_inputs --work /tmp/bench_pre --old /tmp/tauml_old

Each command runs in its own process; it prints wall time, rate (entries/s: input entries for CreateBinnedTuples,
CreateSpectralHists and ShuffleMergeSpectral, output entries for ShuffleMerge, as the issue's table) and peak
RSS (sum over the command's processes, and the largest one, sampled every 0.2 s).
"""
from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench_binning import _tree_rss_kb

README_PT = "20, 25, 30, 35, 40, 45, 50, 55, 60, 70, 80, 90, 100, 120, 140, 160, 180, 200, 225, 250, 275, 300, " \
            "350, 400, 450, 500, 600, 700, 800, 900, 1000"
README_ETA = "0., 0.575, 1.15, 1.725, 2.3"
MERGE_PT = README_PT[:README_PT.index(", 350")]  # 20-300, as in the measurement
SPECTRAL = ["--mode", "MergeAll", "--disabled-branches", "trainingWeight, tauType",
            "--pt-bins", "20, 30, 40, 50, 60, 70, 80, 90, 100, 1000", "--eta-bins", "0., 0.6, 1.2, 1.8, 2.4",
            "--tau-ratio", "jet:1, e:1, mu:1, tau:1", "--lastbin-disbalance", "100.0", "--lastbin-takeall", "true",
            "--refill-spectrum", "true", "--enable-emptybin", "true", "--job-idx", "0", "--n-jobs", "1"]
TYPES = ("e", "mu", "tau", "jet")

# runs a tauml console entry point from a given source tree, bypassing the editable install's finder
RUNNER = r"""
import importlib, sys
root, module, function = sys.argv[1:4]
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "")]
sys.path.insert(0, root)
entry = getattr(importlib.import_module(module), function)
sys.exit(entry(sys.argv[4:]) or 0)
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(root: Path, entry: str, args: list[str], log: Path, stdout: Path | None = None
        ) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds (all its processes), peak summed RSS and peak single-process RSS (kB) of one
    command."""
    module, function = entry.split(":")
    cmd = [sys.executable, "-c", RUNNER, str(root), module, function, *args]
    with open(log, "w") as err, open(stdout or log.with_suffix(".out"), "w") as out:
        start, cpu = time.perf_counter(), _children_cpu()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        peak_sum = peak_max = 0
        while proc.poll() is None:
            s, m = _tree_rss_kb(proc.pid)
            peak_sum, peak_max = max(peak_sum, s), max(peak_max, m)
            time.sleep(0.2)
        wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if proc.returncode:
        sys.exit(f"{entry} {' '.join(args)} failed with status {proc.returncode}; see {log}")
    return wall, cpu, peak_sum, peak_max


def entries_of(path: Path) -> int:
    import uproot
    with uproot.open(path) as f:
        return f["taus"].num_entries


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inputs", type=Path, required=True, help="make_cms_inputs.py output: one directory per dataset")
    p.add_argument("--work", type=Path, default=Path("/tmp/bench_preprocessing"))
    p.add_argument("--old", type=Path, help="another tauml source tree to run beside this one")
    p.add_argument("--n-threads", default="2")
    p.add_argument("--binning-compression", default="LZ4:4", metavar="ALGO:LEVEL",
                   help="CreateBinnedTuples output compression (default: %(default)s, tauml's default; the original "
                        "wrote ZLIB:9)")
    p.add_argument("--lzma", action="store_true", help="also ShuffleMergeSpectral at its default LZMA 9 (slow)")
    p.add_argument("--only", help="comma-separated command names to run (default: all), e.g. "
                                   "'CreateSpectralHists,ShuffleMergeSpectral'")
    p.add_argument("--merge-datasets", help="comma-separated datasets ShuffleMerge takes (default: all)")
    p.add_argument("--merge-pt-bins", default=MERGE_PT,
                   help="ShuffleMerge MergeAll pt bins (default: the README's up to 300); with weights every "
                        "bin needs entries, so small inputs need coarser bins")
    args = p.parse_args()
    datasets = sorted(d.name for d in args.inputs.iterdir() if d.is_dir())
    raw = {ds: sorted((args.inputs / ds).glob("*.root")) for ds in datasets}
    n_in = sum(entries_of(f) for files in raw.values() for f in files)
    size = sum(f.stat().st_size for files in raw.values() for f in files)
    print(f"input: {', '.join(f'{ds} {len(raw[ds])} files' for ds in datasets)}; {n_in} entries, {size / 1e6:.0f} MB",
          flush=True)
    versions = {"new": Path(__file__).resolve().parent.parent}
    if args.old:
        versions = {"old": args.old.resolve(), **versions}
    if args.work.exists() and not args.only:  # with --only, earlier steps' outputs are reused
        shutil.rmtree(args.work)
    nt = ["--n-threads", args.n_threads]

    only = set(args.only.split(",")) if args.only else None

    def step(label: str, entry: str, make_args, entries=None, stdout=None):
        if only and label.split(",")[0].split()[0] not in only:
            return
        for version, root in versions.items():
            work = args.work / version
            work.mkdir(parents=True, exist_ok=True)
            argv = make_args(work)
            log = work / f"{label.replace(' ', '_').replace(',', '')}.log"
            wall, cpu, rss_sum, rss_max = run(root, entry, argv, log, stdout(work) if stdout else None)
            n = entries(work) if callable(entries) else entries
            rate = f"{n / wall:7,.0f}/s wall {n / cpu:7,.0f}/s CPU" if n else " " * 30
            print(f"{label:<44} {version:>3}: {wall:7.1f} s wall {cpu:7.1f} s CPU  entries: {rate}  peak RSS "
                  f"{rss_sum / 1024:5.0f} MB (largest process {rss_max / 1024:.0f} MB)", flush=True)

    algo, level = args.binning_compression.split(":")
    for ds in datasets:
        step(f"CreateBinnedTuples {ds}, README bins, {algo} {level}", "tauml.cli.binning:create_binned_tuples",
             lambda w, ds=ds: ["--output", str(w / "bins" / ds), "--input-dir", str(args.inputs / ds), *nt,
                               "--pt-bins", README_PT, "--eta-bins", README_ETA, "--compression-algo", algo,
                               "--compression-level", level],
             sum(entries_of(f) for f in raw[ds]))
    step("CreateTupleSizeList", "tauml.cli.binning:create_tuple_size_list",
         lambda w: ["--input", str(w / "bins")], stdout=lambda w: w / "bins" / "size_list.txt")

    merged = args.merge_datasets.split(",") if args.merge_datasets else datasets

    def merge_cfg(w: Path, per_type: bool) -> str:
        items = [f"{ds}_{t}: dir={ds} file={t}_pt_.*" for ds in merged for t in TYPES
                 if any((w / "bins" / ds).glob(f"{t}_pt_*.root"))] if per_type else \
            [f"{ds}: dir={ds} file=({'|'.join(TYPES)})_pt_.*" for ds in merged]
        path = w / ("training.cfg" if per_type else "testing.cfg")
        path.write_text("\n".join(items) + "\n")
        return str(path)

    step("ShuffleMerge MergeAll, pt 20-300, weights", "tauml.cli.shufflemerge:main",
         lambda w: ["--cfg", merge_cfg(w, True), "--input", str(w / "bins"), "--output", str(w / "training.root"),
                    "--pt-bins", args.merge_pt_bins, "--eta-bins", README_ETA, "--mode", "MergeAll",
                    "--calc-weights", "true",
                    "--ensure-uniformity", "true", "--max-bin-occupancy", "500000", *nt,
                    "--disabled-branches", "trainingWeight", "--no-progress"],
         lambda w: entries_of(w / "training.root"))
    step("ShuffleMerge MergePerEntry (testing)", "tauml.cli.shufflemerge:main",
         lambda w: ["--cfg", merge_cfg(w, False), "--input", str(w / "bins"), "--output", str(w / "testing"),
                    "--pt-bins", README_PT, "--eta-bins", README_ETA, "--mode", "MergePerEntry",
                    "--calc-weights", "false", "--ensure-uniformity", "false", "--max-bin-occupancy", "20000", *nt,
                    "--disabled-branches", "trainingWeight", "--no-progress"],
         lambda w: sum(entries_of(f) for f in (w / "testing").glob("*.root")))
    for ds in datasets:
        step(f"CreateSpectralHists {ds}", "tauml.cli.spectral:create_spectral_hists",
             lambda w, ds=ds: ["--output", str(w / "spec" / f"{ds}.root"), "--output_entries",
                               str(w / "spec" / f"{ds}.txt"), "--input-dir", str(args.inputs / ds),
                               "--pt-hist", "980, 20, 1000", "--eta-hist", "250, 0., 2.5", "--n-threads", "1",
                               "--quiet"],
             sum(entries_of(f) for f in raw[ds]))
    for version, root in versions.items():  # the mixed file list and group cfg (not timed)
        w = args.work / version
        if only and "ShuffleMergeSpectral" not in only:
            break
        run(root, "tauml.cli.spectral_tools:main", ["filelist", *(str(w / "spec" / f"{ds}.txt") for ds in datasets),
                                                    "--output", str(w / "mix.txt"), "--seed", "1"], w / "filelist.log")
        (w / "groups.cfg").write_text("".join(f"{ds}: dir={ds} file=.* types={','.join(TYPES)}\n" for ds in datasets))
    for algo, level in (("LZ4", "4"), ("LZMA", "9"))[:2 if args.lzma else 1]:
        step(f"ShuffleMergeSpectral, README options, {algo} {level}", "tauml.cli.spectral:shuffle_merge_spectral",
             lambda w, algo=algo, level=level: [
                 "--cfg", str(w / "groups.cfg"), "--input", str(w / "mix.txt"), "--prefix", str(args.inputs),
                 "--input-spec", str(w / "spec"), "--output", str(w / f"spectral_{algo}.root"), *SPECTRAL, *nt,
                 "--compression-algo", algo, "--compression-level", level, "--quiet"],
             n_in)


if __name__ == "__main__":
    main()
