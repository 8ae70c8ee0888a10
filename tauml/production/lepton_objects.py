"""Electron and muon objects: real leptons and the hadrons that fake them, with the identification variables
that tell them apart (E/p, H/E, shower shapes, track-cluster matching; muon-station matches and hits)."""
from __future__ import annotations

import numpy as np

from .geometry import BARREL_ETA, MUON_ETA, PFType, ecal_resolution, track_resolution


def _object_base(c: dict, sel: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    out = {"_event": c["_event"][sel]}
    for f in ("pt", "eta", "phi"):
        out[f"{prefix}_{f}"] = c[f"pfCand_{f}"][sel]
    out[f"{prefix}_dxy"] = c["pfCand_dxy"][sel]
    out[f"{prefix}_dxy_error"] = np.where(c["pfCand_hasTrackDetails"][sel] > 0, c["pfCand_dxy_error"][sel],
                                          track_resolution(c["pfCand_pt"][sel], np.abs(c["pfCand_eta"][sel]))[1])
    return out


def _index_within_event(event: np.ndarray) -> np.ndarray:
    starts = np.concatenate([[0], np.cumsum(np.bincount(event))]) if len(event) else np.zeros(1, int)
    return (np.arange(len(event)) - starts[event]).astype(np.int32)


def electrons(c: dict, rng) -> dict[str, np.ndarray]:
    """GSF-electron objects: real electrons and charged hadrons that deposit much of their energy in the ECAL."""
    true_e = np.abs(c["_true_id"]) == 11
    tracked = c["_tracked"]
    pt = c["pfCand_pt"]
    u = rng.uniform(size=len(pt))
    sel = tracked & (pt > 5) & ((true_e & (u < 0.95)) | (~true_e & (c["pfCand_particleType"] == PFType.h) & (u < 0.04)))
    o = _object_base(c, sel, "ele")
    n = int(sel.sum())
    real = true_e[sel]
    brem = np.where(real, c["_brem"][sel], 0.0)
    eta = o["ele_eta"]
    barrel = np.abs(eta) < BARREL_ETA
    p_true = c["_true_e"][sel]
    g = lambda s: rng.normal(0, 1, n) * s  # noqa: E731
    em_fraction = np.where(real, 1.0, rng.beta(1.5, 3.0, n))
    # the supercluster collects most, not all, of the bremsstrahlung; showers in the barrel-endcap crack leak
    collected = np.where(real, 1 - brem * (1 - rng.uniform(0.6, 1.0, n)), 1.0)
    crack = np.abs(np.abs(eta) - 1.51) < 0.07
    leak = np.where(crack, rng.uniform(0.6, 1.0, n),
                    np.where(rng.uniform(size=n) < 0.1, 1 - rng.exponential(0.05, n), 1.0))
    ecal = np.maximum(p_true * em_fraction * collected * np.clip(leak, 0.3, 1.0) * (1 + g(ecal_resolution(p_true))),
                      0.05)
    hadronic = np.where(real, ecal * (rng.exponential(0.015, n) + (rng.uniform(size=n) < 0.08) * rng.beta(1.5, 8, n)),
                        p_true * (1 - em_fraction) * rng.normal(0.9, 0.2, n).clip(0.1))
    # GSF momentum at the vertex: 2-3 % core; radiation early in the tracker biases it low (E/p tail above 1)
    early_loss = np.where(real & (rng.uniform(size=n) < 0.5), brem * rng.beta(1.0, 3.0, n), 0.0)
    p_vtx = p_true * (1 - early_loss) * (1 + g(np.where(real, 0.025, 0.01)))
    p_out = np.where(real, p_true * (1 - brem) * (1 + g(0.03)), p_vtx * (1 + g(0.01)))
    seed = ecal * np.where(real, 1 - 0.8 * brem, rng.uniform(0.6, 1.0, n))
    width = np.where(barrel, 1.0, 2.7)
    sigma_ieta = np.abs(np.where(real, 0.0095 + g(0.0008) + 0.004 * brem * rng.exponential(1.0, n),
                                 0.013 + g(0.004)) * width)
    r9 = np.clip(np.where(real, 0.93 - 0.3 * brem + g(0.04), rng.beta(4, 3, n)), 0.2, 1.0)
    e5x5 = ecal * rng.uniform(0.9, 1.0, n)
    side = lambda: e5x5 * np.where(real, rng.uniform(0.01, 0.05, n), rng.uniform(0.05, 0.15, n))  # noqa: E731
    eta_mismatch = np.where(real, 0.003 + 0.003 * brem, 0.012)
    phi_mismatch = np.where(real, 0.01 + 0.02 * brem, 0.05)
    early = (brem > 0.2) & (rng.uniform(size=n) < 0.5)
    hits = c["pfCand_nHits"][sel]
    ctf_chi2 = np.where(real & (brem > 0.3), rng.uniform(3, 20, n), np.exp(g(0.3)))
    o.update({
        "ele_mass": np.full(n, 0.000511),
        "ele_cc_ele_energy": np.where(real, ecal * (1 - 0.9 * brem), ecal * rng.uniform(0.7, 1.0, n)),
        "ele_cc_gamma_energy": np.where(real, ecal * 0.9 * brem, ecal * rng.uniform(0.0, 0.1, n)),
        "ele_cc_n_gamma": np.where(real, (brem > 0.05).astype(int) + (brem > 0.5), rng.poisson(0.3, n)),
        "ele_ip3d": np.hypot(o["ele_dxy"], c["pfCand_dz"][sel]) * np.sign(o["ele_dxy"]),
        "ele_trackMomentumAtVtx": p_vtx, "ele_trackMomentumAtCalo": p_out * (1 + g(0.01)),
        "ele_trackMomentumOut": p_out, "ele_trackMomentumAtEleClus": p_out * (1 + g(0.005)),
        "ele_trackMomentumAtVtxWithConstraint": p_vtx * (1 + g(0.005)),
        "ele_ecalEnergy": ecal, "ele_ecalEnergy_error": ecal * ecal_resolution(ecal),
        "ele_eSuperClusterOverP": ecal / p_vtx, "ele_eSeedClusterOverP": seed / p_vtx,
        "ele_eSeedClusterOverPout": seed / p_out, "ele_eEleClusterOverPout": seed * rng.uniform(0.9, 1.0, n) / p_out,
        "ele_deltaEtaSuperClusterTrackAtVtx": g(eta_mismatch), "ele_deltaEtaSeedClusterTrackAtCalo": g(eta_mismatch),
        "ele_deltaEtaEleClusterTrackAtCalo": g(eta_mismatch), "ele_deltaEtaSeedClusterTrackAtVtx": g(eta_mismatch),
        "ele_deltaPhiEleClusterTrackAtCalo": g(phi_mismatch), "ele_deltaPhiSuperClusterTrackAtVtx": g(phi_mismatch),
        "ele_deltaPhiSeedClusterTrackAtCalo": g(phi_mismatch),
        "ele_mvaInput_earlyBrem": early.astype(int), "ele_mvaInput_lateBrem": ((brem > 0.2) & ~early).astype(int),
        "ele_mvaInput_sigmaEtaEta": sigma_ieta, "ele_mvaInput_hadEnergy": hadronic,
        "ele_gsfTrack_normalizedChi2": np.exp(g(0.4)) * (1 + 2 * brem),
        "ele_gsfTrack_numberOfValidHits": np.maximum(hits - rng.binomial(np.maximum(hits, 0), 0.1 * brem), 3),
        "ele_gsfTrack_pt": pt[sel] * np.where(real, 1 + g(0.02), 1.0),
        "ele_gsfTrack_pt_error": pt[sel] * np.where(real, 0.02 + 0.3 * brem, 0.015),
        "ele_closestCtfTrack_normalizedChi2": ctf_chi2,
        "ele_closestCtfTrack_numberOfValidHits": np.where(real & (brem > 0.3), rng.poisson(8, n), hits),
        "ele_r9": r9, "ele_e5x5": e5x5, "ele_e1x5": e5x5 * np.where(real, 0.75, 0.45) * rng.uniform(0.9, 1.1, n),
        "ele_e2x5Max": e5x5 * np.where(real, 0.93, 0.7) * rng.uniform(0.95, 1.05, n),
        "ele_sigmaEtaEta": sigma_ieta * rng.uniform(0.95, 1.05, n), "ele_sigmaIetaIeta": sigma_ieta,
        "ele_sigmaIphiIphi": np.abs(sigma_ieta * rng.normal(1.0, 0.2, n)), "ele_sigmaIetaIphi": g(1e-5),
        "ele_hcalDepth1OverEcal": 0.8 * hadronic / ecal, "ele_hcalDepth2OverEcal": 0.2 * hadronic / ecal,
        "ele_hcalDepth1OverEcalBc": 0.72 * hadronic / ecal, "ele_hcalDepth2OverEcalBc": 0.18 * hadronic / ecal,
        "ele_eLeft": side(), "ele_eRight": side(), "ele_eBottom": side(), "ele_eTop": side(),
    })
    o["ele_mvaInput_deltaEta"] = o["ele_deltaEtaSeedClusterTrackAtCalo"]
    for name in ("sigmaEtaEta", "sigmaIetaIeta", "sigmaIphiIphi", "sigmaIetaIphi", "e1x5", "e2x5Max", "e5x5", "r9",
                 "hcalDepth1OverEcal", "hcalDepth2OverEcal", "hcalDepth1OverEcalBc", "hcalDepth2OverEcalBc",
                 "eLeft", "eRight", "eBottom", "eTop"):
        o[f"ele_full5x5_{name}"] = o[f"ele_{name}"] * rng.normal(1.0, 0.01, n)
    for name in ("Left", "Right", "Bottom", "Top"):
        o[f"ele_full5x5_e2x5{name}"] = o[f"ele_full5x5_e{name}"] * rng.uniform(1.5, 3.0, n)
    o["_real"] = real
    o["ele_index"] = _index_within_event(o["_event"])
    return o


MUON_STATION_PT = np.array([2.5, 3.5, 4.5, 5.5])  # minimal momentum to reach muon station 1..4
MUON_TYPE_REAL = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 5)  # global, tracker, standalone, PF
MUON_TYPE_PUNCH_THROUGH = 1 << 2  # tracker only
MUON_CRACKS = (0.25, 0.8, 1.2)  # |eta| of the gaps between the DT wheels and of the DT-CSC overlap
MUON_CRACK_HALF_WIDTH = 0.03


def muons(c: dict, rng) -> dict[str, np.ndarray]:
    """Muon objects: real muons, plus charged hadrons that punch through the calorimeters or decay in flight.
    Real muons lose station matches in the cracks between wheels and in inefficient chambers, and energetic
    punch-through reaches the outer stations, so the two overlap as in data."""
    true_mu = np.abs(c["_true_id"]) == 13
    pt, eta = c["pfCand_pt"], c["pfCand_eta"]
    u = rng.uniform(size=len(pt))
    p_all = pt * np.cosh(eta)
    fake_rate = 0.002 + 0.01 * (1 - np.exp(-p_all / 50.0))  # punch-through and decays in flight
    sel = c["_tracked"] & (pt > 3) & (np.abs(eta) < MUON_ETA) & ((true_mu & (u < 0.98)) | (~true_mu & (u < fake_rate)))
    o = _object_base(c, sel, "muon")
    n = int(sel.sum())
    real = true_mu[sel]
    in_flight = ~real & (rng.uniform(size=n) < 0.3)  # a real muon from a pi/K decay inside the tracker volume
    muon_like = real | in_flight
    abseta = np.abs(o["muon_eta"])
    p = o["muon_pt"] * np.cosh(o["muon_eta"])
    in_crack = np.zeros(n, bool)
    for edge in MUON_CRACKS:
        in_crack |= np.abs(abseta - edge) < MUON_CRACK_HALF_WIDTH
    punch_reach = np.minimum(1.0, p / 30.0)[:, None] * np.array([1.0, 0.3, 0.1, 0.05])[None, :]
    reach_probability = np.where(muon_like[:, None], np.where(in_crack, 0.5, 0.95)[:, None], punch_reach)
    reached = (p[:, None] > MUON_STATION_PT[None, :]) & (rng.uniform(size=(n, 4)) < reach_probability)
    regions = {"DT": abseta < 1.2, "CSC": abseta > 0.9, "RPC": abseta < 1.9, "GEM": np.zeros(n, bool),
               "ME0": np.zeros(n, bool)}
    max_hits = {"DT": (12, 12, 12, 8), "CSC": (24, 12, 12, 12), "RPC": (4, 4, 2, 2), "GEM": (0,) * 4, "ME0": (0,) * 4}
    total_hits = np.zeros(n, int)
    for det, region in regions.items():
        for k in range(4):
            present = reached[:, k] & region
            matches = np.where(present, 1 + (rng.uniform(size=n) < 0.1), 0)
            if det == "RPC":
                matches = np.where(present & (rng.uniform(size=n) < 0.9), matches, 0)
            hits = np.where(matches > 0, rng.binomial(max_hits[det][k], np.where(muon_like, 0.85, 0.4)), 0)
            o[f"muon_n_matches_{det}_{k + 1}"] = matches
            o[f"muon_n_hits_{det}_{k + 1}"] = hits
            total_hits += hits
    global_muon = muon_like & (reached.sum(axis=1) >= 2)
    o.update({
        "muon_mass": np.full(n, 0.10566),
        "muon_normalizedChi2": np.select([real, in_flight],
                                         [np.exp(rng.normal(0, 0.3, n)), np.exp(rng.normal(0.8, 0.5, n))],
                                         np.exp(rng.normal(1.0, 0.5, n))),
        "muon_numberOfValidHits": c["pfCand_nHits"][sel] + total_hits,
        "muon_segmentCompatibility": np.select([real, in_flight], [rng.beta(6, 1.5, n), rng.beta(4, 2, n)],
                                               rng.beta(2, 3, n)),
        "muon_caloCompatibility": np.select([real, in_flight], [rng.beta(8, 2, n), rng.beta(5, 2.5, n)],
                                            rng.beta(2, 5, n)),
        "muon_pfEcalEnergy": np.where(muon_like, rng.exponential(0.3, n), c["_ecal"][sel]),
        "muon_type": np.where(global_muon, MUON_TYPE_REAL, MUON_TYPE_PUNCH_THROUGH).astype(np.uint32),
        "_real": real,
    })
    o["muon_index"] = _index_within_event(o["_event"])
    return o
