"""CreateBinnedTuples / CreateTupleSizeList on small TauTuples written here."""
from __future__ import annotations

import os
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from tauml.binning import split as binning
from tauml.binning.sink import BinSink
from tauml.core import uproot_speedup
from tauml.core.binfiles import parse_bin_name
from tauml.cli.binning import create_binned_tuples, create_tuple_size_list
from tauml.binning.dedup import KEY, find_duplicates
from tauml.core.errors import TaumlError
from tauml.core.io import payload_branches, write_tree
from tauml.core.schema import TauType, branches, tau_type
from tauml.core.testing import random_tautuple

PT = "20, 60, 1000"
ETA = "0, 1.15, 2.3"
GRID = binning.BinGrid((20, 60, 1000), (0, 1.15, 2.3))
N_DUPLICATES = 45


def _subset(arrays, index):
    return {k: v[index] for k, v in arrays.items()}


def _concat(a, b):
    return {k: (ak.concatenate([a[k], b[k]]) if isinstance(a[k], ak.Array) else np.concatenate([a[k], b[k]]))
            for k in a}


def _summary(n):
    return {"summary": {"exeTime": np.array([n], np.uint32), "numberOfProcessedEvents": np.array([n], np.uint64)}}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """a.root, c.root (45 repeats of a.root's candidates) and sub/b.root (entries failing each selection cut)."""
    top = tmp_path_factory.mktemp("raw") / "crab_DS"
    a = random_tautuple(300, seed=1)
    b = random_tautuple(200, seed=2)
    b["tau_index"][:10] = -1
    b["tau_dz"][10:20] = 0.5
    b["tau_pt"][20:30] = 10.0
    b["tau_decayModeFindingNewDMs"][30:40] = 0
    b["genJet_index"][40:50] = -1  # jets without a gen jet: no type
    b["genLepton_index"][40:50] = -1
    b["tau_eta"][50:60] = 2.4
    c = _subset(a, np.r_[0:40, 0:5])
    write_tree(top / "a.root", a, extra_trees=_summary(1))
    write_tree(top / "c.root", c, extra_trees=_summary(3))
    write_tree(top / "sub" / "b.root", b, extra_trees=_summary(2))
    return top, [a, c, b]


def _split(out, top, *extra):
    return create_binned_tuples(["--output", str(out), "--input-dir", str(top), "--pt-bins", PT, "--eta-bins", ETA,
                                 *extra])


def _read_all(directory: Path) -> dict[str, dict[str, object]]:
    out = {}
    for path in sorted(directory.glob("*.root")):
        tree = uproot.open(path)[binning.TREE if path.name != binning.SUMMARY_FILE else "summary"]
        out[path.name] = tree.arrays(payload_branches(tree), library="ak")
    return out


@pytest.fixture(scope="module")
def split(dataset, tmp_path_factory):
    top, _ = dataset
    out = tmp_path_factory.mktemp("binned") / "DS"
    assert _split(out, top, "--n-threads", "1") == 0
    return out


@pytest.fixture(scope="module")
def split_arrays(split):
    return _read_all(split)


def test_conservation_bins_and_size_list(dataset, split, split_arrays, capsys):
    _, inputs = dataset
    files = dict(split_arrays)
    summary = files.pop(binning.SUMMARY_FILE)
    assert sorted(summary["numberOfProcessedEvents"].tolist()) == [1, 2, 3]
    keys = [tuple(int(x) for x in row) for arrays in files.values()
            for row in zip(*(ak.to_numpy(arrays[k]) for k in KEY))]
    n_in = sum(len(x["evt"]) for x in inputs)
    assert len(keys) + N_DUPLICATES == n_in
    assert len(set(keys)) == len(keys)
    unique_in = {tuple(int(x) for x in row) for x in inputs for row in zip(*(x[k] for k in KEY))}
    assert set(keys) == unique_in
    assert len(files[binning.OTHER_FILE]) == 60

    for name, arrays in files.items():
        a = {k: ak.to_numpy(arrays[k]) for k in binning.REQUIRED_BRANCHES}
        index = GRID.bin_index(a)
        if name == binning.OTHER_FILE:
            assert (index == GRID.n_bins).all()
            continue
        kind, pt, eta = parse_bin_name(name.removesuffix(".root"))
        assert (tau_type(a) == kind).all()
        i_pt, i_eta = GRID.pt.index(pt), GRID.eta.index(eta)
        assert ((a["tau_pt"] >= GRID.pt[i_pt]) & (a["tau_pt"] < GRID.pt[i_pt + 1])).all()
        assert ((np.abs(a["tau_eta"]) >= GRID.eta[i_eta]) & (np.abs(a["tau_eta"]) < GRID.eta[i_eta + 1])).all()
        assert len(set(index.tolist())) == 1 and GRID.file_name(int(index[0])) == name

    capsys.readouterr()
    assert create_tuple_size_list(["--input", str(split.parent)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == sorted(lines)
    listed = {line.split(" ")[0]: int(line.split(" ")[1]) for line in lines}
    assert listed == {f"DS/{name}": len(arrays) for name, arrays in files.items()}


def test_every_branch_carried_with_type(dataset, split_arrays):
    _, (a, c, b) = dataset
    files = dict(split_arrays)
    files.pop(binning.SUMMARY_FILE)
    merged = _concat(_concat(a, c), b)
    position = {tuple(int(x) for x in row): i for i, row in enumerate(zip(*(merged[k] for k in KEY)))}
    schema = branches()
    assert all(set(arrays.fields) == set(schema) for arrays in files.values())
    everything = ak.concatenate(list(files.values()))
    rows = [position[tuple(int(x) for x in row)] for row in zip(*(ak.to_numpy(everything[k]) for k in KEY))]
    for branch, info in schema.items():
        expected, got = merged[branch][rows], everything[branch]
        if info.jagged:
            assert ak.to_numpy(ak.flatten(got)).dtype == info.dtype, branch
            assert np.array_equal(ak.to_numpy(ak.num(got)), ak.to_numpy(ak.num(expected))), branch
            assert np.array_equal(ak.to_numpy(ak.flatten(got)), ak.to_numpy(ak.flatten(expected))), branch
        else:
            assert ak.to_numpy(got).dtype == info.dtype, branch
            assert np.array_equal(ak.to_numpy(got), expected), branch


def test_rerun_and_threads_give_identical_files(dataset, split_arrays, tmp_path):
    top, _ = dataset
    again = tmp_path / "DS"
    assert _split(again, top, "--n-threads", "2") == 0
    first, second = split_arrays, _read_all(again)
    assert first.keys() == second.keys()
    for name in first:
        form1, length1, buffers1 = ak.to_buffers(first[name])
        form2, length2, buffers2 = ak.to_buffers(second[name])
        assert (form1, length1) == (form2, length2), name
        assert buffers1.keys() == buffers2.keys()
        assert all(np.array_equal(buffers1[k], buffers2[k]) for k in buffers1), name


def test_std_vector_input_is_read_and_carried(tmp_path):
    ROOT = pytest.importorskip("ROOT")
    n = 60
    a = random_tautuple(n, seed=5, all_branches=False)
    rng = np.random.default_rng(5)
    counts = rng.poisson(3, n)
    pt = [rng.normal(10, 1, c).astype(np.float32) for c in counts]
    extra = [rng.integers(-5, 5, c).astype(np.int32) for c in counts]
    path = tmp_path / "in" / "vec.root"
    path.parent.mkdir()
    f = ROOT.TFile(str(path), "RECREATE")
    tree = ROOT.TTree("taus", "taus")
    holders = {}
    for name, value in a.items():
        holders[name] = np.zeros(1, value.dtype)
        code = {"f4": "F", "i4": "I", "u4": "i", "u8": "l", "i8": "L"}[value.dtype.str[1:]]
        tree.Branch(name, holders[name], f"{name}/{code}")
    vec_pt, vec_extra = ROOT.std.vector("float")(), ROOT.std.vector("int")()
    tree.Branch("pfCand_pt", vec_pt)
    tree.Branch("my_extra", vec_extra)
    for i in range(n):
        for name, value in a.items():
            holders[name][0] = value[i]
        vec_pt.clear()
        vec_extra.clear()
        for x in pt[i]:
            vec_pt.push_back(float(x))
        for x in extra[i]:
            vec_extra.push_back(int(x))
        tree.Fill()
    f.Write()
    f.Close()
    assert "vector<float>" in uproot.open(path)["taus"]["pfCand_pt"].typename

    out = tmp_path / "out"
    assert create_binned_tuples(["--output", str(out), "--input-dir", str(path.parent),
                                 "--pt-bins", "20, 1000", "--eta-bins", "0, 2.3"]) == 0
    got = {k: v for k, v in _read_all(out).items() if k != binning.SUMMARY_FILE}
    assert sum(len(v) for v in got.values()) == n
    by_evt = {int(e): i for i, e in enumerate(a["evt"])}
    for arrays in got.values():
        rows = [by_evt[int(e)] for e in arrays["evt"]]
        assert ak.to_numpy(ak.flatten(arrays["pfCand_pt"])).dtype == np.float32
        assert ak.to_numpy(ak.flatten(arrays["my_extra"])).dtype == np.int32
        assert ak.to_list(arrays["pfCand_pt"]) == [pt[r].tolist() for r in rows]
        assert ak.to_list(arrays["my_extra"]) == [extra[r].tolist() for r in rows]
    # ROOT reads the counted arrays tauml writes, in a tree with room for two baskets (bins written at the end)
    name = sorted(got)[0]
    assert uproot.open(out / name)["taus"]["pfCand_pt"].member("fMaxBaskets") == 2
    rf = ROOT.TFile(str(out / name))
    rt = rf.Get("taus")
    assert rt.GetEntries() == len(got[name])
    rt.GetEntry(0)
    first = got[name]["pfCand_pt"][0]
    assert [rt.pfCand_pt[j] for j in range(len(first))] == pytest.approx(ak.to_list(first))
    rf.Close()


def test_find_duplicates_with_many_buckets(tmp_path):
    a = random_tautuple(500, seed=3, all_branches=False)
    rng = np.random.default_rng(3)
    a["evt"] = rng.integers(0, 40, 500).astype(np.uint64)  # many repeats
    a["tau_index"] = rng.integers(0, 2, 500).astype(np.int32)
    write_tree(tmp_path / "x.root", _subset(a, slice(0, 300)))
    write_tree(tmp_path / "y.root", _subset(a, slice(300, 500)))
    dups = find_duplicates([tmp_path / "x.root", tmp_path / "y.root"], tmp_path / "keys", bucket_bytes=1000)
    seen, expected = set(), [[], []]
    for i, key in enumerate(zip(*(a[k].tolist() for k in KEY))):
        if key in seen:
            expected[i >= 300].append(i - 300 * (i >= 300))
        seen.add(key)
    assert [d.tolist() for d in dups] == expected
    assert not list((tmp_path / "keys").iterdir())


def test_prev_output_reuses_and_drops(split, tmp_path, capsys):
    prev = tmp_path / "prev.txt"
    name = sorted(p.name for p in split.glob("tau_*.root"))[0]
    prev.write_text(f"DS/{name} 12345\nDS/vanished.root 7\n")
    assert create_tuple_size_list(["--input", str(split.parent), "--prev-output", str(prev)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"DS/{name} 12345" in lines
    assert not any("vanished" in line for line in lines)
    assert not any("summary" in line for line in lines)
    assert len(lines) == len(list(split.glob("*.root"))) - 1
    prev.write_text("DS/x.root 1 2\n")
    assert create_tuple_size_list(["--input", str(split.parent), "--prev-output", str(prev)]) == 1
    assert "prev.txt:1" in capsys.readouterr().err


def test_dataset_loop_splits_each_dataset_once(tmp_path, capsys):
    raw = tmp_path / "raw"
    for i, name in enumerate(["crab_DY", "crab_TT", "QCD"]):
        write_tree(raw / name / "eventTuple_0.root", random_tautuple(50, seed=10 + i, all_branches=False))
    out = tmp_path / "tuples"
    assert create_binned_tuples(["--input", str(raw), "--output", str(out), "--filter", "DY|TT",
                                 "--pt-bins", "20, 1000", "--eta-bins", "0, 2.3"]) == 0
    assert sorted(os.listdir(out)) == ["DY", "TT"]
    stamp = (out / "DY").stat().st_mtime_ns
    assert create_binned_tuples(["--input", str(raw), "--output", str(out),
                                 "--pt-bins", "20, 1000", "--eta-bins", "0, 2.3"]) == 0
    assert sorted(os.listdir(out)) == ["DY", "QCD", "TT"]
    assert (out / "DY").stat().st_mtime_ns == stamp
    assert "DY: already split" in capsys.readouterr().err


def _bad_non_root(d):
    (d / "bad.root").write_bytes(b"this is not a ROOT file" * 100)


def _bad_no_taus(d):
    write_tree(d / "s.root", _summary(1)["summary"], tree="summary")


def _bad_missing_branch(d):
    a = random_tautuple(20, seed=1, all_branches=False)
    del a["tau_dz"]
    write_tree(d / "m.root", a)


@pytest.mark.parametrize("make, message", [
    (_bad_non_root, "not a readable ROOT file"),
    (_bad_no_taus, "has no tree 'taus'"),
    (_bad_missing_branch, "lacks required branch(es): tau_dz"),
])
def test_bad_input_leaves_nothing(tmp_path, capsys, make, message):
    d = tmp_path / "in"
    d.mkdir()
    write_tree(d / "good.root", random_tautuple(20, seed=1, all_branches=False))
    make(d)
    out = tmp_path / "out" / "DS"
    assert _split(out, d) == 1
    err = capsys.readouterr().err
    assert "CreateBinnedTuples: error:" in err and message in err
    assert not out.parent.exists() or not list(out.parent.iterdir())


@pytest.mark.parametrize("flag, value", [("--pt-bins", "20, 15, 30"), ("--pt-bins", "20"), ("--eta-bins", "0.5")])
def test_bad_bins_rejected(tmp_path, capsys, flag, value):
    d = tmp_path / "in"
    write_tree(d / "good.root", random_tautuple(20, seed=1, all_branches=False))
    out = tmp_path / "out" / "DS"
    with pytest.raises(SystemExit) as exit_info:
        create_binned_tuples(["--output", str(out), "--input-dir", str(d), flag, value])
    assert exit_info.value.code != 0
    assert "bin edges" in capsys.readouterr().err
    assert not out.parent.exists()


@pytest.mark.parametrize("pt, eta", [((20, 15, 30), (0, 2.3)), ((20,), (0, 2.3)), ((20, 30), (-1, 2.3))])
def test_bin_grid_checks_edges(pt, eta):
    with pytest.raises(TaumlError, match="bins"):
        binning.BinGrid(pt, eta)


def test_bin_file_names_follow_the_original():
    grid = binning.BinGrid()
    assert grid.file_name(0) == "e_pt_20_eta_0.000.root"
    assert grid.file_name(grid.n_bins - 1) == "data_pt_900_eta_1.725.root"
    assert grid.file_name(grid.n_bins) == "other.root"
    assert binning.bin_file_name("emb_tau", 1000, 0.575) == "emb_tau_pt_1000_eta_0.575.root"


def test_write_back_file_equals_plain_writes(tmp_path):
    rng = np.random.default_rng(7)
    fast = uproot_speedup.WriteBackFile(tmp_path / "fast.bin", flush_bytes=64)
    with open(tmp_path / "plain.bin", "w+b") as plain:
        for _ in range(3000):
            end = fast.seek(0, os.SEEK_END)
            assert end == plain.seek(0, os.SEEK_END)
            pos = int(rng.choice([end, rng.integers(0, 16), rng.integers(0, end + 1), end + 5]))
            data = rng.integers(0, 256, int(rng.integers(1, 40)), dtype=np.uint8).tobytes()
            fast.seek(pos)
            plain.seek(pos)
            fast.write(data)
            plain.write(data)
            assert fast.tell() == plain.tell()
    fast.close()
    assert (tmp_path / "fast.bin").read_bytes() == (tmp_path / "plain.bin").read_bytes()


def test_spill_to_disk_under_a_small_memory_budget(dataset, split_arrays, tmp_path, monkeypatch):
    """With a 1 MiB budget the waiting entries go to spill files and come back: the same bin files."""
    spills = []
    original = BinSink._spill

    def counted_spill(self):
        spills.append(sorted(self._pending))
        original(self)

    monkeypatch.setattr(binning, "BUFFER_BYTES", 1 << 20)
    monkeypatch.setattr(BinSink, "_spill", counted_spill)
    top, _ = dataset
    out = tmp_path / "DS"
    assert _split(out, top, "--n-threads", "1") == 0
    assert spills and all(spills)
    again = _read_all(out)
    assert again.keys() == split_arrays.keys()
    for name in again:
        assert ak.to_list(again[name]) == ak.to_list(split_arrays[name]), name
    assert not [p for p in out.rglob(".*")]  # spill directory and key files are gone


def test_writer_process_dying_mid_split_leaves_nothing(dataset, tmp_path, monkeypatch, capsys):
    """One of two writer processes dies on its first chunk (as if killed): one clear error, no output."""
    marker = tmp_path / "died"

    def dying_add(self, *args):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return original_add(self, *args)
        os._exit(9)

    original_add = BinSink.add
    monkeypatch.setattr(BinSink, "add", dying_add)
    top, _ = dataset
    out = tmp_path / "out" / "DS"
    assert _split(out, top, "--n-threads", "3") == 1
    assert marker.exists()
    err = capsys.readouterr().err
    assert "CreateBinnedTuples: error: a writer process died" in err
    assert not out.exists() and list((tmp_path / "out").iterdir()) == []
