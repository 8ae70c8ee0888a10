"""A parametrised CMS-like detector, vectorised over a batch of events.

Stable visible particles (plus overlaid pile-up) become particle-flow candidates: tracks (|eta| < 2.5) with
pt-dependent resolution, hits, chi2 and impact parameters computed from the true production vertices (so the
tau flight shows up), calorimeter deposits for photons and neutral hadrons, bremsstrahlung photons for
electrons, photon conversions, vertex association (primary and pile-up vertices) and a PUPPI-like weight.
Resolutions and their sources: geometry.py and docs/physics.md. Units: GeV, cm.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from . import lepton_objects
from .generator import MinimumBiasPool, Particles
from .geometry import (B_FIELD_RADIUS_PER_GEV, BEAM_SPOT, CALO_ETA, ECAL_RADIUS_M, LOWEST, MUON_ETA,
                       NON_DIFFRACTIVE_FRACTION, PIXEL_LAYER_RADII, PIXEL_OVERLAP, PU_VERTEX_EFFICIENCY, PV_MERGE_DZ,
                       PV_RESOLUTION, TRACKER_ETA, PFType, ecal_resolution, hcal_resolution, track_resolution,
                       tracker_material)
from .kinematics import delta_r, eta_phi_mass
from .truth import NEUTRINOS, is_hadron


@dataclass
class EventInfo:
    pv: np.ndarray  # (n, 3) reconstructed primary vertex
    npv: np.ndarray
    npu: np.ndarray
    rho: np.ndarray


@dataclass
class Reco:
    """Detector output of a batch: PF candidates, electrons and muons as flat columns with per-event offsets."""
    info: EventInfo
    pf_offsets: np.ndarray
    pf: dict[str, np.ndarray]  # pfCand_* columns plus private keys starting with "_"
    ele_offsets: np.ndarray
    ele: dict[str, np.ndarray]
    muon_offsets: np.ndarray
    muon: dict[str, np.ndarray]


@dataclass
class _Vertices:
    """The overlaid pile-up interactions of a batch: vertex z, their event, whether a vertex is reconstructed for
    them and whether it is so close to the primary vertex in z that the two are one vertex."""
    z: np.ndarray
    event: np.ndarray
    reconstructed: np.ndarray
    merged: np.ndarray


def simulate(p: Particles, rng: np.random.Generator, pool: MinimumBiasPool | None = None,
             pileup_mu: float = 0.0) -> Reco:
    n_events = p.n_events
    true_pv = np.stack([rng.normal(0, s, n_events) for s in BEAM_SPOT], axis=1)
    t = _stable_particles(p, true_pv)
    npu = np.zeros(n_events, np.int64)
    vertices = _Vertices(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, bool))
    if pool is not None and pileup_mu > 0:
        npu = rng.poisson(pileup_mu, n_events)
        pu, vertices = _pileup(pool, npu, true_pv, rng)
        t = _concat(t, pu)
    t = _concat(t, _bremsstrahlung(t, rng))
    t = _convert_photons(t, rng)
    order = np.argsort(t["event"], kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    t = {k: v[order] for k, v in t.items()}
    t["parent"] = np.where(t["parent"] >= 0, position[np.maximum(t["parent"], 0)], -1)
    pv = true_pv + np.stack([rng.normal(0, s, n_events) for s in PV_RESOLUTION], axis=1)
    pf = _particle_flow(t, pv, vertices, rng)
    pf_offsets = _offsets(pf["_event"], n_events)
    _puppi(pf, pf_offsets)
    separate = vertices.reconstructed & ~vertices.merged
    npv = 1 + np.bincount(vertices.event[separate], minlength=n_events)
    info = EventInfo(pv=pv, npv=npv, npu=npu, rho=_rho(pf, n_events))
    ele = lepton_objects.electrons(pf, rng)
    muon = lepton_objects.muons(pf, rng)
    return Reco(info, pf_offsets, pf, _offsets(ele["_event"], n_events), ele,
                _offsets(muon["_event"], n_events), muon)


def _offsets(event: np.ndarray, n_events: int) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.bincount(event, minlength=n_events))])


def _concat(a: dict, b: dict) -> dict:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def _stable_particles(p: Particles, pv: np.ndarray) -> dict[str, np.ndarray]:
    keep = (p.status > 0) & ~np.isin(np.abs(p.id), NEUTRINOS)
    idx = np.flatnonzero(keep)
    event = p.event[idx]
    return {
        "event": event, "gen": idx, "pu": np.zeros(len(idx), bool), "vertex": np.full(len(idx), -1),
        "parent": np.full(len(idx), -1),
        "id": p.id[idx], "charge": p.charge[idx].astype(np.int32),
        "px": p.px[idx], "py": p.py[idx], "pz": p.pz[idx], "e": p.e[idx], "m": p.m[idx],
        "vx": p.vx[idx] + pv[event, 0], "vy": p.vy[idx] + pv[event, 1], "vz": p.vz[idx] + pv[event, 2],
        "brem": np.zeros(len(idx)),
    }


def _pileup(pool: MinimumBiasPool, npu: np.ndarray, true_pv: np.ndarray, rng) -> tuple[dict, _Vertices]:
    """Minimum-bias events from the pool for the non-diffractive share of the ``npu`` interactions, each at its own
    vertex along the beam line."""
    overlaid = rng.binomial(npu, NON_DIFFRACTIVE_FRACTION)
    picks = rng.integers(0, pool.size, int(overlaid.sum()))
    pu_event = np.repeat(np.arange(len(npu)), overlaid)
    vertex = np.stack([rng.normal(0, s, len(picks)) for s in BEAM_SPOT], axis=1)
    vertices = _Vertices(z=vertex[:, 2], event=pu_event,
                         reconstructed=rng.uniform(size=len(picks)) < PU_VERTEX_EFFICIENCY,
                         merged=np.abs(vertex[:, 2] - true_pv[pu_event, 2]) < PV_MERGE_DZ)
    sizes = pool.counts[picks]
    starts = np.repeat(pool.offsets[picks] - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
    idx = np.arange(int(sizes.sum())) + starts
    owner = np.repeat(np.arange(len(picks)), sizes)
    q = {k: v[idx] for k, v in pool.particles.items()}
    keep = ~np.isin(np.abs(q["id"]), NEUTRINOS)
    out = {
        "event": pu_event[owner], "gen": np.full(len(idx), -1), "pu": np.ones(len(idx), bool), "vertex": owner,
        "parent": np.full(len(idx), -1), "id": q["id"], "charge": q["charge"].astype(np.int32),
        "px": q["px"], "py": q["py"], "pz": q["pz"], "e": q["e"], "m": q["m"],
        "vx": q["vx"] + vertex[owner, 0], "vy": q["vy"] + vertex[owner, 1], "vz": q["vz"] + vertex[owner, 2],
        "brem": np.zeros(len(idx)),
    }
    return {k: v[keep] for k, v in out.items()}, vertices


def _bremsstrahlung(t: dict, rng) -> dict[str, np.ndarray]:
    """One photon per electron carrying the energy lost in the tracker material (Bethe-Heitler)."""
    pt = np.hypot(t["px"], t["py"])
    eta, phi, _ = eta_phi_mass(t["px"], t["py"], t["pz"], t["e"])
    electron = np.flatnonzero((np.abs(t["id"]) == 11) & (np.abs(eta) < TRACKER_ETA) & (pt > 1.0))
    # Bethe-Heitler: the kept energy fraction after t radiation lengths is exp(-Gamma(t / ln 2)); the electron
    # crosses on average half of the tracker material
    x0 = 0.5 * tracker_material(np.abs(eta[electron]))
    kept = np.exp(-rng.gamma(x0 / np.log(2), 1.0))
    lost = 1.0 - kept
    radius_m = rng.uniform(0.04, 1.0, len(electron))
    ephi = phi[electron] + t["charge"][electron] * radius_m / (2 * pt[electron] * B_FIELD_RADIUS_PER_GEV)
    e_gamma = t["e"][electron] * lost
    emit = e_gamma > 0.3
    src = electron[emit]
    t["brem"][src] = lost[emit]
    g_pt = pt[src] * lost[emit]
    n = len(src)
    return {
        "event": t["event"][src], "gen": np.full(n, -1), "pu": t["pu"][src], "vertex": t["vertex"][src], "parent": src,
        "id": np.full(n, 22, np.int32), "charge": np.zeros(n, np.int32),
        "px": g_pt * np.cos(ephi[emit]), "py": g_pt * np.sin(ephi[emit]), "pz": t["pz"][src] * lost[emit],
        "e": e_gamma[emit], "m": np.zeros(n),
        "vx": t["vx"][src], "vy": t["vy"][src], "vz": t["vz"][src], "brem": np.zeros(n),
    }


def _convert_photons(t: dict, rng) -> dict[str, np.ndarray]:
    """Photon conversions in the tracker material (probability 1 - exp(-7/9 X0)): the e+e- legs share the
    energy and bend apart in phi before the ECAL; particle flow sees them as two photons (legs below 0.3 GeV are
    lost). This is why HPS strips are wide in phi, and why pi0 photons sometimes make two strips."""
    pt = np.hypot(t["px"], t["py"])
    eta, phi, _ = eta_phi_mass(t["px"], t["py"], t["pz"], t["e"])
    photon = (t["id"] == 22) & (np.abs(eta) < TRACKER_ETA) & (pt > 0.3)
    p_conv = 1 - np.exp(-7 / 9 * tracker_material(np.abs(eta)))
    conv = np.flatnonzero(photon & (rng.uniform(size=len(pt)) < p_conv))
    share = rng.uniform(size=len(conv))
    radius_m = np.minimum(np.hypot(t["vx"][conv], t["vy"][conv]) / 100, 1.0) + rng.uniform(0.04, 0.8, len(conv))
    lever = np.maximum(ECAL_RADIUS_M - radius_m, 0.05)
    sign = np.where(rng.uniform(size=len(conv)) < 0.5, 1.0, -1.0)
    legs = {k: v[conv] for k, v in t.items()}
    out = {}
    for fraction, charge in ((share, sign), (1 - share, -sign)):
        leg_pt = np.maximum(pt[conv] * fraction, 1e-3)
        leg_phi = phi[conv] + charge * lever / (2 * leg_pt * B_FIELD_RADIUS_PER_GEV)
        leg = dict(legs, px=leg_pt * np.cos(leg_phi), py=leg_pt * np.sin(leg_phi), pz=legs["pz"] * fraction,
                   e=legs["e"] * fraction)
        out = _concat(out, leg) if out else leg
    first, second = {k: v[: len(conv)] for k, v in out.items()}, {k: v[len(conv):] for k, v in out.items()}
    for k in t:
        t[k][conv] = first[k]
    return _concat(t, second)


def _particle_flow(t: dict, pv: np.ndarray, vertices: _Vertices, rng) -> dict[str, np.ndarray]:
    n = len(t["id"])
    apid = np.abs(t["id"])
    pt = np.hypot(t["px"], t["py"])
    eta, phi, _ = eta_phi_mass(t["px"], t["py"], t["pz"], t["e"])
    abseta = np.abs(eta)
    charged = t["charge"] != 0
    u = rng.uniform(size=(4, n))
    tracked = charged & (abseta < TRACKER_ETA) & (pt > 0.5) & (u[0] < np.where(apid == 11, 0.92, 0.96))
    ptype = np.zeros(n, np.int32)
    ptype[tracked] = PFType.h
    ptype[tracked & (apid == 11) & (pt > 2) & (u[1] < 0.93)] = PFType.e
    ptype[tracked & (apid == 13) & (pt > 3) & (abseta < MUON_ETA) & (u[1] < 0.98)] = PFType.mu
    in_calo = abseta < CALO_ETA
    ptype[~tracked & in_calo & ((apid == 22) | (apid == 11))] = PFType.gamma
    ptype[~tracked & in_calo & is_hadron(t["id"])] = PFType.h0

    # brem photons of identified electrons are often recovered into the electron
    parent = t["parent"]
    is_brem = parent >= 0
    recovered = np.zeros(n, bool)
    recovered[is_brem] = (ptype[parent[is_brem]] == PFType.e) & (u[2][is_brem] < 0.6)
    ptype[recovered] = PFType.undefined
    recovered_e = np.bincount(parent[recovered], t["e"][recovered], n)

    energy = t["e"].copy()
    sigma_pt, sigma_dxy, sigma_dz = track_resolution(pt, abseta)
    # ~5 % of hadron tracks lose hits to nuclear interactions: three times the resolution
    sigma_pt = sigma_pt * np.where(is_hadron(t["id"]) & (u[3] < 0.05), 3.0, 1.0)
    scale = np.ones(n)
    track = tracked
    brem = t["brem"]
    scale[track] = 1 + rng.normal(0, 1, track.sum()) * sigma_pt[track]
    misid_e = track & (apid == 11) & (ptype == PFType.h)
    scale[misid_e] *= 1 - 0.5 * brem[misid_e]  # the ctf fit loses part of the radiated momentum
    is_e = ptype == PFType.e
    e_res = ecal_resolution(energy)
    scale[is_e] = ((1 - brem[is_e]) + (recovered_e[is_e] / energy[is_e])) * (1 + rng.normal(0, 1, is_e.sum()) * e_res[is_e])
    is_g = ptype == PFType.gamma
    # photons: ECAL resolution, and a low tail from showers starting early in the tracker material
    leakage = np.where(rng.uniform(size=n) < 0.15, rng.exponential(0.05, n), 0.0)
    scale[is_g] = (1 + rng.normal(0, 1, is_g.sum()) * e_res[is_g]) * (1 - leakage[is_g])
    is_h0 = ptype == PFType.h0
    scale[is_h0] = np.maximum(0.95 + rng.normal(0, 1, is_h0.sum()) * hcal_resolution(energy)[is_h0], 0.05)
    meas_pt = pt * scale
    d_eta = np.where(is_h0, rng.normal(0, 0.02, n), np.where(is_g, rng.normal(0, 0.003, n), 0.0))
    d_phi = np.where(is_h0, rng.normal(0, 0.02, n), np.where(is_g, rng.normal(0, 0.003, n), 0.0))
    reco = (ptype != PFType.undefined) & (meas_pt > np.where(is_h0, 1.0, 0.5))
    reco &= ~(is_h0 & ~in_calo)

    idx = np.flatnonzero(reco)
    ev = t["event"][idx]
    c = {
        "_event": ev, "_gen": t["gen"][idx], "_pu": t["pu"][idx], "_true_id": t["id"][idx],
        "_brem": brem[idx], "_true_e": t["e"][idx],
        "pfCand_pt": meas_pt[idx], "pfCand_eta": eta[idx] + d_eta[idx], "pfCand_phi": phi[idx] + d_phi[idx],
        "pfCand_charge": np.where(tracked[idx], t["charge"][idx], 0).astype(np.int32),
        "pfCand_particleType": ptype[idx],
    }
    c["pfCand_phi"] = (c["pfCand_phi"] + np.pi) % (2 * np.pi) - np.pi
    c["pfCand_mass"] = np.select([ptype[idx] == PFType.h, ptype[idx] == PFType.e, ptype[idx] == PFType.mu],
                                 [0.13957, 0.000511, 0.10566], 0.0)
    c["_vertex"] = t["vertex"][idx]
    _tracks(c, t, idx, tracked[idx], pv, vertices, sigma_dxy[idx], sigma_dz[idx], rng)
    _calorimeter(c, rng)
    order = np.lexsort((-c["pfCand_pt"], c["_event"]))
    c = {k: v[order] for k, v in c.items()}
    starts = np.concatenate([[0], np.cumsum(np.bincount(c["_event"], minlength=len(pv)))])
    c["pfCand_index"] = (np.arange(len(order)) - starts[c["_event"]]).astype(np.int32)
    return c


def _tracks(c: dict, t: dict, idx: np.ndarray, tracked: np.ndarray, pv: np.ndarray, vertices: _Vertices,
            sigma_dxy, sigma_dz, rng):
    """Hits, chi2, impact parameters and vertex association of the charged candidates. fromPV as in MiniAOD:
    3 used in the primary-vertex fit, 2 in no fit but compatible with the PV in z, 1 in no fit, 0 used in the
    fit of a pile-up vertex (removed by CHS); pvAssociationQuality: 7 used in a fit (tight), 5 compatible in dz,
    1 other."""
    n = len(idx)
    ev = c["_event"]
    pvx, pvy, pvz = pv[ev, 0], pv[ev, 1], pv[ev, 2]
    px, py, pz = t["px"][idx], t["py"][idx], t["pz"][idx]
    pt = np.hypot(px, py)
    phi = np.arctan2(py, px)
    vx, vy, vz = t["vx"][idx], t["vy"][idx], t["vz"][idx]
    # straight-line impact parameters w.r.t. the reconstructed PV, then measurement smearing
    dx, dy = vx - pvx, vy - pvy
    dxy = -dx * np.sin(phi) + dy * np.cos(phi) + rng.normal(0, 1, n) * sigma_dxy
    dz = (vz - pvz) - (dx * np.cos(phi) + dy * np.sin(phi)) * pz / np.maximum(pt, 1e-9) + rng.normal(0, 1, n) * sigma_dz
    r_prod = np.hypot(t["vx"][idx] - pvx, t["vy"][idx] - pvy)
    pixel_layers = (PIXEL_LAYER_RADII[None, :] > r_prod[:, None]).sum(axis=1)
    pixel_layers = np.maximum(pixel_layers - rng.binomial(pixel_layers, 0.03), 0)
    pixel_hits = pixel_layers + rng.binomial(pixel_layers, PIXEL_OVERLAP)
    missed_layers = (PIXEL_LAYER_RADII[None, :] < r_prod[:, None]).sum(axis=1)
    lost_inner = np.where(missed_layers == 0, np.where(rng.uniform(size=n) < 0.9, -1, 0), np.minimum(missed_layers, 2))
    abseta = np.abs(np.arcsinh(pz / np.maximum(pt, 1e-9)))
    strip = np.clip(np.round(rng.normal(10 + 2 * (abseta > 1.2), 1.5, n) - 2 * (r_prod > 20)), 3, 14).astype(int)
    hits = pixel_hits + strip + rng.poisson(1.0, n)
    ndof = np.maximum(2 * hits - 5, 1).astype(float)
    chi2 = ndof * np.exp(rng.normal(0, 0.3, n)) * (1 + 3 * c["_brem"] * (np.abs(c["_true_id"]) == 11))
    significance = np.abs(dxy) / sigma_dxy
    own = c["_vertex"]
    pu_vertex = own >= 0
    in_pu_fit = np.zeros(n, bool)
    if pu_vertex.any():
        k = own[pu_vertex]
        in_pu_fit[pu_vertex] = vertices.reconstructed[k] & ~vertices.merged[k]
    in_pu_fit &= (pixel_layers >= 2) & (rng.uniform(size=n) < 0.9)
    in_pv_fit = ~in_pu_fit & (np.abs(dz) < 0.1) & (significance < 5) & (pixel_layers >= 2)
    from_pv = np.select([in_pv_fit, in_pu_fit, np.abs(dz) < 0.3], [3, 0, 2], 1)
    quality = np.select([in_pv_fit | in_pu_fit, from_pv == 2], [7, 5], 1)
    details = tracked & (c["pfCand_pt"] > 0.95)

    def pick(values, neutral, dtype):
        return np.where(tracked, values, neutral).astype(dtype)

    def with_details(values):
        return np.where(details, values, LOWEST)

    c.update({
        "pfCand_fromPV": pick(from_pv, 3, np.int32),
        "pfCand_pvAssociationQuality": pick(quality, 7, np.int32),
        "pfCand_lostInnerHits": pick(lost_inner, 0, np.int32),
        "pfCand_nHits": pick(hits, 0, np.int32),
        "pfCand_nPixelHits": pick(pixel_hits, 0, np.int32),
        "pfCand_nPixelLayers": pick(pixel_layers, 0, np.int32),
        "pfCand_nStripLayers": pick(strip, 0, np.int32),
        "pfCand_hasTrackDetails": details.astype(np.int32),
        "pfCand_dxy": pick(dxy, 0.0, np.float64),
        "pfCand_dz": pick(dz, 0.0, np.float64),
        "pfCand_dxy_error": with_details(sigma_dxy),
        "pfCand_dz_error": with_details(sigma_dz),
        "pfCand_track_pt": np.where(tracked, c["pfCand_pt"], LOWEST),
        "pfCand_track_eta": np.where(tracked, c["pfCand_eta"], LOWEST),
        "pfCand_track_phi": np.where(tracked, c["pfCand_phi"], LOWEST),
        "pfCand_track_chi2": with_details(chi2),
        "pfCand_track_ndof": with_details(ndof),
        # the point of closest approach to the PV, as packed candidates store it
        "pfCand_vertex_x": np.where(tracked, pvx - np.where(tracked, dxy, 0) * np.sin(phi), pvx),
        "pfCand_vertex_y": np.where(tracked, pvy + np.where(tracked, dxy, 0) * np.cos(phi), pvy),
        "pfCand_vertex_z": np.where(tracked, pvz + dz, pvz),
        "_r_prod": r_prod, "_tracked": tracked,
        "_ref_x": vx + rng.normal(0, 1, n) * sigma_dxy * np.sin(phi),
        "_ref_y": vy - rng.normal(0, 1, n) * sigma_dxy * np.cos(phi),
        "_ref_z": vz + rng.normal(0, 1, n) * sigma_dz,
    })


def _calorimeter(c: dict, rng):
    """ECAL/HCAL deposits of each candidate, raw and calibrated. Particle flow calibrates the ECAL and HCAL parts
    of a hadron shower with different energy-dependent factors (JINST 12 (2017) P10003, sec. 6), so the raw and
    calibrated HCAL fractions differ."""
    ptype = c["pfCand_particleType"]
    n = len(ptype)
    energy = c["pfCand_pt"] * np.cosh(c["pfCand_eta"])
    e_like = (ptype == PFType.e) | ((ptype == PFType.h) & (np.abs(c["_true_id"]) == 11))
    crack = np.abs(np.abs(c["pfCand_eta"]) - 1.51) < 0.07
    # H/E of electron showers: small, with a tail from late showers and from the barrel-endcap crack
    e_hcal = np.where((rng.uniform(size=n) < 0.08) | crack, rng.beta(1.5, 5.0, n), rng.exponential(0.015, n))
    em = np.select([e_like, ptype == PFType.gamma, ptype == PFType.mu, ptype == PFType.h0],
                   [1 - np.minimum(e_hcal, 1.0), np.ones(n), rng.uniform(0.2, 0.6, n), rng.beta(1.2, 6, n)],
                   rng.beta(1.6, 2.6, n))
    hadron = np.isin(ptype, (PFType.h, PFType.h0)) & ~e_like
    response = np.select([ptype == PFType.mu, hadron & (ptype == PFType.h)],
                         [np.minimum(3.0 / np.maximum(energy, 0.1), 1.0), rng.normal(0.85, 0.2, n)], 1.0)
    response = np.where(e_like & (ptype == PFType.h), rng.normal(1.0, 0.05, n), response)
    raw = np.clip(response, 0.0, 2.6) * energy
    raw_ecal, raw_hcal = raw * em, raw * (1 - em)
    # calibration factors of hadron showers: larger for the (non-compensating) ECAL part, rising at low energy
    ecal_factor = np.where(hadron, 1.15 + 0.35 * np.exp(-energy / 15.0), 1.0) * rng.normal(1.0, 0.03, n)
    hcal_factor = np.where(hadron, 1.05 + 0.25 * np.exp(-energy / 25.0), 1.0) * rng.normal(1.0, 0.03, n)
    ecal, hcal = raw_ecal * ecal_factor, raw_hcal * hcal_factor
    safe = np.maximum(energy, 1e-6)
    c["pfCand_rawCaloFraction"] = np.clip((raw_ecal + raw_hcal) / safe, 0.0, 2.6)
    c["pfCand_caloFraction"] = np.clip((ecal + hcal) / safe, 0.0, 2.6)
    c["pfCand_rawHcalFraction"] = np.where(raw > 0, raw_hcal / np.maximum(raw, 1e-9), 0.0)
    c["pfCand_hcalFraction"] = np.where(ecal + hcal > 0, hcal / np.maximum(ecal + hcal, 1e-9), 0.0)
    c["_ecal"] = ecal
    c["_hcal"] = hcal


def _puppi(c: dict, offsets: np.ndarray) -> None:
    """PUPPI-like weights: charged from their PV association, neutrals from the local pt density of charged
    PV candidates compared with that around charged pile-up candidates."""
    weight = np.zeros(len(c["pfCand_pt"]))
    weight_no_lep = np.zeros_like(weight)
    charged = c["pfCand_charge"] != 0
    pv_charged = charged & (c["pfCand_fromPV"] >= 2)
    lepton = np.isin(c["pfCand_particleType"], (PFType.e, PFType.mu))
    weight[pv_charged] = weight_no_lep[pv_charged] = 1.0
    pu_charged = charged & (c["pfCand_fromPV"] == 0)
    for ev in range(len(offsets) - 1):
        lo, hi = offsets[ev], offsets[ev + 1]
        rows = lo + np.flatnonzero(~charged[lo:hi] | pu_charged[lo:hi])
        cols = lo + np.flatnonzero(pv_charged[lo:hi])
        if len(rows) == 0:
            continue
        dr = delta_r(c["pfCand_eta"][rows, None], c["pfCand_phi"][rows, None],
                     c["pfCand_eta"][None, cols], c["pfCand_phi"][None, cols])
        contrib = np.where((dr > 0.01) & (dr < 0.4), (c["pfCand_pt"][None, cols] / np.maximum(dr, 0.01)) ** 2, 0.0)
        neutral = ~charged[rows]
        pu = pu_charged[rows]
        for w, use in ((weight, np.ones(len(cols), bool)), (weight_no_lep, ~lepton[cols])):
            alpha = np.log(np.maximum(contrib[:, use].sum(axis=1), 1e-3))
            mean, rms = (np.median(alpha[pu]), max(np.std(alpha[pu]), 0.5)) if pu.sum() >= 3 else (2.0, 2.0)
            chi2 = ((alpha[neutral] - mean) / rms) ** 2
            w[rows[neutral]] = np.where(alpha[neutral] > mean, erf(np.sqrt(chi2 / 2)), 0.0)
    c["pfCand_puppiWeight"] = weight
    c["pfCand_puppiWeightNoLep"] = weight_no_lep


def _rho(c: dict, n_events: int) -> np.ndarray:
    """Median pt density over a 10 x 10 (eta, phi) grid in |eta| < 2.5."""
    eta, phi, pt = c["pfCand_eta"], c["pfCand_phi"], c["pfCand_pt"]
    inside = np.abs(eta) < TRACKER_ETA
    cell = (np.clip(((eta + TRACKER_ETA) / 0.5).astype(int), 0, 9) * 10
            + np.clip(((phi + np.pi) / (2 * np.pi / 10)).astype(int), 0, 9))
    key = c["_event"][inside] * 100 + cell[inside]
    sums = np.bincount(key, pt[inside], n_events * 100).reshape(n_events, 100)
    return np.median(sums, axis=1) / (0.5 * 2 * np.pi / 10)
