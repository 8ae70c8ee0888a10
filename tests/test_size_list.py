"""CreateTupleSizeList: counts from the TTree header equal uproot's, the cache, --filter, bad files, progress;
and --help of every preprocessing command shows each option's default."""
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest
import uproot

from tauml.binning.size_list import CACHE_FILE
from tauml.cli import (
    DefaultsHelpFormatter, binning, explain_options, shufflemerge, spectral, spectral_tools, validation,
)
from tauml.cli.binning import create_tuple_size_list
from tauml.core.entries import tree_entries
from tauml.core.io import write_tree
from tauml.core.testing import write_random_tautuple

SIZES = {"DY/tau_pt_20_eta_0.000.root": 7, "DY/jet_pt_20_eta_0.000.root": 0, "QCD/jet_pt_30_eta_1.150.root": 25}


@pytest.fixture
def tuples(tmp_path):
    top = tmp_path / "tuples"
    for i, (rel, n) in enumerate(SIZES.items()):
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        write_random_tautuple(top / rel, n, seed=i)
    write_tree(top / "DY" / "summary.root", {"exeTime": np.array([1], np.uint32)}, tree="summary")
    return top


def size_list(capsys, *args) -> tuple[int, str, str]:
    rc = create_tuple_size_list(list(map(str, args)))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_counts_equal_uproot_and_summary_is_skipped(tuples, capsys):
    rc, out, err = size_list(capsys, "--input", tuples)
    assert rc == 0
    rows = [line.split(" ") for line in out.splitlines()]
    assert [r[0] for r in rows] == sorted(SIZES)
    for rel, n in rows:
        assert int(n) == SIZES[rel] == uproot.open(tuples / rel)["taus"].num_entries
    assert "DY/summary.root: no tree 'taus', skipped" in err


def test_root_written_file(tmp_path):
    ROOT = pytest.importorskip("ROOT")
    path = tmp_path / "root.root"
    f = ROOT.TFile(str(path), "RECREATE")
    tree = ROOT.TTree("taus", "taus")
    x = np.zeros(1, np.float32)
    tree.Branch("tau_pt", x, "tau_pt/F")
    for i in range(1234):
        x[0] = i
        tree.Fill()
    tree.Write()
    f.Close()
    assert tree_entries(path) == 1234 == uproot.open(path)["taus"].num_entries


def test_cache_reuses_unchanged_files_and_recounts_changed_ones(tuples, capsys):
    rel = "QCD/jet_pt_30_eta_1.150.root"
    first = size_list(capsys, "--input", tuples)[1]
    cache = json.loads((tuples / CACHE_FILE).read_text())
    assert cache[rel][2] == 25
    cache[rel][2] = 999  # same size and mtime: the count is taken from the cache, the file not read
    (tuples / CACHE_FILE).write_text(json.dumps(cache))
    assert f"{rel} 999\n" in size_list(capsys, "--input", tuples)[1]
    assert f"{rel} 25\n" in size_list(capsys, "--input", tuples, "--no-cache")[1]
    os.utime(tuples / rel, ns=(1, 1))  # a changed file is counted again
    assert size_list(capsys, "--input", tuples)[1] == first


def test_filter_and_paths_relative_to_input(tuples, capsys):
    rc, out, _ = size_list(capsys, "--input", tuples, "--filter", "^DY$")
    assert rc == 0 and [line.split()[0] for line in out.splitlines()] == sorted(
        r for r in SIZES if r.startswith("DY/"))


def test_truncated_file_is_named(tuples, capsys):
    path = tuples / "DY" / "tau_pt_20_eta_0.000.root"
    path.write_bytes(path.read_bytes()[:5000])
    rc, out, err = size_list(capsys, "--input", tuples, "--no-cache")
    assert rc == 1 and out == ""
    assert str(path) in err and "truncated" in err


def test_progress_bar_only_on_a_terminal(tuples):
    cmd = [sys.executable, "-c", "from tauml.cli.binning import create_tuple_size_list as m; m()",
           "--input", str(tuples), "--no-cache"]
    piped = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and "files/s" not in piped.stderr and "%|" not in piped.stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=follower, timeout=120)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.returncode == 0 and b"CreateTupleSizeList: 100%" in seen and b"files/s" in seen


PARSERS = [binning._binned_parser, binning._size_list_parser, shufflemerge.build_parser, spectral._hists_parser,
           spectral._merge_parser, validation.build_parser, spectral_tools._parser]


@pytest.mark.parametrize("build", PARSERS, ids=lambda b: b.__module__.rsplit(".", 1)[-1] + "." + b.__name__)
def test_help_shows_every_default(build):
    parser = explain_options(build())
    parsers = [parser] + [sub for a in parser._actions if hasattr(a, "choices") and isinstance(a.choices, dict)
                          for sub in a.choices.values()]
    for p in parsers:
        formatter = DefaultsHelpFormatter(p.prog)
        for action in p._actions:
            if action.required or not action.option_strings or action.nargs == 0:
                continue
            assert "default" in formatter._get_help_string(action).lower(), (p.prog, action.option_strings)
        if any(a.metavar == "true|false" for a in p._actions):
            assert "true|false" in p.format_help()
