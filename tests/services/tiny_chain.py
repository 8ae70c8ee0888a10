"""A tiny chain in its own working directory, run by Snakemake through a profile.

The workflow is the repository's Snakefile; the working directory gets ``config/`` (links to the
repository's files, so the config's relative paths resolve) and ``tiny.yaml``: one of the test configurations
``config/test/*.yaml`` (by default ``tiny.yaml``: production and binning of two small datasets), optionally
with other datasets, also as ``config/config.yaml``.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import uproot
import yaml

REPO = Path(__file__).resolve().parents[2]
TEST_CONFIGS = REPO / "config" / "test"
TARGETS = ["results/tuples/size_list.txt"]  # of tiny.yaml
RUN_DEPENDENT = {"exeTime"}  # summary tree: the wall time a job took


def make_workdir(path: Path, datasets: dict | None = None, config: str = "tiny.yaml") -> Path:
    (path / "config").mkdir(parents=True)
    for entry in (REPO / "config").iterdir():
        if entry.name != "config.yaml":
            (path / "config" / entry.name).symlink_to(entry)
    config = yaml.safe_load((TEST_CONFIGS / config).read_text())
    if datasets is not None:
        config["datasets"] = datasets
    # also the Snakefile's own configfile, or Snakemake would merge the default datasets into these
    for name in ("config/config.yaml", "tiny.yaml"):
        (path / name).write_text(yaml.safe_dump(config))
    return path


def snakemake(workdir: Path, *args: str, env: dict | None = None, check: bool = True,
              timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(workdir / "tiny.yaml"), *args]
    proc = subprocess.run(cmd, cwd=workdir, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-8000:]}")
    return proc


def root_outputs(workdir: Path) -> list[str]:
    """Relative paths of the chain's ROOT files (temporary names excluded)."""
    top = workdir / "results"
    return sorted(str(p.relative_to(top)) for p in top.rglob("*.root") if not p.name.startswith("."))


def arrays(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every tree of a ROOT file as numpy arrays (jagged branches as object arrays)."""
    with uproot.open(path) as f:
        return {name: f[name].arrays(library="np") for name in f.keys(cycle=False)
                if isinstance(f[name], uproot.TTree)}


def assert_same_outputs(a: Path, b: Path) -> None:
    files = root_outputs(a)
    assert files == root_outputs(b) and files
    for rel in files:
        trees_a, trees_b = arrays(a / "results" / rel), arrays(b / "results" / rel)
        assert trees_a.keys() == trees_b.keys(), rel
        for tree, branches in trees_a.items():
            assert branches.keys() == trees_b[tree].keys(), (rel, tree)
            for name, values in branches.items():
                if name in RUN_DEPENDENT:
                    continue
                other = trees_b[tree][name]
                assert len(values) == len(other), (rel, tree, name)
                if values.dtype == object:
                    assert all(np.array_equal(x, y) for x, y in zip(values, other)), (rel, tree, name)
                else:
                    assert np.array_equal(values, other), (rel, tree, name)
    texts = sorted(str(p.relative_to(a)) for p in (a / "results").rglob("*.txt") if "logs" not in p.parts)
    for rel in texts:
        assert (a / rel).read_text() == (b / rel).read_text(), rel


def job_resources(log: str) -> dict[str, dict[str, str]]:
    """``{rule[:wildcards]: resources}`` of every job, as Snakemake printed them before running it, plus
    ``threads`` and ``rule``."""
    jobs = {}
    for block in re.split(r"\n(?=\s*(?:local)?(?:rule|checkpoint) \w+:\n)", log):
        head = re.match(r"\s*(?:local)?(?:rule|checkpoint) (\w+):", block)
        res = re.search(r"^\s*resources: (.*)$", block, re.M)
        if not head or not res:
            continue
        wildcards = re.search(r"^\s*wildcards: (.*)$", block, re.M)
        key = head[1] + (":" + wildcards[1].replace(" ", "") if wildcards else "")
        values = dict(item.split("=", 1) for item in res[1].split(", "))
        threads = re.search(r"^\s*threads: (\d+)$", block, re.M)
        values.update(threads=threads[1] if threads else "1", rule=head[1])
        jobs[key] = values
    return jobs
