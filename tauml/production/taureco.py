"""HPS-like tau reconstruction on one seeding jet: decay modes 0, 1, 2, 10, 11 from charged candidates and
pi0 strips, isolation sums, impact parameters, secondary vertex and the high-level features of the DataLoader.

``pf`` is the detector's column dict; indices are positions in its flat arrays.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np

from .geometry import PV_RESOLUTION, PFType, track_resolution
from .kinematics import delta_phi, delta_r, eta_phi_mass

TAU_MASS = 1.77686
ISO_CONE = 0.5
ISO_CONE_03 = 0.3
PU_CONE = 0.8
MIN_STRIP_PT = 1.0
MAX_CHARGED = 5
ECAL_RADIUS, ECAL_Z = 129.0, 317.0
# decay mode -> (charged hadrons, strips)
DECAY_MODES = {0: (1, 0), 1: (1, 1), 2: (1, 2), 10: (3, 0), 11: (3, 1)}
OLD_DECAY_MODES = (0, 1, 2, 10)
ISO_WORKING_POINTS = ((3, 2.5), (4, 1.5), (5, 0.8))  # (DiscriminatorWP bit, max combined isolation in GeV)


def _p4(pf, idx):
    pt, eta, phi = pf["pfCand_pt"][idx], pf["pfCand_eta"][idx], pf["pfCand_phi"][idx]
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + pf["pfCand_mass"][idx] ** 2)
    return np.stack([px, py, pz, e], axis=-1)


def _strips(pf, photons: np.ndarray) -> list[np.ndarray]:
    """Dynamic strips: photons collected around the hardest free one, within an (eta, phi) window that
    shrinks with the photon pt."""
    free = list(photons[np.argsort(-pf["pfCand_pt"][photons])])
    strips = []
    while free:
        members = [free.pop(0)]
        changed = True
        while changed and free:
            s = _p4(pf, np.array(members)).sum(axis=0)
            s_eta, s_phi, _ = eta_phi_mass(*s)
            cand = np.array(free)
            pt = pf["pfCand_pt"][cand]
            deta_max = np.clip(0.197 * pt**-0.658, 0.05, 0.15)
            dphi_max = np.clip(0.352 * pt**-0.707, 0.05, 0.3)
            inside = (np.abs(pf["pfCand_eta"][cand] - s_eta) < deta_max) & \
                     (np.abs(delta_phi(pf["pfCand_phi"][cand], s_phi)) < dphi_max)
            changed = bool(inside.any())
            members += cand[inside].tolist()
            free = cand[~inside].tolist()
        strips.append(np.array(members))
    return [s for s in strips if pf["pfCand_pt"][s].sum() > MIN_STRIP_PT]


def _mass_window(dm: int, pt: float) -> tuple[float, float]:
    scale = np.sqrt(max(pt, 1.0) / 100.0)
    return {0: (0.0, 10.0), 1: (0.3, float(np.clip(1.3 * scale, 1.3, 4.2))),
            2: (0.4, float(np.clip(1.2 * scale, 1.2, 4.0))), 10: (0.8, 1.5), 11: (0.9, 1.6)}[dm]


def signal_cone(pt):
    return np.clip(3.0 / np.maximum(pt, 1e-3), 0.05, 0.10)


def reconstruct(pf, members: np.ndarray):
    """The best decay-mode hypothesis built from a jet's constituents, or None."""
    ptype = pf["pfCand_particleType"][members]
    quality = (np.abs(pf["pfCand_dz"][members]) < 0.4) & (np.abs(pf["pfCand_dxy"][members]) < 0.1)
    charged = members[(pf["pfCand_charge"][members] != 0) & quality & (pf["pfCand_pt"][members] > 0.5)]
    charged = charged[np.argsort(-pf["pfCand_pt"][charged])][:MAX_CHARGED]
    if len(charged) == 0:
        return None
    strips = _strips(pf, members[(ptype == PFType.gamma) & (pf["pfCand_pt"][members] > 0.5)])
    strips.sort(key=lambda s: -pf["pfCand_pt"][s].sum())
    strip_p4 = [_p4(pf, s).sum(axis=0) for s in strips]
    best = None
    for dm, (n_ch, n_strips) in DECAY_MODES.items():
        if len(charged) < n_ch or len(strips) < n_strips:
            continue
        for chs in (combinations(charged, 3) if n_ch == 3 else ((c,) for c in charged[:1])):
            chs = np.array(chs)
            if abs(pf["pfCand_charge"][chs].sum()) != 1:
                continue
            p4 = _p4(pf, chs).sum(axis=0) + sum(strip_p4[:n_strips], np.zeros(4))
            eta, phi, mass = eta_phi_mass(*p4)
            pt = float(np.hypot(p4[0], p4[1]))
            lo, hi = _mass_window(dm, pt)
            r_sig = signal_cone(pt)
            axis_ok = delta_r(pf["pfCand_eta"][chs], pf["pfCand_phi"][chs], eta, phi).max() < r_sig
            strip_ok = all(delta_r(*eta_phi_mass(*strip_p4[k])[:2], eta, phi) < r_sig for k in range(n_strips))
            if lo <= mass <= hi and axis_ok and strip_ok and (best is None or pt > best["pt"]):
                best = {"pt": pt, "eta": float(eta), "phi": float(phi), "mass": float(mass), "dm": dm,
                        "charged": chs, "photons": np.concatenate([strips[k] for k in range(n_strips)] or [[]]).astype(int),
                        "p4": p4}
    return best


def features(pf, tau: dict, event_pf: np.ndarray, pv: np.ndarray) -> dict[str, float]:
    """tau_* values of a reconstructed tau; ``event_pf`` are the indices of the event's candidates."""
    eta, phi, pt = tau["eta"], tau["phi"], tau["pt"]
    r_sig = signal_cone(pt)
    chs, photons = tau["charged"], tau["photons"]
    lead = chs[np.argmax(pf["pfCand_pt"][chs])]
    signal = np.concatenate([chs, photons])
    dr = delta_r(pf["pfCand_eta"][event_pf], pf["pfCand_phi"][event_pf], eta, phi)
    not_signal = ~np.isin(event_pf, signal)
    c_pt = pf["pfCand_pt"][event_pf]
    charged = pf["pfCand_charge"][event_pf] != 0
    good_charged = charged & (np.abs(pf["pfCand_dz"][event_pf]) < 0.2) & (np.abs(pf["pfCand_dxy"][event_pf]) < 0.03)
    gamma = (pf["pfCand_particleType"][event_pf] == PFType.gamma) & (c_pt > 0.5)
    weight = pf["pfCand_puppiWeightNoLep"][event_pf]

    def iso(mask, cone, w=1.0):
        return float((c_pt * w)[mask & not_signal & (dr < cone)].sum())

    near_signal_charged = np.zeros(len(event_pf), bool)
    for c in chs:
        near_signal_charged |= delta_r(pf["pfCand_eta"][event_pf], pf["pfCand_phi"][event_pf],
                                       pf["pfCand_eta"][c], pf["pfCand_phi"][c]) < 0.08
    f = {
        "tau_pt": pt, "tau_eta": eta, "tau_phi": phi, "tau_mass": tau["mass"],
        "tau_charge": int(pf["pfCand_charge"][chs].sum()), "tau_decayMode": tau["dm"],
        "tau_decayModeFinding": int(tau["dm"] in OLD_DECAY_MODES), "tau_decayModeFindingNewDMs": 1,
        "tau_chargedIsoPtSum": iso(good_charged & (c_pt > 0.5), ISO_CONE),
        "tau_chargedIsoPtSumdR03": iso(good_charged & (c_pt > 0.5), ISO_CONE_03),
        "tau_neutralIsoPtSum": iso(gamma, ISO_CONE), "tau_neutralIsoPtSumdR03": iso(gamma, ISO_CONE_03),
        "tau_neutralIsoPtSumWeight": iso(gamma, ISO_CONE, weight),
        "tau_neutralIsoPtSumWeightdR03": iso(gamma, ISO_CONE_03, weight),
        "tau_footprintCorrection": iso(gamma & near_signal_charged, ISO_CONE),
        "tau_footprintCorrectiondR03": iso(gamma & near_signal_charged, ISO_CONE_03),
        "tau_puCorrPtSum": float(c_pt[charged & (np.abs(pf["pfCand_dz"][event_pf]) >= 0.2) & (dr < PU_CONE)].sum()),
    }
    photon_dr = delta_r(pf["pfCand_eta"][photons], pf["pfCand_phi"][photons], eta, phi)
    f["tau_photonPtSumOutsideSignalCone"] = float(pf["pfCand_pt"][photons][photon_dr > r_sig].sum())
    f["tau_photonPtSumOutsideSignalConedR03"] = float(pf["pfCand_pt"][photons][(photon_dr > r_sig) & (photon_dr < 0.3)].sum())
    combined = f["tau_chargedIsoPtSum"] + max(0.0, f["tau_neutralIsoPtSum"] - 0.2 * f["tau_puCorrPtSum"])
    f["tau_byCombinedIsolationDeltaBetaCorr3Hitsraw"] = combined
    f["tau_byCombinedIsolationDeltaBetaCorr3Hits"] = sum(1 << bit for bit, cut in ISO_WORKING_POINTS if combined < cut)
    f.update(_strip_shapes(pf, photons, event_pf[gamma & not_signal & (dr < ISO_CONE)], eta, phi))
    f.update(_impact_parameters(pf, lead, pv, tau["p4"]))
    f.update(_secondary_vertex(pf, chs, pv, tau))
    ecal, hcal = pf["_ecal"][signal].sum(), pf["_hcal"][signal].sum()
    f["tau_e_ratio"] = float(ecal / (ecal + hcal)) if ecal + hcal > 0 else 0.0
    lead_calo = pf["_ecal"][lead] + pf["_hcal"][lead]
    f["tau_emFraction"] = float(pf["_ecal"][lead] / lead_calo) if lead_calo > 0 else -1.0
    f["tau_n_photons"] = len(photons)
    f["tau_inside_ecal_crack"] = int(1.46 < abs(eta) < 1.558)
    f["tau_leadChargedCand_etaAtEcalEntrance"] = _eta_at_ecal(pf["pfCand_eta"][lead], pf["pfCand_vertex_z"][lead])
    chi2, ndof = pf["pfCand_track_chi2"][lead], pf["pfCand_track_ndof"][lead]
    f["tau_leadingTrackNormChi2"] = float(chi2 / ndof) if pf["pfCand_hasTrackDetails"][lead] else 0.0
    return f, signal, lead


def _strip_shapes(pf, photons, iso_photons, eta, phi):
    def weighted(idx, values):
        w = pf["pfCand_pt"][idx]
        return float((w * values).sum() / w.sum()) if len(idx) and w.sum() > 0 else 0.0

    deta = np.abs(pf["pfCand_eta"][photons] - eta)
    dphi = np.abs(delta_phi(pf["pfCand_phi"][photons], phi))
    return {
        "tau_pt_weighted_deta_strip": weighted(photons, deta), "tau_pt_weighted_dphi_strip": weighted(photons, dphi),
        "tau_pt_weighted_dr_signal": weighted(photons, np.hypot(deta, dphi)),
        "tau_pt_weighted_dr_iso": weighted(iso_photons, delta_r(pf["pfCand_eta"][iso_photons],
                                                                pf["pfCand_phi"][iso_photons], eta, phi)),
    }


def _track_line(pf, i):
    point = np.array([pf["_ref_x"][i], pf["_ref_y"][i], pf["_ref_z"][i]])
    phi, eta = pf["pfCand_phi"][i], pf["pfCand_eta"][i]
    direction = np.array([np.cos(phi), np.sin(phi), np.sinh(eta)]) / np.cosh(eta)
    return point, direction


def _errors(pf, i):
    return track_resolution(np.array([pf["pfCand_pt"][i]]), np.array([abs(pf["pfCand_eta"][i])]))[1:]


def _impact_parameters(pf, lead, pv, p4):
    dxy, dz = pf["pfCand_dxy"][lead], pf["pfCand_dz"][lead]
    s_dxy, s_dz = (float(x[0]) for x in _errors(pf, lead))
    point, direction = _track_line(pf, lead)
    offset = point - pv
    closest = offset - direction * (offset @ direction)
    sign = 1.0 if closest @ p4[:3] >= 0 else -1.0
    sin_theta = 1.0 / np.cosh(pf["pfCand_eta"][lead])
    phi = pf["pfCand_phi"][lead]
    return {
        "tau_dxy": float(dxy), "tau_dxy_error": s_dxy, "tau_dz": float(dz), "tau_dz_error": s_dz,
        "tau_ip3d": sign * float(np.linalg.norm(closest)), "tau_ip3d_error": float(np.hypot(s_dxy, s_dz * sin_theta)),
        "tau_dxy_pca_x": float(pv[0] - dxy * np.sin(phi)), "tau_dxy_pca_y": float(pv[1] + dxy * np.cos(phi)),
        "tau_dxy_pca_z": float(pv[2] + dz),
    }


def _secondary_vertex(pf, chs, pv, tau):
    """For 3-prongs: the point closest to the three track lines (least squares), its flight length from the
    PV with significance, and the Gottfried-Jackson angle difference."""
    if len(chs) < 3:
        return {"tau_hasSecondaryVertex": 0, "tau_flightLength_x": 0.0, "tau_flightLength_y": 0.0,
                "tau_flightLength_z": 0.0, "tau_flightLength_sig": 0.0}
    a = np.zeros((3, 3))
    b = np.zeros(3)
    sigma2 = 0.0
    for c in chs:
        point, d = _track_line(pf, c)
        proj = np.eye(3) - np.outer(d, d)
        a += proj
        b += proj @ point
        sigma2 += float(_errors(pf, c)[0][0]) ** 2 / len(chs)
    sv = np.linalg.solve(a, b)
    cov = sigma2 * np.linalg.inv(a)
    flight = sv - pv
    length = float(np.linalg.norm(flight))
    p3 = tau["p4"][:3]
    sign = 1.0 if flight @ p3 >= 0 else -1.0
    along = flight / length if length > 0 else np.array([0.0, 0.0, 1.0])
    sigma = float(np.sqrt(along @ cov @ along + PV_RESOLUTION[0] ** 2))
    p_vis = float(np.linalg.norm(p3))
    cos_gj = float(np.clip(flight @ p3 / max(length * p_vis, 1e-12), -1, 1))
    sin_max = np.clip((TAU_MASS**2 - tau["mass"] ** 2) / (2 * TAU_MASS * p_vis), -1, 1)
    return {
        "tau_hasSecondaryVertex": 1, "tau_sv_x": float(sv[0]), "tau_sv_y": float(sv[1]), "tau_sv_z": float(sv[2]),
        "tau_flightLength_x": float(flight[0]), "tau_flightLength_y": float(flight[1]),
        "tau_flightLength_z": float(flight[2]), "tau_flightLength_sig": sign * length / sigma,
        "tau_gj_angle_diff": float(np.arccos(cos_gj) - np.arcsin(sin_max)),
    }


def _eta_at_ecal(eta: float, z0: float) -> float:
    """Pseudorapidity of the ECAL entrance point seen from the detector centre (straight line from z0)."""
    z = z0 + ECAL_RADIUS * np.sinh(eta)
    if abs(z) < ECAL_Z:
        return float(np.arcsinh(z / ECAL_RADIUS))
    z_face = np.copysign(ECAL_Z, eta)
    r = (z_face - z0) / np.sinh(eta)
    return float(np.arcsinh(z_face / r))

