import awkward as ak
import numpy as np
import pytest
import uproot

from tauml.core import io, schema
from tauml.core.errors import TaumlError
from tauml.core.testing import write_random_tautuple


@pytest.fixture(scope="module")
def random_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("io") / "random.root"
    write_random_tautuple(path, 300, seed=7)
    return path


def test_every_schema_branch_written_with_its_type(random_file):
    tree = uproot.open(random_file)["taus"]
    assert set(io.payload_branches(tree)) == set(schema.branches())
    assert io.counter_branches(tree) == {f"n{c}" for c in schema.collections()}
    for b in schema.branches().values():
        arr = tree[b.name].array(library="ak")
        assert ak.to_numpy(ak.flatten(arr) if b.jagged else arr).dtype == b.dtype, b.name


def test_root_reads_counted_collections(random_file):
    ROOT = pytest.importorskip("ROOT")
    f = ROOT.TFile.Open(str(random_file))
    tree = f.Get("taus")
    assert tree.GetEntries() == 300
    expected = uproot.open(random_file)["taus"]["pfCand_pt"].array()
    n = tree.Draw("pfCand_pt", "", "goff")
    assert n == ak.count(expected)
    drawn = np.frombuffer(tree.GetV1(), dtype=np.float64, count=n)
    np.testing.assert_allclose(drawn, ak.to_numpy(ak.flatten(expected)), rtol=1e-6)


def test_iterate_chunks_cover_the_file(random_file):
    chunks = list(io.iterate(random_file, ["tau_pt", "pfCand_pt"], step_size=100))
    assert [len(c) for c in chunks] == [100, 100, 100]


def test_clear_errors(tmp_path, random_file):
    bad = tmp_path / "bad.root"
    bad.write_text("not a root file")
    with pytest.raises(TaumlError, match="bad.root: not a readable ROOT file"):
        io.open_tree(bad)
    with pytest.raises(TaumlError, match="no such file"):
        io.open_tree(tmp_path / "missing.root")
    with pytest.raises(TaumlError, match="has no tree 'nope'"):
        io.open_tree(random_file, "nope")
    with pytest.raises(TaumlError, match="lacks required branch.*no_such_branch"):
        next(io.iterate(random_file, ["tau_pt", "no_such_branch"]))
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(random_file.read_bytes()[: random_file.stat().st_size * 2 // 3])
    with pytest.raises(TaumlError, match="truncated.root: truncated or corrupt: expected [0-9]+ bytes, found"):
        for _ in io.iterate(truncated, list(schema.branches())):
            pass


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "out.root"
    with pytest.raises(RuntimeError):
        with io.root_writer(final) as f:
            io.TreeWriter(f).extend({"x": np.arange(3)})
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    io.write_tree(final, {"x": np.arange(3, dtype=np.int32)})
    assert [p.name for p in tmp_path.iterdir()] == ["out.root"]
    assert uproot.open(final)["taus"]["x"].array(library="np").tolist() == [0, 1, 2]
