"""Planning time of a production-size configuration, against the default chain's, measured in the same run.

    python benchmarks/dryrun_plan.py [--profile profiles/htcondor] [--configfile config/full.yaml]

Runs `snakemake --dry-run --quiet` (the plan, without printing every job) for both configurations from the
repository root and prints wall time, peak memory (RSS of the child) and the jobs planned.
"""
import argparse
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def plan(profile: str, configfile: str | None) -> tuple[float, int]:
    cmd = [sys.executable, "-m", "snakemake", "--profile", profile, "--dry-run", "--quiet", "rules"]
    if configfile:
        cmd += ["--configfile", configfile]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return seconds, int(re.search(r"^total\s+(\d+)$", proc.stdout, re.M)[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="profiles/htcondor")
    p.add_argument("--configfile", default="config/full.yaml")
    args = p.parse_args()
    ref_s, ref_jobs = plan(args.profile, None)
    full_s, full_jobs = plan(args.profile, args.configfile)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"default config: {ref_s:.1f} s for {ref_jobs} jobs")
    print(f"{args.configfile}: {full_s:.1f} s for {full_jobs} jobs (peak RSS {peak_mb:.0f} MB)")
    print(f"ratio: {full_s / ref_s:.1f}x the time for {full_jobs / max(ref_jobs, 1):.0f}x the jobs")


if __name__ == "__main__":
    main()
