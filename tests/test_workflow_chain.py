"""The workflow as Snakemake sees it: lint-clean rule files that follow the project's rule conventions, and
(slow) the tiny preprocessing chain of config/test/chain.yaml run through ShuffleMerge, ShuffleMergeSpectral
and validation."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import uproot

from tauml.core.schema import TAU_TYPE_BRANCHES, TauType, tau_type

sys.path.insert(0, str(Path(__file__).parent / "services"))
import tiny_chain  # noqa: E402

REPO = tiny_chain.REPO
RULE_DIRECTIVES = ("log:", "conda:", "threads:", "resources:", "benchmark:")
CHAIN_TARGETS = ["results/validation/pvalues.json", "results/training_preparation/training_tauTuple.root",
                 "results/training_preparation/testing"]


def _rules(text: str) -> dict[str, str]:
    """{rule name: its block} of a rule file."""
    blocks = re.split(r"^(?=(?:rule|checkpoint) \w+:)", text, flags=re.M)
    return {re.match(r"(?:rule|checkpoint) (\w+):", b)[1]: b for b in blocks if re.match(r"(?:rule|checkpoint) ", b)}


@pytest.mark.parametrize("rule_file", sorted(p.name for p in (REPO / "rules").glob("*.smk")))
def test_rule_file_conventions(rule_file):
    text = (REPO / "rules" / rule_file).read_text()
    rules = _rules(text)
    if rule_file in ("common.smk", "batch.smk"):
        assert not rules, f"{rule_file} holds no rules"
        return
    header = "".join(line for line in text.splitlines(keepends=True)[:6] if line.startswith("#"))
    assert re.search(r"tauml\.[a-z_]+\.[a-z_]+", header), f"{rule_file}: header names no module"
    for name, block in rules.items():
        assert not block.startswith("checkpoint"), f"{name}: no checkpoint is consumed as one"
        for directive in RULE_DIRECTIVES:
            assert re.search(rf"^    {directive}", block, re.M), f"{rule_file}: rule {name} lacks {directive}"
        shell = block.split("    shell:", 1)[-1]
        for path in re.findall(r"\{((?:input|output|log)(?:\.\w+)?)(:q)?\}", shell):
            assert path[1] == ":q", f"{rule_file}: rule {name} uses {{{path[0]}}} unquoted in its shell command"


def test_snakemake_lint_is_clean():
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and "Lints for" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


@pytest.mark.slow
def test_tiny_chain_through_shufflemerge_spectral_and_validation(tmp_path):
    workdir = tiny_chain.make_workdir(tmp_path / "chain", config="chain.yaml")
    tiny_chain.snakemake(workdir, "--cores", "2", *CHAIN_TARGETS, timeout=1500)
    results = workdir / "results"

    with uproot.open(results / "training_preparation" / "training_tauTuple.root") as f:
        tree = f["taus"]
        assert tree.num_entries > 0
        weights = tree["trainingWeight"].array(library="np")
        kinds = set(tau_type(tree.arrays(list(TAU_TYPE_BRANCHES), library="np")).tolist())
    assert (weights > 0).all()
    assert kinds == {TauType.e, TauType.mu, TauType.tau, TauType.jet}  # the four step-1 outputs mixed
    testing = sorted(p.name for p in (results / "training_preparation" / "testing").glob("*.root"))
    assert testing == ["e_DY.root", "jet_QCD.root", "mu_DY.root", "tau_DY.root"]
    with uproot.open(results / "shuffled" / "ShuffleMergeSpectral_0.root") as f:
        assert f["taus"].num_entries > 0
        assert set(f["taus"]["tauType"].array(library="np").tolist()) == {0, 1, 2, 3}  # e, mu, tau, jet
    pvalues = json.loads((results / "validation" / "pvalues.json").read_text())
    assert len(pvalues["tauType"]["pvalues"]) == 4  # nsplit
    assert (results / "validation" / "histograms.root").stat().st_size > 0

    # every job left Snakemake's benchmark record (one row: seconds, max RSS, ...)
    benchmarks = sorted(p.relative_to(results / "benchmarks").parts[0] for p in (results / "benchmarks").rglob("*.tsv"))
    assert set(benchmarks) >= {"produce", "bin_dataset", "size_list", "shufflemerge_step1", "shufflemerge_step1_size_list",
                               "shufflemerge_step2", "shufflemerge_testing", "spectral_hists", "spectral_filelist",
                               "shuffle_merge_spectral", "spectral_hashes", "validation"}
    for path in (results / "benchmarks").rglob("*.tsv"):
        row = next(csv.DictReader(path.open(), delimiter="\t"))
        assert float(row["s"]) > 0 and "max_rss" in row, path

    plan = tiny_chain.snakemake(workdir, "--dry-run", "--cores", "2", *CHAIN_TARGETS)
    assert "Nothing to be done" in plan.stdout + plan.stderr
