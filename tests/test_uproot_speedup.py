"""The uproot writer speed-up: whole files written with it equal, byte for byte, those of stock uproot (an
empty tree, a tree with baskets, a tree whose metadata comes from the cache); it is guarded by uproot's
version and the patched source, falling back to stock uproot with one warning."""
from __future__ import annotations

import datetime
import types
import uuid
import warnings

import awkward as ak
import numpy as np
import pytest
import uproot
import uproot.writing._cascade as _cascade
import uproot.writing._cascadetree as _cascadetree
import uproot.writing.writable as _writable

from tauml.core import uproot_speedup
from tauml.core.io import TreeWriter, codec
from tauml.core.testing import random_tautuple

FROZEN = datetime.datetime(2026, 1, 1, 12, 0, 0)


@pytest.fixture
def deterministic_uproot(monkeypatch):
    """uproot with a fixed clock, so that two files with the same content have the same bytes."""
    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return FROZEN

    clock = types.SimpleNamespace(**{k: getattr(datetime, k) for k in dir(datetime) if not k.startswith("__")})
    clock.datetime = Frozen
    for module in (_cascade, _cascadetree, _writable):
        monkeypatch.setattr(module, "datetime", clock)


def _write(directory, chunks, before_tree: bool = False) -> bytes:
    """One file ``directory/t.root`` (the name is in the file) through tauml's writer: optionally a histogram
    first (the tree then starts elsewhere), then tree ``taus`` extended by each chunk (none: no entries)."""
    directory.mkdir()
    path = directory / "t.root"
    with uproot.recreate(path, uuid_function=lambda: uuid.UUID(int=7)) as f:
        if before_tree:
            f["h"] = (np.arange(5.0), np.linspace(0, 1, 6))
        writer = TreeWriter(f)
        for chunk in chunks:
            writer.extend(chunk)
        if not chunks:
            writer.extend({k: v[:0] for k, v in SMALL.items()})
    return path.read_bytes()


SMALL = {k: v for k, v in random_tautuple(40, seed=3).items() if k.startswith(("tau_", "ele_", "muon_"))}
CHUNKS = [{k: v[:25] for k, v in SMALL.items()}, {k: v[25:] for k, v in SMALL.items()}]


def _stock(monkeypatch):
    monkeypatch.setattr(_cascadetree.Tree, "_build_out", uproot_speedup.ORIGINAL_BUILD_OUT)
    monkeypatch.setattr(uproot_speedup, "install", lambda: False)


@pytest.mark.parametrize("chunks, before_tree", [([], False), (CHUNKS, False), (CHUNKS, True)],
                         ids=["empty", "baskets", "baskets-after-histogram"])
def test_files_are_byte_identical_to_stock_uproot(tmp_path, monkeypatch, deterministic_uproot, chunks, before_tree):
    assert uproot_speedup.install()
    uproot_speedup._EMPTY_TREES.clear()
    fast = _write(tmp_path / "fast", chunks, before_tree)
    assert uproot_speedup._EMPTY_TREES  # the tree's first metadata (no entries yet) went into the cache
    cached = _write(tmp_path / "cached", chunks, before_tree)
    with monkeypatch.context() as m:
        _stock(m)
        stock = _write(tmp_path / "stock", chunks, before_tree)
    assert fast == stock
    assert cached == stock
    with uproot.open(tmp_path / "cached" / "t.root") as f:
        assert f["taus"].num_entries == sum(len(c["tau_pt"]) for c in chunks)
        if chunks:
            assert ak.all(f["taus"]["ele_pt"].array() == SMALL["ele_pt"])


def test_cache_hit_at_another_position_is_byte_identical(tmp_path, monkeypatch, deterministic_uproot):
    """The cache is filled by a tree at one file position and used for a tree at another."""
    assert uproot_speedup.install()
    uproot_speedup._EMPTY_TREES.clear()
    _write(tmp_path / "first", CHUNKS, before_tree=False)
    moved = _write(tmp_path / "moved", CHUNKS, before_tree=True)
    with monkeypatch.context() as m:
        _stock(m)
        stock = _write(tmp_path / "stock", CHUNKS, before_tree=True)
    assert moved == stock


def test_metadata_of_a_tree_with_baskets_equals_the_original(tmp_path):
    assert uproot_speedup.install()
    with uproot.recreate(tmp_path / "t.root") as f:
        writer = TreeWriter(f)
        for chunk in CHUNKS:
            writer.extend(chunk)
        tree = f["taus"]._cascading
        assert tree._num_baskets == 2
        fast = b"".join(tree._build_out())
        offsets = [(d.get("metadata_start"), d.get("basket_metadata_start")) for d in tree._branch_data]
        assert fast == b"".join(uproot_speedup.ORIGINAL_BUILD_OUT(tree))
        assert offsets == [(d.get("metadata_start"), d.get("basket_metadata_start")) for d in tree._branch_data]


def _unpatched(monkeypatch):
    monkeypatch.setattr(_cascadetree.Tree, "_build_out", uproot_speedup.ORIGINAL_BUILD_OUT)
    monkeypatch.setattr(uproot_speedup, "_warned", set())


def test_other_uproot_version_falls_back_with_one_warning(tmp_path, monkeypatch):
    _unpatched(monkeypatch)
    monkeypatch.setattr(uproot, "__version__", "5.8.0")
    with pytest.warns(RuntimeWarning, match="uproot 5.8.0 is installed.*stock uproot") as caught:
        assert uproot_speedup.install() is False
        assert uproot_speedup.install() is False
    assert len(caught) == 1
    assert _cascadetree.Tree._build_out is uproot_speedup.ORIGINAL_BUILD_OUT
    monkeypatch.setattr(_cascadetree.Tree, "extend", uproot_speedup.ORIGINAL_EXTEND)
    with pytest.warns(RuntimeWarning, match="basket compression speed-up not applied"):
        with uproot_speedup.compression_threads(2):
            assert _cascadetree.Tree.extend is uproot_speedup.ORIGINAL_EXTEND
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning from a writer
        with uproot.recreate(tmp_path / "t.root") as f:
            TreeWriter(f).extend(CHUNKS[0])
    with uproot.open(tmp_path / "t.root") as f:
        assert f["taus"]["tau_pt"].array().tolist() == CHUNKS[0]["tau_pt"].tolist()


def test_changed_source_falls_back(monkeypatch):
    _unpatched(monkeypatch)
    monkeypatch.setattr(uproot_speedup, "_BUILD_OUT_SHA256", "0" * 64)
    with pytest.warns(RuntimeWarning, match="not the source the patch was written for"):
        assert uproot_speedup.install() is False
    assert _cascadetree.Tree._build_out is uproot_speedup.ORIGINAL_BUILD_OUT


def test_importing_io_patches_nothing():
    import subprocess
    import sys
    code = ("import uproot.writing._cascadetree as c; original = c.Tree._build_out; import tauml.core.io; "
            "import tauml.binning.split; assert c.Tree._build_out is original")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("algo", ["ZLIB", "LZMA", "ZSTD"])
def test_threaded_basket_compression_writes_the_same_bytes(tmp_path, monkeypatch, deterministic_uproot, algo):
    """``compression_threads``: every basket is taken from the threads' queue, and the file equals the one
    compressed basket by basket in the writing thread (LZ4 stays in the writing thread: it is faster than
    the queue)."""
    taken = []
    compressed = uproot_speedup._BasketQueue.compressed

    def counting(self, data, compression):
        out = compressed(self, data, compression)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(uproot_speedup._BasketQueue, "compressed", counting)
    files = {}
    for n_threads in (1, 3):
        path = tmp_path / str(n_threads) / "t.root"
        path.parent.mkdir()
        with uproot_speedup.compression_threads(n_threads), \
                uproot.recreate(path, compression=codec(algo, 4), uuid_function=lambda: uuid.UUID(int=7)) as f:
            writer = TreeWriter(f)
            for chunk in CHUNKS:
                writer.extend(chunk)
        files[n_threads] = path.read_bytes()
    assert _cascadetree.Tree.extend is not uproot_speedup.ORIGINAL_EXTEND
    assert len(taken) > len(SMALL) and all(taken)
    assert files[3] == files[1]


def test_memoised_class_names_open_the_same_trees(tmp_path, monkeypatch):
    monkeypatch.setattr(uproot.model, "classname_regularize", uproot_speedup._ORIGINAL_REGULARIZE)
    path = tmp_path / "t.root"
    with uproot.recreate(path) as f:
        TreeWriter(f).extend(random_tautuple(12, seed=4))
    with uproot.open(path) as f:
        stock = f["taus"].arrays().to_list()
    monkeypatch.setattr(uproot, "__version__", "5.8.0")
    with pytest.warns(RuntimeWarning, match="class-name speed-up not applied"):
        assert uproot_speedup.install_reading() is False
    monkeypatch.setattr(uproot, "__version__", uproot_speedup.SUPPORTED_UPROOT)
    assert uproot_speedup.install_reading() is True
    assert uproot.model.classname_regularize is not uproot_speedup._ORIGINAL_REGULARIZE
    with uproot.open(path) as f:
        assert f["taus"].arrays().to_list() == stock


def test_lzma_baskets_hold_the_same_values_as_stock_uproot(tmp_path, monkeypatch):
    data = random_tautuple(200, seed=9)
    paths = {}
    for kind, compress in (("stock", uproot_speedup.ORIGINAL_LZMA_COMPRESS), ("fast", uproot_speedup._lzma_compress)):
        monkeypatch.setattr(uproot.compression.LZMA, "compress", compress)
        monkeypatch.setattr(uproot_speedup, "install", lambda: True)  # keep this compress in place
        paths[kind] = tmp_path / f"{kind}.root"
        with uproot.recreate(paths[kind], compression=codec("LZMA", 9)) as f:
            TreeWriter(f).extend(data)
    with uproot.open(paths["stock"]) as stock, uproot.open(paths["fast"]) as fast:
        assert fast["taus"].arrays().to_list() == stock["taus"].arrays().to_list()
    sizes = {k: p.stat().st_size for k, p in paths.items()}
    assert abs(sizes["fast"] - sizes["stock"]) < 0.01 * sizes["stock"]
    ROOT = pytest.importorskip("ROOT")
    f = ROOT.TFile.Open(str(paths["fast"]))  # ROOT decodes the smaller-dictionary XZ streams
    tree = f.Get("taus")
    n = tree.Draw("pfCand_pt", "", "goff")
    values = ak.to_numpy(ak.flatten(uproot.open(paths["fast"])["taus"]["pfCand_pt"].array()))
    assert n == len(values)
    np.testing.assert_allclose(np.frombuffer(tree.GetV1(), np.float64, n), values, rtol=1e-6)
