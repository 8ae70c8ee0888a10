import shutil

import numpy as np
import pytest
import uproot

from tauml.core import columns
from tauml.core.errors import TaumlError
from tauml.core.io import TreeWriter, payload_branches, root_writer
from tauml.core.sametree import TreeFamily
from tauml.core.testing import random_tautuple


def _uproot_chunk(path, names, start, stop):
    tree = uproot.open(path)["taus"]
    arrays = tree.arrays(names, entry_start=start, entry_stop=stop, library="ak")
    return columns.from_awkward(arrays, path)


def _assert_same(a, b):
    assert list(a) == list(b)
    for key, x in a.items():
        y = b[key]
        if isinstance(x, columns.Collection):
            np.testing.assert_array_equal(x.offsets, y.offsets, err_msg=key)
            assert list(x.contents) == list(y.contents)
            for name, values in x.contents.items():
                assert values.dtype == y.contents[name].dtype, name
                np.testing.assert_array_equal(values, y.contents[name], err_msg=name)
        else:
            assert x.dtype == y.dtype, key
            np.testing.assert_array_equal(x, y, err_msg=key)


def _write_in_pieces(path, n, seed, pieces=3):
    """A 552-branch TauTuple written in ``pieces`` extends: several baskets per branch."""
    data = random_tautuple(n, seed=seed)
    cuts = np.linspace(0, n, pieces + 1).astype(int)
    with root_writer(path) as f:
        writer = TreeWriter(f)
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            writer.extend({k: v[lo:hi] for k, v in data.items()})


@pytest.fixture(scope="module")
def tauml_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sametree")
    paths = [root / f"bin_{i}.root" for i in range(3)]
    for i, (path, n) in enumerate(zip(paths, (40, 61, 17))):
        _write_in_pieces(path, n, seed=i)
    return paths


def test_files_of_one_structure_read_as_uproot_reads_them(tauml_files):
    names = payload_branches(uproot.open(tauml_files[0])["taus"])
    family = TreeFamily()
    for path in tauml_files:
        tree = family.open(path)
        assert tree.fast and tree.num_entries == uproot.open(path)["taus"].num_entries
        n = tree.num_entries
        for start, stop in ((0, n), (n // 3 - 1, n // 3 + 2), (n // 2, n), (n, n)):
            _assert_same(tree.read(names, start, stop), _uproot_chunk(path, names, start, stop))
        tree.close()
    assert len(family._templates) == 1  # one parse for all three files


def test_another_structure_is_parsed_again(tmp_path, tauml_files):
    other = tmp_path / "double.root"
    n = 20
    data = random_tautuple(n, seed=5)
    data["tau_pt"] = data["tau_pt"].astype(np.float64)  # same names and sizes of record, another leaf type
    with root_writer(other) as f:
        TreeWriter(f).extend(data)
    family = TreeFamily()
    family.open(tauml_files[0]).close()
    tree = family.open(other)
    chunk = tree.read(["tau_pt", "pfCand_pt"], 0, n)
    assert chunk["tau_pt"].dtype == np.float64
    _assert_same(chunk, _uproot_chunk(other, ["tau_pt", "pfCand_pt"], 0, n))
    assert len(family._templates) == 2


def test_root_written_vectors(tmp_path):
    ROOT = pytest.importorskip("ROOT")
    paths = []
    for i, n in enumerate((300, 457)):
        path = tmp_path / f"root_{i}.root"
        f = ROOT.TFile(str(path), "RECREATE")
        tree = ROOT.TTree("taus", "taus")
        pt, idx, cand = np.zeros(1, np.float32), np.zeros(1, np.int32), ROOT.std.vector("float")()
        tree.Branch("tau_pt", pt, "tau_pt/F", 256)  # small baskets: several per branch
        tree.Branch("tau_index", idx, "tau_index/I", 256)
        tree.Branch("pfCand_pt", cand, 256)
        rng = np.random.default_rng(i)
        for _ in range(n):
            pt[0], idx[0] = rng.uniform(20, 100), rng.integers(0, 5)
            cand.clear()
            for v in rng.uniform(0, 10, rng.integers(0, 6)):
                cand.push_back(float(v))
            tree.Fill()
        f.Write()
        f.Close()
        paths.append(path)
    family = TreeFamily()
    names = ["tau_pt", "tau_index", "pfCand_pt"]
    for path in paths:
        tree = family.open(path)
        assert tree.fast
        assert uproot.open(path)["taus"]["pfCand_pt"].num_baskets > 1
        for start, stop in ((0, tree.num_entries), (33, 250)):
            _assert_same(tree.read(names, start, stop), _uproot_chunk(path, names, start, stop))
        tree.close()


def test_damaged_basket_names_the_file(tmp_path, tauml_files):
    path = tmp_path / "damaged.root"
    shutil.copy(tauml_files[0], path)
    compressed = next(b for b in uproot.open(path)["taus"].branches
                      if b.basket(0).member("fNbytes") - b.basket(0).member("fKeylen") != b.basket(0).member("fObjlen"))
    basket = compressed.basket(0)
    with open(path, "r+b") as fh:  # the file stays complete; the basket's compressed bytes are garbage
        fh.seek(int(compressed.member("fBasketSeek")[0]) + basket.member("fKeylen") + 20)
        fh.write(bytes(range(40)))
    family = TreeFamily()
    family.open(tauml_files[0]).close()
    tree = family.open(path)
    with pytest.raises(TaumlError, match="damaged.root: corrupt or unreadable"):
        tree.read([compressed.name], 0, tree.num_entries)


def test_branches_it_cannot_decode_go_to_uproot(tmp_path):
    path = tmp_path / "matrix.root"
    rng = np.random.default_rng(3)
    with uproot.recreate(path) as f:
        f.mktree("taus", {"tau_pt": np.float32, "cov": np.dtype((np.float64, (3, 3)))})  # a matrix per entry
        f["taus"].extend({"tau_pt": rng.uniform(20, 50, 30).astype(np.float32), "cov": rng.normal(size=(30, 3, 3))})
    tree = TreeFamily().open(path)
    np.testing.assert_array_equal(tree.read(["tau_pt"], 0, 30)["tau_pt"],
                                  uproot.open(path)["taus"]["tau_pt"].array(library="np"))
    assert tree.fast
    with pytest.raises(TaumlError, match="matrix.root: branch 'cov' has an unsupported type"):
        tree.read(["tau_pt", "cov"], 0, 30)
    assert not tree.fast
    tree.close()
