"""Raw tuples served by a real XRootD server (Debian xrootd-server) on 127.0.0.1 are read like local ones."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from tauml import io, remote
from tauml.testing import write_random_tautuple

XROOTD = shutil.which("xrootd")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"xrootd exited with {proc.returncode}: {log.read_text() if log.exists() else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"xrootd did not listen on port {port} within {timeout} s")


@pytest.fixture(scope="module")
def served():
    """(local directory, root:// URL of it): two datasets of raw tuples, one in a sub-directory."""
    if XROOTD is None:
        pytest.skip("xrootd-server is not installed (tests/services/install-system-deps.sh needs root and apt-get)")
    # xrootd refuses to run as root: it runs as nobody, so the tree must be world-readable (not under tmp_path,
    # whose parent is private to the user).
    top = Path(tempfile.mkdtemp(prefix="tauml-xrootd-", dir="/tmp"))
    try:
        data, run = top / "raw", top / "run"
        for dataset, seeds in {"DYtautau": (1, 2), "crab_TT": (3,)}.items():
            for job, seed in enumerate(seeds):
                write_random_tautuple(data / dataset / f"eventTuple_{job}.root", 400 + 100 * seed, seed=seed)
        (data / "crab_TT" / "extra").mkdir()
        write_random_tautuple(data / "crab_TT" / "extra" / "eventTuple_9.root", 150, seed=9)
        run.mkdir()
        port = _free_port()
        (run / "xrootd.cfg").write_text(f"all.export {data}\nxrd.port {port}\nall.adminpath {run}\n"
                                        f"all.pidpath {run}\n")
        for p in [top, *top.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        cmd = [XROOTD, "-c", str(run / "xrootd.cfg"), "-l", str(run / "xrootd.log"), "-n", "tauml"]
        if os.getuid() == 0:
            shutil.chown(run, user="nobody")
            cmd = ["runuser", "-u", "nobody", "--", *cmd]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_for_port(port, proc, run / "xrootd.log")
            yield data, f"root://127.0.0.1:{port}/{data}"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_iterate_over_root_url_gives_the_local_arrays(served):
    local, url = served
    path = "DYtautau/eventTuple_1.root"
    names = io.payload_branches(io.open_tree(local / path))
    remote_chunks = list(io.iterate(f"{url}/{path}", names, step_size=200))
    assert len(remote_chunks) > 1  # several chunks, read remotely
    got = ak.concatenate(remote_chunks)
    want = uproot.open(local / path)["taus"].arrays(names, library="ak")
    assert ak.fields(got) == ak.fields(want)
    for name in names:
        assert ak.array_equal(got[name], want[name]), name


def test_remote_listing_matches_the_local_one(served):
    local, url = served
    assert remote.isdir(url) and remote.isdir(f"{url}/crab_TT")
    assert not remote.isdir(f"{url}/no_such_dataset")
    assert remote.subdirs(url) == sorted(os.listdir(local)) == ["DYtautau", "crab_TT"]

    def listing(top, start):
        return sorted((root[len(start):], sorted(dirs), sorted(files)) for root, dirs, files in remote.walk(top))

    assert listing(url, url) == listing(str(local), str(local))
    files = [remote.join(root, f) for root, _, names in remote.walk(url) for f in names]
    assert all(f.startswith("root://127.0.0.1:") for f in files)
    entries = {f[len(url):]: uproot.open(f)["taus"].num_entries for f in files}
    assert entries == {"/DYtautau/eventTuple_0.root": 500, "/DYtautau/eventTuple_1.root": 600,
                       "/crab_TT/eventTuple_0.root": 700, "/crab_TT/extra/eventTuple_9.root": 150}


def test_binning_reads_root_url_with_identical_results(served, tmp_path):
    local, url = served
    for name, source in {"local": str(local / "crab_TT"), "remote": f"{url}/crab_TT"}.items():
        subprocess.run(["CreateBinnedTuples", "--input-dir", source, "--output", str(tmp_path / name),
                        "--pt-bins", "20, 100, 1000", "--eta-bins", "0, 1.5, 2.3"], check=True)
    local_files = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.root"))
    remote_files = sorted(p.relative_to(tmp_path / "remote") for p in (tmp_path / "remote").rglob("*.root"))
    assert local_files == remote_files and len(local_files) > 3
    for rel in local_files:
        a, b = uproot.open(tmp_path / "local" / rel), uproot.open(tmp_path / "remote" / rel)
        for tree in a.keys(cycle=False):
            if not isinstance(a[tree], uproot.TTree):
                continue
            want, got = a[tree].arrays(library="np"), b[tree].arrays(library="np")
            assert want.keys() == got.keys()
            for key in want:
                w, g = want[key], got[key]
                if w.dtype == object:  # jagged
                    assert all(np.array_equal(x, y) for x, y in zip(w, g, strict=True)), (rel, tree, key)
                else:
                    assert np.array_equal(w, g), (rel, tree, key)
