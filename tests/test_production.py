"""Embedded TauTuple production: physics content, format, reproducibility and errors.

The physics checks run on the small tuples of the ``produced_tuples`` fixture (a few hundred events per process),
so their tolerances are loose and stated next to each check.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from tauml.core.errors import TaumlError
from tauml.production import PROCESSES, produce
from tauml.core.schema import SUMMARY_BRANCHES, TAU_TYPE_BRANCHES, TauType, branches, collections, tau_type

REPO = Path(__file__).resolve().parents[1]
C_TAU_CM = 0.00871  # tau lifetime c*tau = 87.1 um
TAU_MASS = 1.77686
EXPECTED_TYPE = {"DYtautau": TauType.tau, "DYee": TauType.e, "DYmumu": TauType.mu, "WJets": TauType.jet,
                 "TT": TauType.jet, "QCD": TauType.jet, "ZprimeTauTau": TauType.tau, "ZprimeEE": TauType.e}


def read(path, names):
    return uproot.open(path)["taus"].arrays(names, library="np")


def typed(path, extra=()):
    a = read(path, list(TAU_TYPE_BRANCHES) + ["tau_index", *extra])
    return a, tau_type(a)


def test_every_process_is_covered():
    assert set(EXPECTED_TYPE) == set(PROCESSES)


@pytest.mark.parametrize("process", sorted(EXPECTED_TYPE))
def test_expected_tau_type_dominates(produced_tuples, process):
    a, types = typed(produced_tuples[process])
    with_tau = types[(a["tau_index"] >= 0) & (types >= 0)]
    counts = np.bincount(with_tau, minlength=4)
    assert counts.sum() >= 30, f"{process}: only {counts.sum()} typed reco taus"
    assert np.argmax(counts) == EXPECTED_TYPE[process], f"{process}: type counts e/mu/tau/jet = {counts}"


def test_genuine_taus_are_matched_to_reco_taus(produced_tuples):
    a, types = typed(produced_tuples["DYtautau"])
    tau_h = a["genLepton_kind"] == 5
    visible = tau_h & (a["genLepton_vis_pt"] > 25) & (np.abs(a["genLepton_vis_eta"]) < 2.1)
    efficiency = np.mean(types[visible] == TauType.tau)
    assert visible.sum() > 50
    assert 0.6 < efficiency <= 1.0, f"reconstruction efficiency of visible tau_h: {efficiency:.2f}"


def test_decay_mode_fractions_of_genuine_taus(produced_tuples):
    """Reconstructed decay modes of genuine tau_h against the PDG hadronic branching fractions: h nu 11.5%,
    h pi0(s) nu 36.6%, 3h (pi0) nu 14.6% of 64.8%. Tolerance 0.10 absolute: statistics of a few hundred taus
    plus the usual migrations (lost pi0s, lost tracks)."""
    dm = np.concatenate([read(produced_tuples[p], ["tau_decayMode"])["tau_decayMode"][
        typed(produced_tuples[p])[1] == TauType.tau] for p in ("DYtautau", "ZprimeTauTau")])
    assert len(dm) > 150
    fractions = {"1-prong": np.mean(dm == 0), "1-prong + pi0": np.mean((dm == 1) | (dm == 2)),
                 "3-prong": np.mean((dm == 10) | (dm == 11))}
    expected = {"1-prong": 11.5 / 64.8, "1-prong + pi0": 36.6 / 64.8, "3-prong": 14.6 / 64.8}
    for name, value in fractions.items():
        assert abs(value - expected[name]) < 0.10, f"{name}: {value:.3f} vs {expected[name]:.3f}"
    assert set(np.unique(dm)) <= {0, 1, 2, 10, 11}


def _gen_gamma_beta(chains, entries):
    """gamma*beta of the last tau copy of each entry's gen decay chain."""
    out = []
    for k in entries:
        ids = chains.genParticle_pdgId[k].to_numpy()
        last = np.flatnonzero(np.abs(ids) == 15)[-1]
        p = chains.genParticle_pt[k][last] * np.cosh(chains.genParticle_eta[k][last])
        out.append(p / TAU_MASS)
    return np.array(out)


def test_mean_flight_length_follows_tau_lifetime(produced_tuples):
    """Reconstructed 3-prong flight lengths: their sum must agree with sum(gamma*beta*c*tau) within 3 sigma of
    the exponential spread plus the vertex resolution."""
    lengths, expected = [], []
    for process in ("DYtautau", "ZprimeTauTau"):
        path = produced_tuples[process]
        a, types = typed(path, ["tau_hasSecondaryVertex", "tau_flightLength_x", "tau_flightLength_y",
                                "tau_flightLength_z"])
        entries = np.flatnonzero((types == TauType.tau) & (a["tau_hasSecondaryVertex"] == 1))
        fl = np.sqrt(sum(a[f"tau_flightLength_{c}"][entries].astype(float) ** 2 for c in "xyz"))
        chains = uproot.open(path)["taus"].arrays(["genParticle_pdgId", "genParticle_pt", "genParticle_eta"])
        lengths.append(fl)
        expected.append(_gen_gamma_beta(chains, entries) * C_TAU_CM)
    lengths, expected = np.concatenate(lengths), np.concatenate(expected)
    assert len(lengths) >= 20
    sigma = np.sqrt(np.sum(expected**2) + len(lengths) * 0.01**2)
    pull = (lengths.sum() - expected.sum()) / sigma
    assert abs(pull) < 3, f"sum of flight lengths {lengths.sum():.3f} cm vs {expected.sum():.3f} cm (pull {pull:.1f})"
    assert 0.6 < lengths.mean() / expected.mean() < 1.4


def test_isolation_and_tracks_separate_taus_from_jets(produced_tuples):
    names = ["tau_chargedIsoPtSum", "tau_dxy", "tau_dxy_error", "tau_neutralIsoPtSum"]
    a_tau, t_tau = typed(produced_tuples["DYtautau"], names)
    a_jet, t_jet = typed(produced_tuples["QCD"], names)
    tau = t_tau == TauType.tau
    jet = (t_jet == TauType.jet) & (a_jet["tau_index"] >= 0)
    assert np.median(a_tau["tau_chargedIsoPtSum"][tau]) < 0.3 * np.median(a_jet["tau_chargedIsoPtSum"][jet])
    assert np.mean(a_tau["tau_chargedIsoPtSum"][tau] < 2.5) > 2 * np.mean(a_jet["tau_chargedIsoPtSum"][jet] < 2.5)
    significance_tau = np.abs(a_tau["tau_dxy"] / a_tau["tau_dxy_error"])[tau]
    significance_jet = np.abs(a_jet["tau_dxy"] / a_jet["tau_dxy_error"])[jet]
    assert np.mean(significance_tau > 3) > 2 * np.mean(significance_jet > 3)


def test_flight_length_significance_separates_taus_from_jets(produced_tuples):
    names = ["tau_hasSecondaryVertex", "tau_flightLength_sig"]
    a_tau, t_tau = typed(produced_tuples["DYtautau"], names)
    a_jet, t_jet = typed(produced_tuples["QCD"], names)
    tau = (t_tau == TauType.tau) & (a_tau["tau_hasSecondaryVertex"] == 1)
    jet = (t_jet == TauType.jet) & (a_jet["tau_hasSecondaryVertex"] == 1)
    assert tau.sum() >= 10 and jet.sum() >= 10
    median_tau, median_jet = np.median(a_tau["tau_flightLength_sig"][tau]), np.median(a_jet["tau_flightLength_sig"][jet])
    assert median_tau > 2 and median_tau > median_jet + 1, (median_tau, median_jet)


def test_electron_and_muon_objects_distinguish_real_from_fake(produced_tuples):
    real_e = uproot.open(produced_tuples["DYee"])["taus"].arrays(["ele_eSuperClusterOverP", "ele_mvaInput_hadEnergy",
                                                                  "ele_ecalEnergy"])
    fake_e = uproot.open(produced_tuples["QCD"])["taus"].arrays(["ele_eSuperClusterOverP", "ele_mvaInput_hadEnergy",
                                                                 "ele_ecalEnergy"])
    e_over_p_real = ak.flatten(real_e.ele_eSuperClusterOverP).to_numpy()
    e_over_p_fake = ak.flatten(fake_e.ele_eSuperClusterOverP).to_numpy()
    assert len(e_over_p_real) > 50 and len(e_over_p_fake) > 5
    assert abs(np.median(e_over_p_real) - 1) < 0.1
    assert np.median(e_over_p_fake) < 0.7
    h_over_e_real = np.median(ak.flatten(real_e.ele_mvaInput_hadEnergy / real_e.ele_ecalEnergy).to_numpy())
    h_over_e_fake = np.median(ak.flatten(fake_e.ele_mvaInput_hadEnergy / fake_e.ele_ecalEnergy).to_numpy())
    assert h_over_e_fake > 10 * h_over_e_real
    muons = uproot.open(produced_tuples["DYmumu"])["taus"].arrays(["muon_segmentCompatibility", "muon_n_matches_DT_1",
                                                                   "muon_n_matches_CSC_1"])
    compat = ak.flatten(muons.muon_segmentCompatibility).to_numpy()
    stations = ak.flatten(muons.muon_n_matches_DT_1 + muons.muon_n_matches_CSC_1).to_numpy()
    assert len(compat) > 50 and np.median(compat) > 0.8 and np.mean(stations > 0) > 0.9


def test_bremsstrahlung_makes_electron_fakes_with_strips(produced_tuples):
    a, types = typed(produced_tuples["DYee"], ["tau_decayMode", "tau_n_photons"])
    e_fakes = types == TauType.e
    assert e_fakes.sum() > 30
    assert np.mean(a["tau_decayMode"][e_fakes] == 1) > 0.1  # electron + brem strip looks like h pi0


def test_branch_names_and_types_equal_the_schema(produced_tuples):
    f = uproot.open(produced_tuples["TT"])
    tree = f["taus"]
    schema = branches()
    counters = {f"n{c}" for c in collections()}
    assert set(tree.keys()) == set(schema) | counters
    for name, b in schema.items():
        branch = tree[name]
        assert branch.interpretation.numpy_dtype.newbyteorder("=") == b.dtype or \
            branch.interpretation.content.to_dtype.newbyteorder("=") == b.dtype, name
        if b.jagged:
            assert branch.count_branch is not None and branch.count_branch.name == f"n{b.collection}", name
    summary = f["summary"]
    assert set(summary.keys()) == set(SUMMARY_BRANCHES)
    assert summary["numberOfProcessedEvents"].array(library="np").tolist() == [80]
    a = tree.arrays(["run", "lumi", "evt", "jet_index", "tau_index", "sampleType", "dataset_id", "npfCand"],
                    library="np")
    keys = set(zip(a["run"], a["lumi"], a["evt"], a["jet_index"], a["tau_index"]))
    assert len(keys) == tree.num_entries, "duplicate (run, lumi, evt, jet_index, tau_index)"
    assert (a["sampleType"] == 1).all() and (a["dataset_id"] == np.iinfo(np.uint64).max).all()
    assert a["npfCand"].sum() > 0


def test_root_reads_the_counted_arrays(produced_tuples):
    import ROOT  # the independent reader (test dependency `root`)

    path = produced_tuples["TT"]
    arrays = uproot.open(path)["taus"].arrays(["pfCand_pt", "ele_pt", "genParticle_pdgId"])
    frame = ROOT.RDataFrame("taus", str(path)).Define("n_ele", "ele_pt.size()") \
        .Define("n_gen", "genParticle_pdgId.size()").Define("pt_sum", "Sum(pfCand_pt)")
    # book everything first: one JIT compilation and one event loop
    count, pt_sum, n_ele, n_gen = frame.Count(), frame.Sum("pt_sum"), frame.Sum("n_ele"), frame.Sum("n_gen")
    assert count.GetValue() == len(arrays)
    assert pt_sum.GetValue() == pytest.approx(float(ak.sum(arrays.pfCand_pt)), rel=1e-5)
    assert n_ele.GetValue() == ak.count(arrays.ele_pt)
    assert n_gen.GetValue() == ak.count(arrays.genParticle_pdgId)


def test_same_seed_same_arrays_other_seed_other_events(tmp_path):
    """With pile-up, so the minimum-bias pool and the overlay are covered too."""
    paths = [tmp_path / f"{k}.root" for k in range(3)]
    for path, seed, mu in zip(paths, (5, 5, 6), (20, 20, 0)):
        produce("DYmumu", 10, seed, path, pileup_mu=mu)
    first, again, other = (uproot.open(p)["taus"].arrays() for p in paths)
    assert ak.fields(first) == ak.fields(again)
    for field in ak.fields(first):
        assert ak.array_equal(first[field], again[field]), field
    assert not ak.array_equal(first.tau_pt, other.tau_pt)
    assert set(ak.to_numpy(first.lumi)).isdisjoint(ak.to_numpy(other.lumi))


def test_npv_rho_and_vertex_association_follow_pileup(tmp_path):
    """npv ~ 0.65 mu (non-diffractive interactions with a vertex) and rho grow with the pile-up mean; charged
    pile-up is mostly associated with its own vertex (fromPV 0, tight quality) and gets puppi weight 0."""
    means = {}
    for mu in (0, 15, 40):
        path = tmp_path / f"pu{mu}.root"
        produce("DYmumu", 8, 9, path, pileup_mu=mu)
        a = uproot.open(path)["taus"].arrays(["npu", "npv", "rho", "pfCand_fromPV", "pfCand_charge",
                                               "pfCand_pvAssociationQuality", "pfCand_puppiWeight"])
        means[mu] = (np.mean(a.npu), np.mean(a.npv), np.mean(a.rho))
        charged = a.pfCand_charge != 0
        if mu == 40:
            pu = charged & (a.pfCand_fromPV == 0)
            assert ak.sum(pu) > 0.2 * ak.sum(charged)
            assert ak.all(a.pfCand_pvAssociationQuality[pu] == 7) and ak.all(a.pfCand_puppiWeight[pu] == 0)
            assert ak.sum(charged & (a.pfCand_fromPV == 3)) > 0
    (npu0, npv0, rho0), (npu15, npv15, rho15), (npu40, npv40, rho40) = means[0], means[15], means[40]
    assert npu0 == 0 and npv0 == 1 and rho0 < 3
    assert 0.4 * npu40 < npv40 - 1 < 0.9 * npu40, means
    assert npv0 < npv15 < npv40 and rho0 < rho15 < rho40, means
    assert 10 < rho40 < 45, means


def _genuine_tau_h(produced_tuples, extra):
    parts = [typed(produced_tuples[p], extra) for p in ("DYtautau", "ZprimeTauTau")]
    return {k: np.concatenate([a[k][t == TauType.tau] for a, t in parts]) for k in parts[0][0]}


def test_tau_pt_response_has_cms_like_width(produced_tuples):
    """HPS tau_h pt / visible pt: median within a few per cent of 1, 16-84 % half-width 2-15 % (CMS: 5-10 %,
    JINST 13 (2018) P10005), so not the ~1 % of a perfect calorimeter."""
    a = _genuine_tau_h(produced_tuples, ["tau_pt"])
    response = a["tau_pt"] / a["genLepton_vis_pt"]
    q16, q50, q84 = np.percentile(response, [16, 50, 84])
    assert len(response) > 150
    assert 0.95 < q50 < 1.03 and 0.02 < (q84 - q16) / 2 < 0.15, (q16, q50, q84)


def test_impact_parameter_errors_fall_with_track_pt(produced_tuples):
    """Transverse IP error medians: tens of um at a few GeV, ~10 um at high pt (JINST 9 (2014) P10009); the tau's
    includes the primary-vertex uncertainty."""
    a = uproot.open(produced_tuples["DYtautau"])["taus"].arrays(["pfCand_pt", "pfCand_dxy_error",
                                                                  "pfCand_hasTrackDetails"])
    um = 1e4 * a.pfCand_dxy_error[a.pfCand_hasTrackDetails == 1]
    pt = a.pfCand_pt[a.pfCand_hasTrackDetails == 1]
    low = np.median(ak.to_numpy(ak.flatten(um[(pt > 2) & (pt < 5)])))
    high = np.median(ak.to_numpy(ak.flatten(um[pt > 30])))
    assert 25 < low < 80 and 8 < high < 16, (low, high)
    tau = _genuine_tau_h(produced_tuples, ["tau_dxy_error"])
    assert 14 < 1e4 * np.median(tau["tau_dxy_error"]) < 35


def test_electrons_faking_taus_have_a_realistic_e_over_p(produced_tuples):
    """E/p of the electrons behind e -> tau_h candidates: peaked at 1, but the supercluster misses part of the
    bremsstrahlung and the GSF momentum has a tail, so the 16-84 % band is wider than +-5 %."""
    names = ["ele_pt", "ele_eSuperClusterOverP"]
    a, types = typed(produced_tuples["DYee"])
    jagged = uproot.open(produced_tuples["DYee"])["taus"].arrays(names)
    fakes = jagged[(types == TauType.e) & (a["tau_index"] >= 0)]
    leading = ak.argmax(fakes.ele_pt, axis=1, keepdims=True)
    e_over_p = ak.to_numpy(ak.drop_none(ak.firsts(fakes.ele_eSuperClusterOverP[leading])))
    assert len(e_over_p) > 50
    q16, q50, q84 = np.percentile(e_over_p, [16, 50, 84])
    assert 0.93 < q50 < 1.05 and 0.05 < (q84 - q16) / 2 < 0.3, (q16, q50, q84)


def _pf(**columns):
    n = len(columns["pt"])
    base = {"mass": np.zeros(n), "dz": np.zeros(n), "dxy": np.zeros(n)}
    return {f"pfCand_{k}": np.asarray(v, float if k != "particleType" else int)
            for k, v in {**base, **columns}.items()}


@pytest.mark.parametrize("gap, expected_dm", [(0.16, 2), (0.10, 1)])
def test_two_strips_forming_a_pi0_give_decay_mode_2(gap, expected_dm):
    """A pi0 whose photons lie further apart than the dynamic strip size makes two strips, whose (massless) sum
    passes the DM 2 pi0 mass window (0.05-0.2 GeV); closer photons share one strip (DM 1)."""
    from tauml.production.geometry import PFType
    from tauml.production.taureco import reconstruct

    pf = _pf(pt=[20.0, 1.1, 1.1], eta=[0.0, gap / 2, -gap / 2], phi=[0.0, 0.01, -0.01], mass=[0.13957, 0, 0],
             charge=[1, 0, 0], particleType=[PFType.h, PFType.gamma, PFType.gamma])
    tau = reconstruct(pf, np.arange(3))
    assert tau is not None and tau["dm"] == expected_dm
    assert sorted(tau["photons"].tolist()) == [1, 2]


def test_two_prong_taus_fail_decay_mode_finding():
    """Two hard tracks make the best HPS hypothesis a 2-prong (more charged hadrons rank first), which fails
    decayModeFindingNewDMs: no tau, as in MiniAOD."""
    from tauml.production.geometry import PFType
    from tauml.production.taureco import reconstruct

    pf = _pf(pt=[20.0, 10.0], eta=[0.0, 0.02], phi=[0.0, 0.02], mass=[0.13957, 0.13957], charge=[1, -1],
             particleType=[PFType.h, PFType.h])
    assert reconstruct(pf, np.arange(2)) is None
    pf["pfCand_pt"][1] = 3.0  # a soft second track: the 2-prong is "killed", the 1-prong wins
    assert reconstruct(pf, np.arange(2))["dm"] == 0


def test_jets_do_not_all_become_tau_candidates(produced_tuples):
    """Decay-mode finding (mass windows, 2-prongs rejected) keeps a fraction of the high-pt jets without a tau
    candidate; low-pt jets rarely give one with pt > 18 GeV."""
    a = read(produced_tuples["QCD"], ["jet_index", "jet_pt", "tau_index", "genLepton_index"])
    jets = (a["jet_index"] >= 0) & (a["genLepton_index"] < 0)
    high = jets & (a["jet_pt"] > 100)
    low = jets & (a["jet_pt"] < 30)
    rate_high, rate_low = np.mean(a["tau_index"][high] >= 0), np.mean(a["tau_index"][low] >= 0)
    assert high.sum() > 30 and low.sum() > 30
    assert 0.3 < rate_high < 0.95 and rate_low < rate_high, (rate_low, rate_high)


def test_paired_branches_carry_different_information(produced_tuples):
    """Pixel hits count overlap hits on top of the crossed layers; raw and calibrated HCAL fractions of hadrons
    differ by the separate ECAL/HCAL calibration of particle flow."""
    a = uproot.open(produced_tuples["TT"])["taus"].arrays(
        ["pfCand_nPixelHits", "pfCand_nPixelLayers", "pfCand_hcalFraction", "pfCand_rawHcalFraction",
         "pfCand_charge", "pfCand_particleType"])
    hits, layers = ak.flatten(a.pfCand_nPixelHits), ak.flatten(a.pfCand_nPixelLayers)
    charged = ak.flatten(a.pfCand_charge) != 0
    assert ak.all(hits[charged] >= layers[charged]) and ak.mean(hits[charged] > layers[charged]) > 0.1
    hadron = ak.flatten(a.pfCand_particleType) == 1
    hcal, raw = ak.flatten(a.pfCand_hcalFraction)[hadron], ak.flatten(a.pfCand_rawHcalFraction)[hadron]
    assert ak.mean(np.abs(hcal - raw) > 1e-3) > 0.5
    assert ak.all((hcal >= 0) & (hcal <= 1) & (raw >= 0) & (raw <= 1))


@pytest.mark.parametrize("process, events, seed, message", [
    ("Higgs", 10, 1, "unknown process 'Higgs'"),
    ("DYee", -5, 1, "number of events must be positive"),
    ("DYee", 0, 1, "number of events must be positive"),
    ("DYee", 10, -1, "seed must be non-negative"),
])
def test_bad_requests_fail_clearly_without_output(tmp_path, process, events, seed, message):
    out = tmp_path / "out.root"
    with pytest.raises(TaumlError, match=message):
        produce(process, events, seed, out)
    assert list(tmp_path.iterdir()) == []


def test_command_reports_errors_and_missing_directory(tmp_path, capsys):
    from tauml.cli.production import main

    assert main(["--process", "Nope", "--n-events", "5", "--seed", "1", "--output", str(tmp_path / "a.root")]) == 1
    assert "TauTupleProducer: error: unknown process 'Nope'" in capsys.readouterr().err
    missing = tmp_path / "no" / "such" / "dir" / "a.root"
    assert main(["--process", "DYee", "--n-events", "5", "--seed", "1", "--output", str(missing)]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_workflow_plans_both_production_modes(tmp_path):
    base = [sys.executable, "-m", "snakemake", "-n", "--nolock", "--cores", "1", "-p", "--forceall",
            "--config", f"output_dir={tmp_path}"]
    embedded = subprocess.run([*base, "--until", "produce"], cwd=REPO, capture_output=True, text=True, check=True)
    assert "TauTupleProducer --process DYtautau --n-events 2500 --seed 1002" in embedded.stdout
    cmssw = subprocess.run(
        [*base, "production={mode: cmssw, cmssw: {cfg: Production.py, sample_type: MC, "
                "input_files: {DYee: [a.root, b.root]}}}", "--until", "produce"],
        cwd=REPO, capture_output=True, text=True, check=True)
    assert "cmsRun Production.py sampleType=MC inputFiles=a.root,b.root maxEvents=1200" in cmssw.stdout
