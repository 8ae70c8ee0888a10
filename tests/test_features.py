"""tauml.features: the training configuration, cell membership and indexing, validity rules, scaling, batches.

Hand-built taus put objects at known (deta, dphi); everything else comes from tauml.core.testing.
"""
import copy
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from tauml.core.errors import TaumlError
from tauml.core.io import write_tree
from tauml.core.schema import branches, collections
from tauml.core.testing import random_tautuple
from tauml.features.batches import densify, inputs, one_hot
from tauml.features.blocks import TAU_FLAT, column_index
from tauml.features.config import INPUT_NAMES, input_shapes, load_training_cfg
from tauml.features.scaling import Scaling, read_scaling
from tauml.features.sources import open_source

REPO = Path(__file__).resolve().parents[1]
CFG_PATH = REPO / "config/training/training_v1.yaml"
COL = column_index()
TAU = {name: i for i, name in enumerate(TAU_FLAT)}
ROOT_LEAF_CODE = {"f4": "F", "i4": "I", "u4": "i", "u8": "l"}


@pytest.fixture(scope="module")
def cfg():
    return load_training_cfg(CFG_PATH)


def identity_scaling(cfg) -> dict:
    """Scaling JSON content with mean 0, std 1 and no limits for every feature: scaled == raw."""
    data = {}
    for obj_type, entries in cfg["Features_all"].items():
        p = {"mean": 0, "std": 1, "lim_min": "-inf", "lim_max": "inf"}
        data[obj_type] = {next(iter(e)): ({"global": p} if obj_type in ("TauFlat", "GridGlobal")
                                          else {"inner": p, "outer": p}) for e in entries}
    return data


def hand_built(taus: list[dict], seed: int = 0) -> dict:
    """A TauTuple (all schema branches) whose taus carry exactly the given pfCand/ele/muon objects.

    Each tau: {"pt", "eta", "phi", optional tau branch values, "pfCand": [{branch suffix: value}], "ele": [...],
    "muon": [...]}; object positions are given as "deta"/"dphi" relative to the tau. Unset object branches are 1.
    """
    n = len(taus)
    a = random_tautuple(n, seed=seed)
    a["tau_pt"] = np.array([t["pt"] for t in taus], np.float32)
    a["tau_eta"] = np.array([t["eta"] for t in taus], np.float32)
    a["tau_phi"] = np.array([t["phi"] for t in taus], np.float32)
    for t_i, t in enumerate(taus):
        for key, value in t.items():
            if key.startswith("tau_") and key not in ("tau_pt", "tau_eta", "tau_phi"):
                a[key] = np.array(a[key]).copy()
                a[key][t_i] = value
    schema = branches()
    for coll in ("pfCand", "ele", "muon"):
        objects = [t.get(coll, []) for t in taus]
        counts = np.array([len(o) for o in objects])
        for name in collections()[coll]:
            suffix = name[len(coll) + 1:]
            values = []
            for t, objs in zip(taus, objects):
                for o in objs:
                    if suffix == "eta":
                        values.append(t["eta"] + o.get("deta", 0.0))
                    elif suffix == "phi":
                        phi = t["phi"] + o.get("dphi", 0.0)
                        values.append((phi + np.pi) % (2 * np.pi) - np.pi)
                    else:
                        values.append(o.get(suffix, 1))
            a[name] = ak.unflatten(np.array(values, schema[name].dtype), counts)
    return a


def realistic(n: int, seed: int) -> dict:
    """random_tautuple with valid PF types and objects spread around each tau (|deta|, |dphi| ~ 0.15)."""
    a = random_tautuple(n, seed=seed)
    rng = np.random.default_rng(seed)
    for coll in ("pfCand", "ele", "muon"):
        counts = ak.num(a[f"{coll}_pt"])
        total = int(ak.sum(counts))
        a[f"{coll}_eta"] = ak.unflatten((np.repeat(a["tau_eta"], counts) + rng.normal(0, 0.15, total))
                                        .astype(np.float32), counts)
        a[f"{coll}_phi"] = ak.unflatten((np.repeat(a["tau_phi"], counts) + rng.normal(0, 0.15, total))
                                        .astype(np.float32), counts)
        a[f"{coll}_pt"] = ak.unflatten(rng.exponential(5, total).astype(np.float32), counts)
    counts = ak.num(a["pfCand_pt"])
    a["pfCand_particleType"] = ak.unflatten(rng.integers(0, 8, int(ak.sum(counts))).astype(np.int32), counts)
    a["pfCand_hasTrackDetails"] = ak.unflatten(rng.integers(0, 2, int(ak.sum(counts))).astype(np.int32), counts)
    return a


def read_all(path, cfg):
    source = open_source(path, cfg)
    return source.read(0, source.n_entries)


# --- configuration ----------------------------------------------------------------------------------------
def test_default_feature_counts_and_shapes(cfg):
    shapes = input_shapes(cfg)
    assert list(shapes) == list(INPUT_NAMES)
    assert shapes == {"input_tau": (43,), "input_inner_egamma": (11, 11, 86), "input_inner_muon": (11, 11, 64),
                      "input_inner_hadrons": (11, 11, 38), "input_outer_egamma": (21, 21, 86),
                      "input_outer_muon": (21, 21, 64), "input_outer_hadrons": (21, 21, 38)}


def test_disabling_a_feature_changes_shapes_and_batches(cfg, tmp_path):
    changed = copy.deepcopy(cfg)
    changed["Features_disable"]["PfCand_chHad"] = ["pfCand_chHad_dxy"]
    changed["Features_disable"]["TauFlat"] = ["tau_phi", "tau_mass"]
    shapes = input_shapes(changed)
    assert shapes["input_tau"] == (42,)
    assert shapes["input_inner_hadrons"] == (11, 11, 37) and shapes["input_outer_hadrons"] == (21, 21, 37)
    write_tree(tmp_path / "t.root", realistic(20, 1))
    x = inputs(read_all(tmp_path / "t.root", changed), changed, Scaling(identity_scaling(changed), changed))
    assert {k: v.shape[1:] for k, v in x.items()} == shapes


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.pop("SetupNN"), "missing top-level key"),
    (lambda c: c["Features_all"]["Muon"].append({"muon_foo": [None, None, "normal"]}), "no feature 'muon_foo'"),
    (lambda c: c["Features_disable"].update(Muon=["muon_bar"]), "not in Features_all: muon_bar"),
    (lambda c: c["Setup"].update(n_inner_cells=10), "odd positive"),
    (lambda c: c["Features_all"]["TauFlat"][0].update(rho=[None, None, "weird"]), "scaling type"),
])
def test_bad_config_is_a_clear_error(cfg, tmp_path, edit, message):
    import yaml
    bad = copy.deepcopy(cfg)
    edit(bad)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(TaumlError, match=message):
        load_training_cfg(path)


# --- cells --------------------------------------------------------------------------------------------------
def _cells_of(raw, grid, tau_row=0):
    c = raw.cells[grid]
    sel = c.tau_row == tau_row
    return {(int(e), int(p)): v for e, p, v in zip(c.eta_index[sel], c.phi_index[sel], c.values[sel])}


def test_cell_membership_indexing_wrap_and_highest_pt(cfg, tmp_path):
    tau = {"pt": 50.0, "eta": 0.3, "phi": 3.1, "pfCand": [
        {"particleType": 1, "deta": 0.021, "dphi": -0.043, "pt": 10.0},   # chHad in the signal cone: both grids
        {"particleType": 1, "deta": 0.0, "dphi": 0.0832, "pt": 3.0},      # across phi = pi: outer (0, +2)
        {"particleType": 4, "deta": 0.2, "dphi": 0.21, "pt": 5.0},        # two photons, one outer cell (4, 4)
        {"particleType": 4, "deta": 0.21, "dphi": 0.19, "pt": 9.0},
        {"particleType": 0, "deta": 0.0, "dphi": 0.0, "pt": 7.0},         # type 0: ignored
        {"particleType": 5, "deta": 0.6, "dphi": 0.0, "pt": 4.0},         # dR > 0.5: in no grid
    ], "ele": [{"deta": -0.15, "dphi": 0.1, "pt": 20.0}], "muon": [{"deta": 0.45, "dphi": 0.3, "pt": 6.0}]}
    write_tree(tmp_path / "t.root", hand_built([tau]))
    raw = read_all(tmp_path / "t.root", cfg)
    inner, outer = _cells_of(raw, "inner"), _cells_of(raw, "outer")
    assert list(inner) == [(1, -2)]
    assert sorted(outer) == sorted([(0, -1), (0, 2), (4, 4), (-3, 2)])  # the muon (dR 0.54) is dropped
    chhad = inner[(1, -2)]
    assert chhad[COL["pfCand_chHad_valid"]] == 1 and chhad[COL["pfCand_chHad_n_total"]] == 1
    assert chhad[COL["pfCand_chHad_rel_pt"]] == pytest.approx(10 / 50, rel=1e-5)
    assert chhad[COL["pfCand_chHad_deta"]] == pytest.approx(0.021, abs=1e-5)
    assert chhad[COL["pfCand_chHad_dphi"]] == pytest.approx(-0.043, abs=1e-5)
    assert chhad[COL["pfCand_gamma_valid"]] == 0 and chhad[COL["pfCand_gamma_n_total"]] == 0
    assert np.isnan(chhad[COL["pfCand_gamma_rel_pt"]])
    assert np.array_equal(outer[(0, -1)][COL["pfCand_chHad_rel_pt"]], chhad[COL["pfCand_chHad_rel_pt"]])
    wrapped = outer[(0, 2)]
    assert wrapped[COL["pfCand_chHad_dphi"]] == pytest.approx(0.0832, abs=1e-4)
    photons = outer[(4, 4)]
    assert photons[COL["pfCand_gamma_n_total"]] == 2
    assert photons[COL["pfCand_gamma_rel_pt"]] == pytest.approx(9 / 50, rel=1e-5)
    assert outer[(-3, 2)][COL["ele_rel_pt"]] == pytest.approx(20 / 50, rel=1e-5)
    assert all(v[COL["pfCand_nHad_n_total"]] == 0 and v[COL["muon_n_total"]] == 0 for v in outer.values())


def test_signal_cone_radius_follows_tau_pt(cfg, tmp_path):
    # R_sig = max(3 / max(pt, 30), 0.05): 0.1 at 20 GeV, 0.05 at 100 GeV; an object at dR 0.07
    obj = {"particleType": 1, "deta": 0.07, "dphi": 0.0, "pt": 5.0}
    write_tree(tmp_path / "t.root", hand_built([{"pt": 20.0, "eta": 0.0, "phi": 0.0, "pfCand": [obj]},
                                                {"pt": 100.0, "eta": 0.0, "phi": 0.0, "pfCand": [obj]}]))
    raw = read_all(tmp_path / "t.root", cfg)
    assert list(_cells_of(raw, "inner", 0)) == [(4, 0)] and _cells_of(raw, "inner", 1) == {}
    assert list(_cells_of(raw, "outer", 0)) == list(_cells_of(raw, "outer", 1)) == [(1, 0)]


def test_validity_rules(cfg, tmp_path):
    pf = [{"particleType": 1, "deta": 0.01, "dphi": 0.0, "pt": 9.0, "hasTrackDetails": 0, "dxy": 0.5},
          {"particleType": 1, "deta": 0.2, "dphi": 0.0, "pt": 9.0, "hasTrackDetails": 1, "dxy": -0.5,
           "dxy_error": 0.25, "track_ndof": 0, "track_chi2": 3.0},
          {"particleType": 1, "deta": 0.3, "dphi": 0.0, "pt": 9.0, "hasTrackDetails": 1, "dxy": 0.1,
           "dxy_error": 0.0, "track_ndof": 4, "track_chi2": 2.0}]
    ele = [{"deta": -0.2, "dphi": 0.0, "cc_ele_energy": -1.0, "closestCtfTrack_normalizedChi2": -1.0},
           {"deta": -0.3, "dphi": 0.0, "pt": 10.0, "cc_ele_energy": 5.0, "cc_gamma_energy": 2.0,
            "closestCtfTrack_normalizedChi2": 1.5}]
    muon = [{"deta": 0.0, "dphi": 0.2, "dxy_error": 0.0, "normalizedChi2": -1.0, "pfEcalEnergy": -1.0},
            {"deta": 0.0, "dphi": 0.3, "pt": 4.0, "dxy": -0.2, "dxy_error": 0.1, "normalizedChi2": 2.0,
             "pfEcalEnergy": 2.0}]
    taus = [{"pt": 40.0, "eta": 0.0, "phi": 0.0, "pfCand": pf, "ele": ele, "muon": muon, "tau_dxy": -20.0,
             "tau_dxy_error": 1.0, "tau_chargedIsoPtSum": 0.0, "tau_e_ratio": 0.0, "tau_gj_angle_diff": -1.0,
             "tau_dz_error": 0.0, "tau_decayMode": 11},
            {"pt": 40.0, "eta": 0.0, "phi": 0.0, "tau_dxy": 0.02, "tau_dxy_error": 0.01, "tau_chargedIsoPtSum": 4.0,
             "tau_chargedIsoPtSumdR03": 1.0, "tau_e_ratio": 0.5, "tau_gj_angle_diff": 0.1, "tau_dz": -0.3,
             "tau_dz_error": 0.1, "tau_decayMode": 1}]
    write_tree(tmp_path / "t.root", hand_built(taus))
    raw = read_all(tmp_path / "t.root", cfg)
    outer = _cells_of(raw, "outer")
    no_track, no_ndof, zero_err = outer[(0, 0)], outer[(4, 0)], outer[(6, 0)]
    assert no_track[COL["pfCand_chHad_hasTrackDetails"]] == 0
    assert np.isnan(no_track[[COL["pfCand_chHad_dxy"], COL["pfCand_chHad_dxy_sig"], COL["pfCand_chHad_dz"],
                              COL["pfCand_chHad_track_chi2_ndof"], COL["pfCand_chHad_track_ndof"]]]).all()
    assert no_ndof[COL["pfCand_chHad_dxy"]] == pytest.approx(-0.5)
    assert no_ndof[COL["pfCand_chHad_dxy_sig"]] == pytest.approx(2.0)
    assert np.isnan(no_ndof[COL["pfCand_chHad_track_chi2_ndof"]])
    assert np.isnan(zero_err[COL["pfCand_chHad_dxy_sig"]])  # |dxy| / 0 is not finite
    assert zero_err[COL["pfCand_chHad_track_chi2_ndof"]] == pytest.approx(0.5)
    bad_ele, good_ele = outer[(-4, 0)], outer[(-6, 0)]
    assert bad_ele[COL["ele_cc_valid"]] == 0 and np.isnan(bad_ele[COL["ele_cc_ele_rel_energy"]])
    assert bad_ele[COL["ele_has_closestCtfTrack"]] == 0 and np.isnan(bad_ele[COL["ele_closestCtfTrack_normalizedChi2"]])
    assert good_ele[COL["ele_cc_ele_rel_energy"]] == pytest.approx(0.5)
    assert good_ele[COL["ele_cc_gamma_rel_energy"]] == pytest.approx(0.4)
    assert good_ele[COL["ele_closestCtfTrack_normalizedChi2"]] == pytest.approx(1.5)
    bad_mu, good_mu = outer[(0, 4)], outer[(0, 6)]
    assert np.isnan(bad_mu[COL["muon_dxy_sig"]]) and bad_mu[COL["muon_normalizedChi2_valid"]] == 0
    assert np.isnan(bad_mu[COL["muon_normalizedChi2"]]) and bad_mu[COL["muon_pfEcalEnergy_valid"]] == 0
    assert good_mu[COL["muon_dxy_sig"]] == pytest.approx(2.0)
    assert good_mu[COL["muon_rel_pfEcalEnergy"]] == pytest.approx(0.5)
    t0, t1 = raw.tau
    assert t0[TAU["tau_dxy_valid"]] == 0 and np.isnan(t0[TAU["tau_dxy"]]) and np.isnan(t0[TAU["tau_dxy_sig"]])
    assert np.isnan(t0[TAU["tau_chargedIsoPtSumdR03_over_dR05"]])
    assert t0[TAU["tau_e_ratio_valid"]] == 0 and t0[TAU["tau_gj_angle_diff_valid"]] == 0
    assert t0[TAU["tau_dz_sig_valid"]] == 0 and np.isnan(t0[TAU["tau_dz_sig"]])
    assert t0[TAU["tau_n_charged_prongs"]] == 3 and t0[TAU["tau_n_neutral_prongs"]] == 1
    assert t1[TAU["tau_dxy_sig"]] == pytest.approx(2.0) and t1[TAU["tau_chargedIsoPtSumdR03_over_dR05"]] == 0.25
    assert t1[TAU["tau_dz_sig"]] == pytest.approx(3.0) and t1[TAU["tau_n_charged_prongs"]] == 1
    # undefined values are 0 after scaling; so is every feature of a type absent from the cell
    x = inputs(raw, cfg, Scaling(identity_scaling(cfg), cfg))
    assert np.isfinite(np.concatenate([v.ravel() for v in x.values()])).all()


# --- scaling ----------------------------------------------------------------------------------------------
def test_scaling_equals_numpy_and_json_round_trips(cfg, tmp_path):
    write_tree(tmp_path / "t.root", realistic(300, 3))
    raw = read_all(tmp_path / "t.root", cfg)
    data = identity_scaling(cfg)
    data["TauFlat"]["tau_chargedIsoPtSum"]["global"] = {"mean": 2.0, "std": 4.0, "lim_min": -1, "lim_max": 1}
    data["PfCand_chHad"]["pfCand_chHad_rel_pt"] = {"inner": {"mean": 0.1, "std": 0.2, "lim_min": -5, "lim_max": 5},
                                                   "outer": {"mean": 0.02, "std": 0.1, "lim_min": -5, "lim_max": 5}}
    path = tmp_path / "scaling.json"
    import json
    path.write_text(json.dumps(data))
    assert read_scaling(path) == data
    scaling = Scaling.from_file(path, cfg)
    x = inputs(raw, cfg, scaling)
    taus = [n for n in TAU_FLAT if n != "tau_phi"]
    iso = raw.tau[:, TAU["tau_chargedIsoPtSum"]]
    assert np.array_equal(x["input_tau"][:, taus.index("tau_chargedIsoPtSum")],
                          np.clip((iso - np.float32(2)) / np.float32(4), -1, 1))
    hadrons = [n for t in cfg["SetupNN"]["input_grids"][2] for e in cfg["Features_all"][t] for n in e]
    f = hadrons.index("pfCand_chHad_rel_pt")
    for grid, (mean, std) in (("inner", (0.1, 0.2)), ("outer", (0.02, 0.1))):
        c = raw.cells[grid]
        n = 11 if grid == "inner" else 21
        v = c.values[:, COL["pfCand_chHad_rel_pt"]]
        expected = np.where(np.isnan(v), 0, np.clip((v - np.float32(mean)) / np.float32(std), -5, 5))
        got = x[f"input_{grid}_hadrons"][c.tau_row, c.eta_index + n // 2, c.phi_index + n // 2, f]
        assert np.array_equal(got, expected)
        assert (c.values[:, COL["pfCand_chHad_n_total"]] == 0).sum() > 0  # some cells without a chHad: 0
    # GridGlobal is in every non-empty cell and only there
    rho = x["input_outer_muon"][..., 0]
    assert (rho != 0).sum() == np.count_nonzero(raw.tau[raw.cells["outer"].tau_row, TAU["rho"]])


def test_scaling_json_lacking_a_feature(cfg, tmp_path):
    data = identity_scaling(cfg)
    del data["Muon"]["muon_n_hits_RPC_2"]
    with pytest.raises(TaumlError, match="no scaling parameters for Muon.muon_n_hits_RPC_2"):
        Scaling(data, cfg, "s.json")


# --- batches ------------------------------------------------------------------------------------------------
def test_sparse_batches_densify_to_dense(cfg, tmp_path):
    write_tree(tmp_path / "t.root", realistic(120, 4))
    raw = read_all(tmp_path / "t.root", cfg)
    scaling = Scaling(identity_scaling(cfg), cfg)
    dense = inputs(raw, cfg, scaling)
    sparse = inputs(raw, cfg, scaling, sparse=True)
    for grid in ("inner", "outer"):
        index = sparse[f"{grid}_cells_index"]
        assert index.dtype == np.int32 and index.shape[0] % 256 == 0
        assert len(raw.cells[grid].tau_row) <= index.shape[0]
    again = densify(sparse, cfg, len(raw))
    assert set(again) == set(INPUT_NAMES)
    for name in INPUT_NAMES:
        assert dense[name].dtype == np.float32
        assert np.array_equal(again[name], dense[name]), name


def test_one_hot_labels(cfg):
    y = one_hot(np.array([0, 1, 2, 3, -1, 5], np.int32), cfg)
    assert y.dtype == np.float32
    assert np.array_equal(y, np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0] * 4, [0] * 4]))


# --- bad input --------------------------------------------------------------------------------------------
def test_missing_feature_branch_is_named(cfg, tmp_path):
    a = realistic(10, 5)
    del a["pfCand_dz_error"]
    write_tree(tmp_path / "t.root", a)
    with pytest.raises(TaumlError, match="pfCand_dz_error"):
        open_source(tmp_path / "t.root", cfg)


def test_nan_in_an_input_is_an_error(cfg, tmp_path):
    a = realistic(10, 6)
    a["tau_footprintCorrection"] = np.array(a["tau_footprintCorrection"]).copy()
    a["tau_footprintCorrection"][3] = np.nan
    write_tree(tmp_path / "t.root", a)
    with pytest.raises(TaumlError, match="NaN in branch 'tau_footprintCorrection'"):
        read_all(tmp_path / "t.root", cfg)


def test_unknown_pf_type_is_an_error(cfg, tmp_path):
    write_tree(tmp_path / "t.root", hand_built([{"pt": 30.0, "eta": 0.0, "phi": 0.0,
                                                 "pfCand": [{"particleType": 9}]}]))
    with pytest.raises(TaumlError, match="unknown pfCand_particleType 9"):
        read_all(tmp_path / "t.root", cfg)


def test_std_vector_inputs_give_the_same_cells(cfg, tmp_path):
    ROOT = pytest.importorskip("ROOT")
    import uproot
    from tauml.features.grids import needed_branches
    a = realistic(25, 8)
    write_tree(tmp_path / "counted.root", a)
    names = needed_branches(cfg)
    f = ROOT.TFile(str(tmp_path / "vector.root"), "RECREATE")
    tree = ROOT.TTree("taus", "taus")
    holders = {}
    for name in names:
        dtype = branches()[name].dtype
        if branches()[name].jagged:
            holders[name] = ROOT.std.vector("float" if dtype.kind == "f" else "int")()
            tree.Branch(name, holders[name])
        else:
            holders[name] = np.zeros(1, dtype)
            tree.Branch(name, holders[name], f"{name}/{ROOT_LEAF_CODE[dtype.str[1:]]}")
    for i in range(25):
        for name in names:
            if branches()[name].jagged:
                holders[name].clear()
                for x in np.asarray(a[name][i]).tolist():
                    holders[name].push_back(x)
            else:
                holders[name][0] = np.asarray(a[name])[i]
        tree.Fill()
    f.Write()
    f.Close()
    assert "vector<float>" in uproot.open(tmp_path / "vector.root")["taus"]["pfCand_pt"].typename
    counted, vector = read_all(tmp_path / "counted.root", cfg), read_all(tmp_path / "vector.root", cfg)
    assert np.array_equal(counted.tau, vector.tau, equal_nan=True)
    assert np.array_equal(counted.tau_type, vector.tau_type)
    for grid in ("inner", "outer"):
        c, v = counted.cells[grid], vector.cells[grid]
        assert len(c.tau_row) > 0
        assert np.array_equal(c.tau_row, v.tau_row) and np.array_equal(c.eta_index, v.eta_index)
        assert np.array_equal(c.phi_index, v.phi_index) and np.array_equal(c.values, v.values, equal_nan=True)
