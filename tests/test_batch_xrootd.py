"""Raw tuples served by a real XRootD server (Debian xrootd-server) on 127.0.0.1 are read like local ones
(binning, spectra, spectral shuffle & merge)."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from tauml.core import io, remote
from tauml.cli.spectral import create_spectral_hists, shuffle_merge_spectral
from tauml.cli.spectral_tools import main as spectral_tools
from tauml.core.testing import write_random_tautuple

sys.path.insert(0, str(Path(__file__).parent / "services"))
from ports import wait_listening  # noqa: E402

XROOTD = shutil.which("xrootd")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 20.0) -> None:
    if wait_listening(port, proc, timeout):
        return
    if proc.poll() is not None:
        raise RuntimeError(f"xrootd exited with {proc.returncode}: {log.read_text() if log.exists() else ''}")
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


def test_root_url_is_readable_after_keras_is_loaded(served):
    """The XRootD client crashes in a process that loaded TensorFlow first; importing tauml loads it before."""
    _, url = served
    script = ("import sys, tauml.model, tensorflow, uproot\n"
              "print(uproot.open(sys.argv[1])['taus'].num_entries)")
    proc = subprocess.run([sys.executable, "-c", script, f"{url}/DYtautau/eventTuple_0.root"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-1] == "500"


def test_root_url_after_tensorflow_first_is_a_clear_error(served):
    """TensorFlow loaded before tauml: XRootD can no longer be loaded safely, so a root:// read is refused."""
    _, url = served
    script = ("import sys, tensorflow, tauml.model\n"
              "from tauml.core import io, remote\n"
              "for call in (lambda: io.open_file(sys.argv[1]), lambda: remote.isdir(sys.argv[1])):\n"
              "    try:\n"
              "        call()\n"
              "    except io.TaumlError as err:\n"
              "        print('error:', err)\n")
    path = f"{url}/DYtautau/eventTuple_0.root"
    proc = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    errors = [line for line in proc.stdout.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {path}: cannot read root:// URLs in a process that loaded TensorFlow before the "
                      "XRootD client (it would crash); import tauml before tensorflow"] * 2


def test_binning_reads_root_url_with_identical_results(served, tmp_path):
    local, url = served
    for name, source in {"local": str(local / "crab_TT"), "remote": f"{url}/crab_TT"}.items():
        subprocess.run(["CreateBinnedTuples", "--input-dir", source, "--output", str(tmp_path / name),
                        "--pt-bins", "20, 100, 1000", "--eta-bins", "0, 1.5, 2.3"], check=True)
    local_files = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.root"))
    remote_files = sorted(p.relative_to(tmp_path / "remote") for p in (tmp_path / "remote").rglob("*.root"))
    assert local_files == remote_files and len(local_files) > 3
    for rel in local_files:
        assert_same_trees(tmp_path / "local" / rel, tmp_path / "remote" / rel)


def assert_same_trees(want_path, got_path):
    """Both files hold the same TTrees with identical arrays (jagged ones too)."""
    a, b = uproot.open(want_path), uproot.open(got_path)
    trees = [t for t in a.keys(cycle=False) if isinstance(a[t], uproot.TTree)]
    assert trees and trees == [t for t in b.keys(cycle=False) if isinstance(b[t], uproot.TTree)]
    for tree in trees:
        want, got = a[tree].arrays(library="np"), b[tree].arrays(library="np")
        assert want.keys() == got.keys() and a[tree].num_entries > 0
        for key in want:
            w, g = want[key], got[key]
            if w.dtype == object:  # jagged
                assert all(np.array_equal(x, y) for x, y in zip(w, g, strict=True)), (got_path, tree, key)
            else:
                assert np.array_equal(w, g), (got_path, tree, key)


def assert_same_spectra(want_root, want_txt, got_root, got_txt, want_prefix, got_prefix):
    """Same histograms (flow bins included) and the same entries list once the input prefix is removed."""
    a, b = uproot.open(want_root), uproot.open(got_root)
    names = a.keys(cycle=False)
    assert "not_valid" in names and any(n.startswith("eta_pt_hist_") for n in names)
    assert names == b.keys(cycle=False)
    for name in names:
        np.testing.assert_array_equal(a[name].values(flow=True), b[name].values(flow=True), err_msg=name)
    want_lines, got_lines = Path(want_txt).read_text().splitlines(), Path(got_txt).read_text().splitlines()
    assert want_lines and all(line.startswith(want_prefix) for line in want_lines)
    assert all(line.startswith(got_prefix) for line in got_lines)
    assert [line[len(got_prefix):] for line in got_lines] == [line[len(want_prefix):] for line in want_lines]


def test_spectral_hists_read_root_url_like_local(served, tmp_path):
    local, url = served
    for name, source in {"local": str(local / "crab_TT"), "remote": f"{url}/crab_TT"}.items():
        assert create_spectral_hists(["--input-dir", source, "--output", str(tmp_path / f"{name}.root"),
                                      "--output_entries", str(tmp_path / f"{name}.txt"), "--pt-hist", "98, 20, 1000",
                                      "--eta-hist", "23, 0, 2.3", "--quiet"]) == 0
    assert_same_spectra(tmp_path / "local.root", tmp_path / "local.txt", tmp_path / "remote.root",
                        tmp_path / "remote.txt", str(local), url)
    assert len((tmp_path / "remote.txt").read_text().splitlines()) == 2  # crab_TT/extra/ is walked too
    # worker processes (forked after the parent listed the URL) read the files remotely as well
    assert create_spectral_hists(["--input-dir", f"{url}/crab_TT", "--output", str(tmp_path / "mp.root"),
                                  "--output_entries", str(tmp_path / "mp.txt"), "--pt-hist", "98, 20, 1000",
                                  "--eta-hist", "23, 0, 2.3", "--n-threads", "2", "--quiet"]) == 0
    assert_same_spectra(tmp_path / "local.root", tmp_path / "local.txt", tmp_path / "mp.root", tmp_path / "mp.txt",
                        str(local), url)
    assert create_spectral_hists(["--input-dir", f"{url}/no_such_dataset", "--output", str(tmp_path / "bad.root"),
                                  "--output_entries", str(tmp_path / "bad.txt"), "--quiet"]) == 1
    assert not (tmp_path / "bad.root").exists() and not (tmp_path / "bad.txt").exists()

    # dataset loop over the sub-directories of a root:// URL; the filter is searched in the sub-directory name
    for name, source in {"local": str(local), "remote": url}.items():
        assert create_spectral_hists(["--input", source, "--output", str(tmp_path / name), "--filter", "^crab_TT$",
                                      "--quiet"]) == 0
        assert sorted(os.listdir(tmp_path / name)) == ["TT.root", "TT.txt"]
    assert_same_spectra(tmp_path / "local" / "TT.root", tmp_path / "local" / "TT.txt", tmp_path / "remote" / "TT.root",
                        tmp_path / "remote" / "TT.txt", str(local), url)


def test_shuffle_merge_spectral_reads_root_url_prefix(served, tmp_path):
    local, url = served
    assert url.split("127.0.0.1:", 1)[1].split("/", 1)[1].startswith("/")  # root://host:port//absolute/path
    spec = tmp_path / "spec"
    assert create_spectral_hists(["--input-dir", str(local / "DYtautau"), "--output", str(spec / "DYtautau.root"),
                                  "--output_entries", str(spec / "DYtautau.txt"), "--pt-hist", "98, 20, 1000",
                                  "--eta-hist", "23, 0, 2.3", "--quiet"]) == 0
    assert spectral_tools(["filelist", str(spec / "DYtautau.txt"), "--output", str(tmp_path / "mix.txt"),
                           "--seed", "3"]) == 0
    (tmp_path / "groups.cfg").write_text("DY: dir=DYtautau file=eventTuple_.*\\.root types=e,mu,tau,jet\n")
    for name, prefix in {"local": str(local), "remote": url}.items():
        assert shuffle_merge_spectral(["--cfg", str(tmp_path / "groups.cfg"), "--input", str(tmp_path / "mix.txt"),
                                       "--prefix", prefix, "--input-spec", str(spec),
                                       "--output", str(tmp_path / name / "out.root"), "--pt-bins", "20, 100, 1000",
                                       "--eta-bins", "0, 1.5, 2.3", "--enable-emptybin", "true",
                                       "--compression-algo", "LZ4", "--compression-level", "1", "--quiet"]) == 0
    assert_same_trees(tmp_path / "local" / "out.root", tmp_path / "remote" / "out.root")
