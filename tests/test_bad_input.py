"""Bad input never passes silently (issue 10), class by class, on every command a class applies to.

Each case runs a real command on a copy of a small chain the commands made themselves (raw TauTuples ->
CreateBinnedTuples -> CreateTupleSizeList -> ShuffleMerge; CreateSpectralHists -> ShuffleMergeSpectral ->
validation_tool), spoils one input, and checks the exit status, that the message names the file and the
problem, and that neither the output nor a temporary is left behind.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import uproot

from tauml.binning.dedup import find_duplicates
from tauml.cli.binning import create_binned_tuples, create_tuple_size_list
from tauml.cli.shufflemerge import main as shuffle_merge
from tauml.cli.spectral import create_spectral_hists, shuffle_merge_spectral
from tauml.cli.spectral_tools import main as spectral_tools
from tauml.cli.validation import main as validation_tool
from tauml.core.errors import OutputError
from tauml.core.io import scratch_dir, write_tree
from tauml.core.testing import random_tautuple, write_random_tautuple

PT, ETA = "20, 100, 1000", "0, 1.15, 2.3"
N_RAW = 400
MERGE_CFG = "all: dir=DS1 file=(e|mu|tau|jet)_pt_.*\n"
GROUPS_CFG = "G: dir=DS1 file=eventTuple.* types=e,mu,tau,jet\n"
TEMPORARY = re.compile(r"\.(tmp|shards|spill)\d+$")
KILLED_ENTRIES = 100_000  # a CreateBinnedTuples run of a few seconds, to be killed in the middle


def _run(main, argv, capsys):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Every command's good inputs, made by the commands from two raw files of one dataset."""
    top = tmp_path_factory.mktemp("chain")
    for j in range(2):
        write_random_tautuple(top / "raw" / "DS1" / f"eventTuple_{j}.root", N_RAW, seed=j + 1, all_branches=False)
    assert create_binned_tuples(["--output", str(top / "bins" / "DS1"), "--input-dir", str(top / "raw" / "DS1"),
                                 "--pt-bins", PT, "--eta-bins", ETA]) == 0
    (top / "spec").mkdir()
    assert create_spectral_hists(["--output", str(top / "spec" / "DS1.root"), "--output_entries",
                                  str(top / "spec" / "DS1.txt"), "--input-dir", str(top / "raw" / "DS1"),
                                  "--quiet"]) == 0
    assert spectral_tools(["filelist", str(top / "spec" / "DS1.txt"), "--output", str(top / "mix.txt")]) == 0
    (top / "groups.cfg").write_text(GROUPS_CFG)
    (top / "merge.cfg").write_text(MERGE_CFG)
    listing = io.StringIO()
    with contextlib.redirect_stdout(listing):
        assert create_tuple_size_list(["--input", str(top / "bins")]) == 0
    (top / "bins" / "size_list.txt").write_text(listing.getvalue())
    mixed = top / "shuf" / "ShuffleMergeSpectral_0.root"
    assert shuffle_merge_spectral([str(a) for a in _spectral_args(top, mixed)]) == 0
    return top


def _spectral_args(top, output, *extra):
    return ["--cfg", top / "groups.cfg", "--input", top / "mix.txt", "--prefix", top / "raw", "--input-spec",
            top / "spec", "--output", output, "--pt-bins", PT, "--eta-bins", ETA, "--tau-ratio",
            "e:-1, mu:-1, tau:-1, jet:-1", "--compression-algo", "LZ4", "--compression-level", "1", "--quiet",
            *extra]


@dataclass
class Command:
    """A command, the inputs it needs (copied from the chain), the file a test spoils, the command line for a
    work directory and an output, and the output's name (None: the command prints)."""
    name: str
    main: Callable[[list[str]], int]
    inputs: tuple[str, ...]
    victim: str
    argv: Callable[[Path, Path], list]
    output: str | None

    def prepare(self, chain: Path, work: Path) -> Path:
        for rel in self.inputs:
            src, dst = chain / rel, work / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
        return work / self.victim



def _validation_args(w, out):
    hashes = w / "shuf" / "hashes" / "out_0"
    return ["--input", w / "shuf", "--regex", r"ShuffleMergeSpectral_[0-9]+\.root$", "--id_json",
            hashes / "dataset_hash.json", "--group_id_json", hashes / "datagroup_hash.json", "--output", out,
            "--nsplit", "2", "--formats", "none"]


RAW = ("raw",)
COMMANDS = {
    "CreateBinnedTuples": Command(
        "CreateBinnedTuples", create_binned_tuples, RAW, "raw/DS1/eventTuple_0.root",
        lambda w, out: ["--output", out, "--input-dir", w / "raw" / "DS1", "--pt-bins", PT, "--eta-bins", ETA],
        "bins_out"),
    "CreateTupleSizeList": Command(
        "CreateTupleSizeList", create_tuple_size_list, ("bins",), "bins/DS1/jet_pt_20_eta_0.000.root",
        lambda w, out: ["--input", w / "bins"], None),
    "ShuffleMerge": Command(
        "ShuffleMerge", shuffle_merge, ("bins", "merge.cfg"), "bins/DS1/jet_pt_20_eta_0.000.root",
        lambda w, out: ["--cfg", w / "merge.cfg", "--input", w / "bins", "--output", out, "--pt-bins", PT,
                        "--eta-bins", ETA, "--no-progress"], "merged.root"),
    "CreateSpectralHists": Command(
        "CreateSpectralHists", create_spectral_hists, RAW, "raw/DS1/eventTuple_0.root",
        lambda w, out: ["--output", out, "--output_entries", out.with_suffix(".txt"), "--input-dir",
                        w / "raw" / "DS1", "--quiet"], "spectrum.root"),
    "ShuffleMergeSpectral": Command(
        "ShuffleMergeSpectral", shuffle_merge_spectral, ("raw", "spec", "mix.txt", "groups.cfg"),
        "raw/DS1/eventTuple_0.root", lambda w, out: _spectral_args(w, out), "mixed.root"),
    "ShuffleMergeSpectral --refill-spectrum": Command(
        "ShuffleMergeSpectral --refill-spectrum", shuffle_merge_spectral, ("raw", "mix.txt", "groups.cfg"),
        "raw/DS1/eventTuple_0.root",
        lambda w, out: [a for a in _spectral_args(w, out, "--refill-spectrum") if a != "--input-spec"
                        and a != w / "spec"], "mixed.root"),
    "validation_tool": Command(
        "validation_tool", validation_tool, ("shuf",), "shuf/ShuffleMergeSpectral_0.root", _validation_args,
        "validation"),
}


def _commands(*names):
    return [pytest.param(COMMANDS[n], id=n) for n in names]


def _run_command(cmd: Command, work: Path, capsys):
    """Exit status, stdout, stderr and the output path (None for CreateTupleSizeList, which prints)."""
    out = work / "out" / (cmd.output or "unused")
    rc, stdout, err = _run(cmd.main, cmd.argv(work, out), capsys)
    return rc, stdout, err, out if cmd.output else None


def _error_line(err: str) -> str:
    """The one ``prog: error: ...`` line of a failed command (progress and log lines aside)."""
    lines = [x for x in err.splitlines() if ": error: " in x]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _assert_nothing_left(work: Path, out: Path | None):
    left = [p for p in work.rglob("*") if TEMPORARY.search(p.name) or p.name.startswith(".spill")]
    assert not left, f"temporaries left: {left}"
    if out is not None:
        assert not out.exists() and not out.with_suffix(".txt").exists()


def _rewrite(path: Path, change) -> None:
    """Rewrite tree ``taus`` of ``path`` (flat branches only) after ``change(arrays)``."""
    arrays = uproot.open(path)["taus"].arrays(library="np")
    change(arrays)
    path.unlink()
    write_tree(path, arrays)


# 1. non-finite values ---------------------------------------------------------------------------------------

NON_FINITE = [("tau_pt", math.nan), ("tau_eta", math.inf), ("tau_pt", -math.inf)]


@pytest.mark.parametrize("branch, value", NON_FINITE, ids=[f"{b}={v}" for b, v in NON_FINITE])
@pytest.mark.parametrize("cmd", _commands("CreateBinnedTuples", "CreateSpectralHists", "ShuffleMergeSpectral",
                                          "ShuffleMergeSpectral --refill-spectrum", "validation_tool"))
def test_non_finite_value_is_an_error_naming_file_entry_and_branch(chain, tmp_path, capsys, cmd, branch, value):
    victim = cmd.prepare(chain, tmp_path)

    def spoil(arrays):
        arrays[branch][7] = value

    _rewrite(victim, spoil)
    rc, stdout, err, out = _run_command(cmd, tmp_path, capsys)
    assert rc == 1, err
    line = _error_line(err)
    assert f"{victim}: tree 'taus' entry 7: branch '{branch}' is {value}, not a finite number" in line, err
    _assert_nothing_left(tmp_path, out)


# 2. truncated files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cmd", _commands(*COMMANDS))
def test_truncated_file_is_named_as_such(chain, tmp_path, capsys, cmd):
    victim = cmd.prepare(chain, tmp_path)
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    rc, stdout, err, out = _run_command(cmd, tmp_path, capsys)
    assert rc == 1, err
    line = _error_line(err)
    assert f"{victim}: truncated or corrupt: expected {len(data)} bytes, found {len(data) // 2}" in line, err
    assert stdout == "", stdout
    _assert_nothing_left(tmp_path, out)


# 3. empty dataset loops ------------------------------------------------------------------------------------

LOOPS = {
    "CreateBinnedTuples": (create_binned_tuples, lambda raw, out, *f: ["--input", raw, "--output", out, *f]),
    "CreateSpectralHists": (create_spectral_hists, lambda raw, out, *f: ["--input", raw, "--output", out,
                                                                          "--quiet", *f]),
}


@pytest.mark.parametrize("with_filter", [False, True], ids=["empty", "nothing-matches-filter"])
@pytest.mark.parametrize("name", LOOPS)
def test_empty_dataset_loop_is_an_error(chain, tmp_path, capsys, name, with_filter):
    main, argv = LOOPS[name]
    raw = tmp_path / "raw"
    if with_filter:
        shutil.copytree(chain / "raw", raw)
        rc, _, err = _run(main, argv(raw, tmp_path / "out", "--filter", "^NoSuchDataset$"), capsys)
        assert rc == 1 and f"{raw}: no dataset sub-directory matches --filter '^NoSuchDataset$'" in err, err
    else:
        raw.mkdir()
        (raw / "stray.root").write_text("a file, not a dataset directory")
        rc, _, err = _run(main, argv(raw, tmp_path / "out"), capsys)
        assert rc == 1 and f"{raw}: no dataset sub-directory found" in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    _assert_nothing_left(tmp_path, None)


# 4. unwritable outputs ---------------------------------------------------------------------------------------

WRITERS = ("CreateBinnedTuples", "ShuffleMerge", "CreateSpectralHists", "ShuffleMergeSpectral", "validation_tool")


@contextlib.contextmanager
def _file_size_limit(nbytes: int):
    """Writes beyond ``nbytes`` fail with EFBIG (Python ignores SIGXFSZ): a disk that fills up."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.mark.parametrize("problem", ["not-a-directory", "permission", "disk-full"])
@pytest.mark.parametrize("cmd", _commands(*WRITERS))
def test_unwritable_output_is_one_line_naming_the_path(chain, tmp_path, capsys, cmd, problem):
    cmd.prepare(chain, tmp_path)
    # root writes through any mode bits, but not into sysfs, which refuses new entries to everyone
    as_root = problem == "permission" and os.geteuid() == 0
    parent = Path("/sys") if as_root else tmp_path / "out"
    reason = {"not-a-directory": rf"({re.escape(str(parent))} is not a directory|Not a directory)",
              "permission": "Permission denied|Operation not permitted|Read-only file system",
              "disk-full": "File too large"}[problem]
    if problem == "not-a-directory":
        parent.write_text("a file where the output directory should be")
    elif not as_root:
        parent.mkdir(mode=0o500 if problem == "permission" else 0o700)
    out = parent / cmd.output
    guard = _file_size_limit(4096) if problem == "disk-full" else contextlib.nullcontext()
    try:
        with guard:
            rc = cmd.main([str(a) for a in cmd.argv(tmp_path, out)])
    finally:
        if parent.is_dir() and not as_root:
            parent.chmod(0o700)
    err = capsys.readouterr().err
    assert rc == 1, err
    line = _error_line(err)  # names the output, or for a full disk the file that hit the limit inside it
    assert re.search(rf"error: {re.escape(str(parent))}/\S+: cannot write[^(]* \((?:{reason})\)$", line), err
    _assert_nothing_left(tmp_path, out)
    if parent.is_dir() and not as_root:
        assert not any(p for p in parent.rglob("*") if p.is_file() and p.suffix in (".root", ".txt", ".json"))


# 5. killed runs ------------------------------------------------------------------------------------------------


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("cmd", _commands(*WRITERS))
def test_rerun_removes_temporaries_of_dead_runs_only(chain, tmp_path, cmd, capsys):
    cmd.prepare(chain, tmp_path)
    out = tmp_path / "out" / cmd.output
    out.parent.mkdir()
    dead, alive = _dead_pid(), os.getppid()
    stale_dir = out.with_name(f".{out.name}.tmp{dead}")
    (stale_dir / "sub").mkdir(parents=True)
    (stale_dir / "sub" / "part.root").write_bytes(b"partial")
    live = out.with_name(f".{out.name}.tmp{alive}")
    live.write_bytes(b"a live run's temporary")
    rc, _, err = _run(cmd.main, cmd.argv(tmp_path, out), capsys)
    assert rc == 0, err
    assert out.exists() and not stale_dir.exists()
    assert live.exists(), "a temporary of a live process was removed"


def test_scratch_dir_is_removed_after_a_failure_and_after_a_kill(tmp_path):
    final = tmp_path / "out.root"
    stale = final.with_name(f".out.root.shards{_dead_pid()}")
    (stale / "w1").mkdir(parents=True)
    with pytest.raises(OutputError, match=f"{final}: cannot write output"):
        with scratch_dir(final, "shards") as work:
            assert work.is_dir() and not stale.exists()
            (work / "missing" / "shard_0").write_bytes(b"")
    assert list(tmp_path.iterdir()) == []


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "\nState:\tZ" in status.read_text())


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc to find the writer processes")
def test_kill_9_leaves_no_writer_and_the_rerun_cleans_up(tmp_path):
    raw = tmp_path / "raw"
    write_random_tautuple(raw / "eventTuple_0.root", KILLED_ENTRIES, seed=40, all_branches=False)
    argv = [sys.executable, "-c", "from tauml.cli.binning import create_binned_tuples as m; raise SystemExit(m())",
            "--input-dir", str(raw), "--pt-bins", PT, "--eta-bins", ETA, "--n-threads", "2"]
    reference = tmp_path / "reference"
    subprocess.run(argv + ["--output", str(reference)], check=True, capture_output=True, timeout=300)
    out = tmp_path / "DS"
    job = subprocess.Popen(argv + ["--output", str(out)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    writers: list[int] = []
    while time.monotonic() < deadline and job.poll() is None:
        writers = _children(job.pid)
        if len(writers) >= 2 and (tmp_path / f".DS.tmp{job.pid}").is_dir():
            break
        time.sleep(0.01)
    assert job.poll() is None and len(writers) >= 2, "the run ended before it could be killed"
    job.send_signal(signal.SIGKILL)
    job.wait()
    debris = tmp_path / f".DS.tmp{job.pid}"
    assert debris.is_dir(), "nothing to clean up: the kill came too late"
    deadline = time.monotonic() + 5
    while any(_alive(w) for w in writers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in writers), "writer processes outlived their killed parent"
    subprocess.run(argv + ["--output", str(out)], check=True, capture_output=True, timeout=300)
    assert not debris.exists()
    assert not [p for p in tmp_path.iterdir() if TEMPORARY.search(p.name)]
    names = sorted(p.name for p in reference.iterdir())
    assert names == sorted(p.name for p in out.iterdir())
    for name in names:  # same arrays (ROOT files carry their creation time, so bytes differ)
        tree = "summary" if name == "summary.root" else "taus"
        got, want = (uproot.open(d / name)[tree].arrays(library="np") for d in (out, reference))
        assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want), name


# 6. distinct candidates without reco jet and tau ---------------------------------------------------------


def test_candidates_without_jet_and_tau_are_not_duplicates(tmp_path, capsys):
    a = random_tautuple(6, seed=5, all_branches=False)
    a["evt"][:] = 77  # one event
    a["jet_index"][:] = -1
    a["tau_index"][:] = -1  # neither a reco jet nor a reco tau: generator leptons / jets alone
    a["genLepton_index"][:] = np.array([0, 1, 2, -1, -1, 0], np.int32)
    a["genJet_index"][:] = np.array([-1, -1, -1, 0, 1, -1], np.int32)  # entry 5 repeats entry 0
    raw = tmp_path / "raw"
    write_tree(raw / "a.root", a)
    write_tree(raw / "b.root", {k: np.asarray(v)[:2] for k, v in a.items()})  # a re-processed copy of two
    dups = find_duplicates([raw / "a.root", raw / "b.root"], tmp_path / "keys")
    assert [d.tolist() for d in dups] == [[5], [0, 1]]
    rc, _, err = _run(create_binned_tuples, ["--output", tmp_path / "bins", "--input-dir", raw, "--pt-bins", PT,
                                             "--eta-bins", ETA], capsys)
    assert rc == 0, err
    assert uproot.open(tmp_path / "bins" / "other.root")["taus"].num_entries == 5
    assert "3 duplicates dropped" in err


# 7. missing branches -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cmd", _commands("CreateBinnedTuples", "CreateSpectralHists", "ShuffleMergeSpectral",
                                          "ShuffleMergeSpectral --refill-spectrum", "validation_tool"))
def test_missing_branch_names_file_and_branch(chain, tmp_path, capsys, cmd):
    victim = cmd.prepare(chain, tmp_path)
    _rewrite(victim, lambda arrays: arrays.pop("tau_pt"))
    rc, _, err, out = _run_command(cmd, tmp_path, capsys)
    assert rc == 1, err
    assert f"{victim}: tree 'taus' lacks required branch(es): tau_pt" in _error_line(err), err
    assert "not found" not in err, err
    _assert_nothing_left(tmp_path, out)
