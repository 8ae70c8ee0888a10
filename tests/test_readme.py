"""The README's commands run as printed, so that the README cannot drift from the tools.

Extraction rule (also the comment above the README's table): in the table's "tauml command" column, every
`code span` whose first word is a tauml command (a console script of pyproject.toml, ``python -m tauml…``
or ``snakemake``) is a command; rows run top to bottom from the repository root on a small chain's
results/. A row whose cell says "needs a trained model" is not run; its flags must be in the command's --help.

The default-suite test builds that chain's preprocessing inputs itself (random TauTuples, binned in process
with config/test/readme.yaml's bins) and runs the commands from the size list to the validation, but for the
testing-inputs ShuffleMerge. That one, the ML rows after the validation, TauTupleProducer, CreateBinnedTuples
and the snakemake commands (as --dry-run) run in the slow test, on the outputs of the real Snakemake chain of
config/test/readme.yaml, which also checks that the rules' size lists are what the README's commands print.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tauml.binning.split import create_binned_tuples
from tauml.core.testing import write_random_tautuple

sys.path.insert(0, str(Path(__file__).parent / "services"))
from ports import wait_listening  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
TEST_CONFIG = REPO / "config" / "test" / "readme.yaml"
NEEDS_MODEL = "needs a trained model"
TABLE_HEAD = "| Original step | Original command | tauml command |"
SLOW_ONLY = ("TauTupleProducer", "CreateBinnedTuples", "snakemake")  # raw-tuple and binning steps, whole chains
SLOW_ONLY_FLAGS = ("--mode MergePerEntry",)  # one 552-branch output per cfg item: the slowest step of a tiny chain
OTHER_STEP1_TYPES = ("e", "mu", "jet")  # the README prints step 1 for tau
# tau types of the random raw tuples per dataset: those the merge and spectral cfgs take from it
DATASET_TYPES = {"DYtautau": ("tau", "jet"), "DYee": ("e",), "DYmumu": ("mu",), "WJets": ("jet",), "TT": ("jet",),
                 "QCD": ("jet",), "ZprimeTauTau": ("tau",), "ZprimeEE": ("e",)}
RANDOM_ENTRIES = 120
LAST_PREPROCESSING_STEP = "Validation"


def console_scripts() -> set[str]:
    return set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])


def is_command(span: str, scripts: set[str]) -> bool:
    first = span.split()[0] if span.split() else ""
    return first in scripts or first == "snakemake" or span.startswith("python -m tauml")


def table_rows(text: str) -> list[tuple[str, str]]:
    """(original step, tauml command cell) of every row of the mapping table."""
    lines = text[text.index(TABLE_HEAD):].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append((cells[0], cells[2]))
    return rows


def readme_commands() -> list[tuple[str, str, bool]]:
    """(step, command, run it) in README order; step 1 of ShuffleMerge also for the other tau types."""
    scripts = console_scripts()
    found = []
    for step, cell in table_rows(README.read_text()):
        for span in re.findall(r"`([^`]+)`", cell):
            command = span.replace("\\|", "|")
            if not is_command(command, scripts):
                continue
            found.append((step, command, NEEDS_MODEL not in cell))
            if "training_inputs_tau.cfg" in command and "all/tau_pt" in command:
                found += [(step, command.replace("training_inputs_tau", f"training_inputs_{t}")
                           .replace("all/tau_pt", f"all/{t}_pt"), True) for t in OTHER_STEP1_TYPES]
    return found


def run(command: str, workdir: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(command, shell=True, cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=timeout, executable="/bin/bash")
    assert proc.returncode == 0, f"README command failed ({proc.returncode}): {command}\n{proc.stderr[-3000:]}"
    return proc


def make_workdir(path: Path) -> Path:
    """A directory standing for the repository root: config/ links to the repository's."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "config").symlink_to(REPO / "config")
    return path


def fast(command: str) -> bool:
    return command.split()[0] not in SLOW_ONLY and not any(flag in command for flag in SLOW_ONLY_FLAGS)


def check_outputs(workdir: Path, testing: bool = True) -> None:
    results = workdir / "results"
    step1 = (results / "training_preparation" / "size_list.txt").read_text().splitlines()
    assert sorted(line.split()[0] for line in step1) == sorted(
        f"all/{t}_pt_20_eta_0.000.root" for t in ("e", "mu", "tau", "jet"))
    assert (results / "training_preparation" / "training_tauTuple.root").stat().st_size > 0
    if testing:
        assert list((results / "training_preparation" / "testing").glob("*.root"))
    summary = (results / "validation" / "summary.txt").read_text().splitlines()
    assert summary[-1].startswith(("validation PASSED", "validation FAILED"))


def test_extraction_finds_every_step():
    commands = readme_commands()
    first_words = [c.split()[0] for _, c, _ in commands]
    for tool in ("TauTupleProducer", "CreateBinnedTuples", "CreateTupleSizeList", "ShuffleMerge",
                 "CreateSpectralHists", "ShuffleMergeSpectral", "validation_tool", "snakemake"):
        assert tool in first_words
    assert not [c for _, c, _ in commands if "…" in c or re.search(r"\[--", c)], "placeholders in a command"
    scripts = console_scripts()
    unknown = [c for _, c, _ in commands if c.split()[0] not in scripts | {"snakemake", "python"}]
    assert unknown == []


def test_commands_needing_a_model_have_their_flags():
    """Rows that the chain cannot run (no trained model here) at least name flags the command has."""
    for step, command, runnable in readme_commands():
        if runnable:
            continue
        words = shlex.split(command.split(">")[0])
        help_text = subprocess.run([*words[:3 if words[0] == "python" else 1], "--help"], capture_output=True,
                                   text=True, timeout=120).stdout
        missing = [w.split("=")[0] for w in words if w.startswith("--") and w.split("=")[0] not in help_text]
        assert missing == [], f"{step}: {command}: flags not in --help: {missing}"


@pytest.fixture(scope="module")
def preprocessed(tmp_path_factory) -> Path:
    """results/raw (random TauTuples) and results/tuples binned as config/test/readme.yaml says."""
    workdir = make_workdir(tmp_path_factory.mktemp("readme") / "repo")
    config = yaml.safe_load(TEST_CONFIG.read_text())
    assert set(config["datasets"]) == set(DATASET_TYPES)
    for i, (dataset, types) in enumerate(DATASET_TYPES.items()):
        raw = workdir / "results" / "raw" / dataset
        raw.mkdir(parents=True)
        write_random_tautuple(raw / "eventTuple_0.root", RANDOM_ENTRIES * len(types), seed=10 + i, types=types)
        create_binned_tuples(workdir / "results" / "tuples" / dataset, [raw], config["binning"]["pt_bins"],
                             config["binning"]["eta_bins"])
    return workdir


def test_readme_preprocessing_commands_run_as_printed(preprocessed):
    ran = []
    for step, command, runnable in readme_commands():
        if ran and ran[-1] == LAST_PREPROCESSING_STEP and step != LAST_PREPROCESSING_STEP:
            break  # the ML rows need more than this small chain's inputs: the slow test runs them
        if runnable and fast(command):
            run(command, preprocessed)
            ran.append(step)
    assert {"Size list", "Size list of step 1", "ShuffleMerge step 2", "ShuffleMergeSpectral (law/HTCondor)",
            "Validation"} <= set(ran)
    check_outputs(preprocessed, testing=False)


PREPROCESSING_TARGETS = ["results/training_preparation/training_tauTuple.root", "results/training_preparation/testing",
                         "results/validation/summary.txt"]


@pytest.mark.slow
def test_readme_commands_on_the_chain_outputs(tmp_path):
    """The chain of config/test/readme.yaml through Snakemake, then every README command on its outputs."""
    workdir = make_workdir(tmp_path / "repo")
    for name in ("Snakefile", "rules", "envs", "profiles"):
        (workdir / name).symlink_to(REPO / name)
    chain = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *PREPROCESSING_TARGETS,
                            "--configfile", str(TEST_CONFIG)], cwd=workdir, capture_output=True, text=True,
                           timeout=1800)
    assert chain.returncode == 0, chain.stderr[-5000:]
    results = workdir / "results"
    # the rules' size lists are what the README's commands print
    for size_list in ("tuples/size_list.txt", "training_preparation/size_list.txt"):
        command = next(c for _, c, _ in readme_commands() if c.endswith(f"> results/{size_list}"))
        rerun = run(command.replace(f"> results/{size_list}", "> size_list.new"), workdir)
        assert rerun.returncode == 0
        assert (workdir / "size_list.new").read_text() == (results / size_list).read_text()
    for _, command, runnable in readme_commands():
        if not runnable:
            continue
        if command.startswith("snakemake") and "--dry-run" not in command:
            command += " --dry-run"
        if command.startswith("run_tensorboard"):
            assert_serves(command, workdir)
            continue
        run(command, workdir, timeout=1800)
    check_outputs(workdir)


def assert_serves(command: str, workdir: Path, timeout: float = 180) -> None:
    """A server command (TensorBoard) runs as printed: it listens on its --port, then is stopped."""
    port = int(re.search(r"--port (\d+)", command)[1])
    proc = subprocess.Popen(command, shell=True, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, executable="/bin/bash", start_new_session=True)
    try:
        listening = wait_listening(port, proc, timeout, interval=0.5)
        assert proc.poll() is None, f"exited ({proc.returncode}): {command}\n{proc.stdout.read()[-3000:]}"
        assert listening, f"no server on port {port} after {timeout} s: {command}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
