"""Training-input stage: TrainingTupleProducer, root_to_hdf, feature_scaling and the DataLoader on their outputs."""
import json
import math

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from tauml.cli.inputs import feature_scaling_main, root_to_hdf_main, training_tuple_producer
from tauml.core.io import write_tree
from tauml.features.config import INPUT_NAMES, load_training_cfg
from tauml.features.loader import DataLoader, iterate_taus, split_files
from tauml.features.sources import open_source

from test_features import CFG_PATH, identity_scaling, realistic

ROOT_TAUS = 300


@pytest.fixture(scope="module")
def cfg():
    return load_training_cfg(CFG_PATH)


@pytest.fixture(scope="module")
def tuples(tmp_path_factory):
    """Two TauTuples, their flat TrainingTuples (ROOT, made with 2 threads) and the HDF5 conversions."""
    d = tmp_path_factory.mktemp("inputs")
    files = {}
    for i, n in enumerate((ROOT_TAUS, 200)):
        src = d / f"tautuple_{i}.root"
        write_tree(src, realistic(n, 10 + i))
        flat, h5 = d / f"flat_{i}.root", d / f"flat_{i}.h5"
        assert training_tuple_producer(["--input", str(src), "--output", str(flat), "--n-threads", "2"]) == 0
        assert root_to_hdf_main(["--input", str(flat), "--output", str(h5), "--chunk-size", "300"]) == 0
        files[i] = (src, flat, h5)
    return files


def test_training_tuple_layout(tuples):
    src, flat, _ = tuples[0]
    with uproot.open(flat) as f:
        taus, inner = f["taus"], f["inner_cells"]
        assert taus.num_entries == ROOT_TAUS
        for name in ("gen_e", "gen_mu", "gen_tau", "gen_jet", "innerCells_begin", "innerCells_end",
                     "outerCells_begin", "outerCells_end", "tau_pt", "tau_E_over_pt", "tau_dxy_sig"):
            assert name in taus.keys()
        for name in ("eta_index", "phi_index", "tau_pt", "rho", "pfCand_chHad_rel_pt", "pfCand_chHad_n_total",
                     "pfCand_chHad_valid", "ele_cc_valid", "muon_n_hits_RPC_4"):
            assert name in inner.keys()
        t = taus.arrays(["innerCells_begin", "innerCells_end", "tau_pt", "gen_e", "gen_mu", "gen_tau", "gen_jet"],
                        library="np")
        assert t["innerCells_begin"][0] == 0 and t["innerCells_end"][-1] == inner.num_entries
        assert np.array_equal(t["innerCells_begin"][1:], t["innerCells_end"][:-1])
        labels = np.stack([t[k] for k in ("gen_e", "gen_mu", "gen_tau", "gen_jet")], 1)
        assert set(labels.sum(1)) <= {0, 1} and labels.sum() > 0
        cells = inner.arrays(["eta_index", "phi_index", "tau_pt", "pfCand_chHad_rel_pt"], library="np")
        assert np.abs(cells["eta_index"]).max() <= 5 and np.abs(cells["phi_index"]).max() <= 5
        # unscaled: tau_pt in GeV, rel_pt = pt / tau_pt
        source = uproot.open(src)["taus"].arrays(["tau_pt"], library="np")
        assert np.array_equal(t["tau_pt"], source["tau_pt"])
        assert np.nanmax(cells["pfCand_chHad_rel_pt"]) > 0 and cells["tau_pt"].min() >= 20


def test_hdf5_mirrors_the_root_trees(tuples):
    _, flat, h5 = tuples[0]
    with uproot.open(flat) as f, h5py.File(h5) as h:
        assert h.attrs["n_inner_cells"] == 11 and h.attrs["outer_cell_size"] == 0.05
        for tree in ("taus", "inner_cells", "outer_cells"):
            arrays = f[tree].arrays(library="np")
            assert set(h[tree]) == set(arrays)
            for name, values in arrays.items():
                assert np.array_equal(h[tree][name][:], values, equal_nan=True), (tree, name)
            assert h[tree]["eta_index" if tree != "taus" else "tau_pt"].compression == "gzip"


def test_root_and_hdf5_sources_give_identical_batches(cfg, tuples):
    scaling = identity_scaling(cfg)
    kinds = {}
    for kind, column in (("tautuple", 0), ("flat_root", 1), ("hdf5", 2)):
        files = [tuples[i][column] for i in (0, 1)]
        loader = DataLoader(cfg, files, scaling, batch_size=60, seed=7, n_workers=2, chunk_size=150, sparse=True)
        kinds[kind] = list(loader.epoch(0))
        dense = DataLoader(cfg, files, scaling, batch_size=60, seed=7, n_workers=1, chunk_size=150, n_batches=1)
        kinds[kind].append(next(iter(dense.epoch(0))))
    reference = kinds.pop("tautuple")
    assert len(reference) >= 5
    for kind, batches in kinds.items():
        assert len(batches) == len(reference)
        for (x, y, w), (x0, y0, w0) in zip(batches, reference):
            assert w is None and w0 is None
            assert np.array_equal(y, y0), kind
            assert x.keys() == x0.keys() and all(np.array_equal(x[k], x0[k]) for k in x), kind


def test_loader_batches_seeds_and_epochs(cfg, tuples):
    files = [tuples[i][2] for i in (0, 1)]
    scaling = identity_scaling(cfg)
    x, y, w = next(iter(DataLoader(cfg, files, scaling, batch_size=64, seed=1, n_batches=1, chunk_size=100)
                        .epoch(0)))
    assert list(x) == list(INPUT_NAMES) and x["input_tau"].shape == (64, 43)
    assert x["input_outer_egamma"].shape == (64, 21, 21, 86) and y.shape == (64, 4) and y.dtype == np.float32
    # sparse batches from here on: the same taus and order, cheaper (dense == densified sparse: test_features)
    loader = DataLoader(cfg, files, scaling, batch_size=64, seed=1, n_workers=1, chunk_size=100, sparse=True)
    first = list(loader.epoch(0))
    assert np.array_equal(first[0][0]["input_tau"], x["input_tau"]) and np.array_equal(first[0][1], y)
    assert np.array_equal(y.sum(1), np.ones(64))
    n_taus = sum(len(b[1]) for b in first)
    assert len(first[-1][1]) == n_taus - 64 * (len(first) - 1)  # the last partial batch is kept
    again = list(DataLoader(cfg, files, scaling, batch_size=64, seed=1, n_workers=2, chunk_size=100,
                            sparse=True).epoch(0))
    assert all(np.array_equal(a[1], b[1]) and np.array_equal(a[0]["input_tau"], b[0]["input_tau"])
               for a, b in zip(first, again))
    other_seed = list(DataLoader(cfg, files, scaling, batch_size=64, seed=2, chunk_size=100, sparse=True).epoch(0))
    next_epoch = list(loader.epoch(1))
    for other in (other_seed, next_epoch):
        assert not np.array_equal(other[0][0]["input_tau"], first[0][0]["input_tau"])
        # the same taus in another order
        assert np.allclose(np.sort(np.concatenate([b[0]["input_tau"][:, 1] for b in other])),
                           np.sort(np.concatenate([b[0]["input_tau"][:, 1] for b in first])))
    dropped = list(DataLoader(cfg, files, scaling, batch_size=64, seed=1, drop_last=True, chunk_size=100,
                              sparse=True).epoch(0))
    assert all(len(b[1]) == 64 for b in dropped) and len(dropped) == n_taus // 64
    cycle_warning = (rf"2 input file\(s\) hold {n_taus // 64} batches of 64 taus; they are read again until "
                     rf"n_batches = {3 * len(first)} ")
    with pytest.warns(UserWarning, match=cycle_warning):
        fixed = list(DataLoader(cfg, files, scaling, batch_size=64, seed=1, n_batches=3 * len(first), sparse=True)
                     .epoch(0))
    assert len(fixed) == 3 * len(first) and all(len(b[1]) == 64 for b in fixed)  # cycles through the files


def test_sparse_loader_batches(cfg, tuples):
    files = [tuples[0][0]]
    scaling = identity_scaling(cfg)
    (x, y, _), *_ = DataLoader(cfg, files, scaling, batch_size=50, sparse=True, n_workers=1).epoch(0)
    assert x["input_tau"].shape == (50, 43)
    for grid in ("inner", "outer"):
        index = x[f"{grid}_cells_index"]
        assert index.shape[1] == 3 and index.shape[0] % 256 == 0
        assert x[f"input_{grid}_egamma"].shape == (index.shape[0], 86)
        assert index[:, 0].max() < 50


def test_consumer_may_stop_early(cfg, tuples):
    loader = DataLoader(cfg, [tuples[0][2]], identity_scaling(cfg), batch_size=20, sparse=True, max_queue_size=1)
    for epoch in range(2):  # the producer thread ends although the queue is full
        batches = loader.epoch(epoch)
        assert len(next(batches)[1]) == 20
        batches.close()


def test_split_files_is_sorted_and_deterministic():
    files = ["d.h5", "a.h5", "c.h5", "b.h5", "e.h5"]
    train, val = split_files(files, 0.3)
    assert train == ["a.h5", "b.h5", "c.h5"] and val == ["d.h5", "e.h5"]
    assert split_files(reversed(files), 0.3) == (train, val)
    assert split_files(["x.h5"], 0.3) == (["x.h5"], [])


def test_iterate_taus_keeps_every_tau_in_order(cfg, tuples):
    _, _, h5 = tuples[1]
    batches = list(iterate_taus(h5, cfg, identity_scaling(cfg), batch_size=150, sparse=True))
    assert [len(b["input_tau"]) for b in batches] == [150, 50]
    with h5py.File(h5) as h:
        pt = h["taus"]["tau_pt"][:]
    assert np.array_equal(np.concatenate([b["input_tau"][:, 1] for b in batches]), pt)  # identity scaling


def test_spectrum_weights(cfg, tuples, tmp_path):
    from tauml.features.weights import SpectrumWeights
    edges_eta, edges_pt = np.linspace(0, 2.5, 26), np.linspace(0, 1000, 101)
    hists = {}
    for k, name in enumerate(("e", "mu", "tau", "jet")):
        counts = np.ones((25, 100)) * (k + 1)
        counts[:, :10] *= 2 if name != "tau" else 1
        hists[f"eta_pt_hist_{name}"] = (counts, edges_eta, edges_pt)
    with uproot.recreate(tmp_path / "spectrum.root") as f:
        for name, h in hists.items():
            f[name] = h
    setup = dict(cfg["Setup"], input_spectrum=str(tmp_path / "spectrum.root"),
                 target_spectrum=str(tmp_path / "spectrum.root"))
    wcfg = dict(cfg, Setup=setup)
    loader = DataLoader(wcfg, [tuples[0][2]], identity_scaling(cfg), batch_size=100, weights=True, sparse=True)
    x, y, w = next(iter(loader.epoch(0)))
    assert w.shape == (100,) and w.dtype == np.float32 and (w > 0).all()
    assert np.allclose(w[y[:, 2] == 1], 1.0)  # the tau spectrum is its own target
    weights = SpectrumWeights.from_setup(wcfg)
    low_pt_e = weights.tables[0][0][0]
    assert low_pt_e == pytest.approx(0.5 * weights.tables[0][-1][0])  # twice as many e below 100 GeV


def test_feature_scaling_equals_numpy(cfg, tmp_path, tuples):
    import yaml
    src = [str(tuples[i][0]) for i in (0, 1)]
    run_cfg = dict(cfg, Scaling_setup=dict(cfg["Scaling_setup"], log_step=1))
    cfg_path = tmp_path / "training.yaml"
    cfg_path.write_text(yaml.safe_dump(run_cfg))
    out = tmp_path / "json"
    assert feature_scaling_main(["--cfg", str(cfg_path), "--file-path", *src, "--output-json-folder", str(out)]) == 0
    final = out / "scaling_params_v1.json"
    assert (out / "scaling_params_v1_log_0.json").exists() and (out / "quantile_params_v1.json").exists()
    params = json.loads(final.read_text())
    assert params["TauFlat"]["tau_charge"]["global"] == {"mean": 0.0, "std": 1.0, "lim_min": "-inf", "lim_max": "inf"}
    assert params["TauFlat"]["tau_pt"]["global"] == {"mean": 510.0, "std": 490.0, "lim_min": -1.0, "lim_max": 1.0}
    assert params["PfCand_chHad"]["pfCand_chHad_deta"]["outer"]["std"] == 0.5
    # normal features: the plain numpy mean / std over the same taus and objects
    arrays = [uproot.open(p)["taus"].arrays(["tau_index", "tau_chargedIsoPtSum", "tau_pt", "tau_eta", "tau_phi",
                                             "pfCand_pt", "pfCand_eta", "pfCand_phi", "pfCand_particleType"])
              for p in src]
    a = ak.concatenate(arrays)
    iso = ak.to_numpy(a["tau_chargedIsoPtSum"][a["tau_index"] >= 0]).astype(np.float64)
    got = params["TauFlat"]["tau_chargedIsoPtSum"]["global"]
    assert got["mean"] == float(f"{iso.mean():.4g}") and got["std"] == float(f"{iso.std():.4g}")
    assert got["lim_min"] == -5 and got["lim_max"] == 5
    deta = a["pfCand_eta"] - a["tau_eta"]
    dphi = (a["pfCand_phi"] - a["tau_phi"] + np.pi) % (2 * np.pi) - np.pi
    dr = np.sqrt(deta**2 + dphi**2)
    r_sig = np.maximum(3 / np.maximum(a["tau_pt"], 30), 0.05)
    chhad = a["pfCand_particleType"] == 1
    for cone, mask in (("inner", chhad & (dr < r_sig)), ("outer", chhad & (dr < 0.5))):
        rel = ak.to_numpy(ak.flatten((a["pfCand_pt"] / a["tau_pt"])[mask])).astype(np.float64)
        p = params["PfCand_chHad"]["pfCand_chHad_rel_pt"][cone]
        assert math.isclose(p["mean"], float(f"{rel.mean():.4g}"), rel_tol=2e-4), cone
        assert math.isclose(p["std"], float(f"{rel.std():.4g}"), rel_tol=2e-4), cone
    # the loader accepts it
    x, _, _ = next(iter(DataLoader(cfg, [tuples[1][2]], final, batch_size=100, n_batches=1).epoch(0)))
    assert all(np.isfinite(v).all() for v in x.values())


def test_feature_scaling_nan_input(tmp_path, capsys):
    a = realistic(20, 30)
    a["pfCand_dxy"] = ak.where(ak.local_index(a["pfCand_dxy"]) == 0, np.float32(np.nan), a["pfCand_dxy"])
    write_tree(tmp_path / "nan.root", a)
    out = tmp_path / "json"
    rc = feature_scaling_main(["--cfg", str(CFG_PATH), "--file-path", str(tmp_path / "nan.root"),
                               "--output-json-folder", str(out)])
    assert rc == 1 and "nan.root: NaN in branch 'pfCand_dxy'" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_producer_bad_inputs_leave_nothing(tmp_path, capsys):
    a = realistic(20, 31)
    del a["ele_gsfTrack_pt_error"]
    write_tree(tmp_path / "missing.root", a)
    (tmp_path / "junk.root").write_bytes(b"not a ROOT file")
    for name, message in (("missing.root", "ele_gsfTrack_pt_error"), ("junk.root", "not a readable ROOT file"),
                          ("absent.root", "no such file")):
        out = tmp_path / f"out_{name}"
        assert training_tuple_producer(["--input", str(tmp_path / name), "--output", str(out)]) == 1
        assert message in capsys.readouterr().err
        assert list(tmp_path.glob("out_*")) == [] and list(tmp_path.glob(".out_*")) == []


def test_flat_tuple_with_other_cells_is_rejected(cfg, tmp_path):
    write_tree(tmp_path / "t.root", realistic(30, 32))
    flat = tmp_path / "flat.root"
    assert training_tuple_producer(["--input", str(tmp_path / "t.root"), "--output", str(flat),
                                    "--n-inner-cells", "9"]) == 0
    assert root_to_hdf_main(["--input", str(flat), "--output", str(tmp_path / "flat.h5")]) == 0
    for path in (flat, tmp_path / "flat.h5"):
        with pytest.raises(Exception, match="another cell configuration: n_inner_cells 9.0 \\(config: 11\\)"):
            open_source(path, cfg)


def test_producer_parts_and_parity(tuples, tmp_path):
    src = tuples[0][0]
    parts = []
    for part in range(2):
        out = tmp_path / f"p{part}.root"
        assert training_tuple_producer(["--input", str(src), "--output", str(out), "--n-parts", "2",
                                        "--part", str(part)]) == 0
        parts.append(uproot.open(out)["taus"].arrays(["evt"], library="np")["evt"])
    whole = uproot.open(src)["taus"].arrays(["evt"], library="np")["evt"]
    assert np.array_equal(np.concatenate(parts), whole)
    odd = tmp_path / "odd.root"
    assert training_tuple_producer(["--input", str(src), "--output", str(odd), "--parity", "1",
                                    "--end-entry", "100"]) == 0
    evt = uproot.open(odd)["taus"].arrays(["evt"], library="np")["evt"]
    assert np.array_equal(evt, whole[:100][whole[:100] % 2 == 1])


def test_feature_scaling_masks_infinities(tmp_path):
    a = realistic(60, 33)
    iso = np.array(a["tau_chargedIsoPtSum"], np.float32)
    iso[[2, 7]] = [np.inf, -np.inf]
    a["tau_chargedIsoPtSum"] = iso
    write_tree(tmp_path / "inf.root", a)
    out = tmp_path / "json"
    assert feature_scaling_main(["--cfg", str(CFG_PATH), "--file-path", str(tmp_path / "inf.root"),
                                 "--output-json-folder", str(out), "--var_types", "TauFlat"]) == 0
    params = json.loads((out / "scaling_params_v1.json").read_text())
    assert list(params) == ["TauFlat"]
    finite = iso[np.isfinite(iso) & (np.asarray(a["tau_index"]) >= 0)].astype(np.float64)
    assert params["TauFlat"]["tau_chargedIsoPtSum"]["global"]["mean"] == float(f"{finite.mean():.4g}")
