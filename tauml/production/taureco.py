"""HPS tau reconstruction (Run 2) on one seeding jet: decay modes 0, 1, 2, 10, 11 from charged candidates and
dynamic pi0 strips with the mass windows, signal cone and hypothesis ranking of CMSSW, isolation sums, impact
parameters, secondary vertex and the high-level features of the DataLoader.

``pf`` is the detector's column dict; indices are positions in its flat arrays.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np

from .geometry import PV_RESOLUTION, PFType, track_resolution
from .kinematics import delta_phi, delta_r, eta_phi_mass

TAU_MASS = 1.77686
PI0_MASS = 0.1349
ISO_CONE = 0.5
ISO_CONE_03 = 0.3
PU_CONE = 0.8
MIN_STRIP_PT = 1.0
MAX_CHARGED = 6
MAX_STRIPS = 5
SOFT_TWO_PRONG_PT = 5.0
ECAL_RADIUS, ECAL_Z = 129.0, 317.0
# HPS of Run 2 (CMS, JINST 13 (2018) P10005; CMSSW RecoTauTag/RecoTau hpsSelectionDiscriminator):
# decay mode -> (charged hadrons, strips). The 2-prongs (5, 6) are built and ranked like the others, but a tau
# whose best hypothesis is a 2-prong fails decayModeFindingNewDMs and is not kept (MiniAOD slimmedTaus).
DECAY_MODES = {0: (1, 0), 1: (1, 1), 2: (1, 2), 5: (2, 0), 6: (2, 1), 10: (3, 0), 11: (3, 1)}
NEW_DECAY_MODES = (0, 1, 2, 10, 11)
OLD_DECAY_MODES = (0, 1, 2, 10)
# the mass bend correction only where the window does not grow with pt: first order in the strip size, it is
# far too generous for the pt-scaled windows of DM 1 and 2 (1-prongs with a pile-up strip would become DM 1)
BEND_MASS_MODES = (11,)
DM2_PI0_MASS = (0.05, 0.2)  # minPi0Mass, maxPi0Mass: the mass of the two strips of DM 2, taken massless
ISO_WORKING_POINTS = ((3, 2.5), (4, 1.5), (5, 0.8))  # (DiscriminatorWP bit, max combined isolation in GeV)


def _p4(pf, idx):
    pt, eta, phi = pf["pfCand_pt"][idx], pf["pfCand_eta"][idx], pf["pfCand_phi"][idx]
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + pf["pfCand_mass"][idx] ** 2)
    return np.stack([px, py, pz, e], axis=-1)


def _strip_window(pt):
    """Run-2 dynamic strip half-sizes f(pt) in eta and g(pt) in phi (JINST 13 (2018) P10005, eq. 2)."""
    pt = np.maximum(pt, 1e-3)
    return 0.20 * pt**-0.66, 0.35 * pt**-0.71


def _strips(pf, photons: np.ndarray) -> list[np.ndarray]:
    """Dynamic strips: photons collected around the hardest free one; a photon joins if it lies within
    f(pt_gamma) + f(pt_strip) in eta (0.05-0.15) and g(pt_gamma) + g(pt_strip) in phi (0.05-0.30)."""
    free = photons[np.argsort(-pf["pfCand_pt"][photons])]
    strips = []
    while len(free):
        members, free = free[:1], free[1:]
        while len(free):
            s = _p4(pf, members).sum(axis=0)
            s_eta, s_phi, _ = eta_phi_mass(*s)
            f_strip, g_strip = _strip_window(np.hypot(s[0], s[1]))
            f_gamma, g_gamma = _strip_window(pf["pfCand_pt"][free])
            inside = (np.abs(pf["pfCand_eta"][free] - s_eta) < np.clip(f_gamma + f_strip, 0.05, 0.15)) & \
                     (np.abs(delta_phi(pf["pfCand_phi"][free], s_phi)) < np.clip(g_gamma + g_strip, 0.05, 0.30))
            if not inside.any():
                break
            members = np.concatenate([members, free[inside]])
            free = free[~inside]
        strips.append(members)
    return [s for s in strips if pf["pfCand_pt"][s].sum() > MIN_STRIP_PT]


def _pt_window(a: float, top: float, pt):
    return np.maximum(a, np.minimum(a * np.sqrt(pt / 100.0), top))


def _mass_window(dm: int, pt):
    """HPS mass window of a decay mode as a function of the tau pt (Run-2 hpsSelectionDiscriminator)."""
    zero = np.zeros_like(pt)
    return {0: (zero - 1e3, zero + 1.0), 1: (zero + 0.3, _pt_window(1.3, 4.2, pt)),
            2: (zero + 0.4, _pt_window(1.2, 4.0, pt)), 5: (zero, zero + 1.2), 6: (zero, _pt_window(1.2, 4.0, pt)),
            10: (zero + 0.8, zero + 1.5), 11: (zero + 0.9, zero + 1.6)}[dm]


def signal_cone(pt):
    return np.clip(3.0 / np.maximum(pt, 1e-3), 0.05, 0.10)


def _with_mass(p4: np.ndarray, mass: float | None) -> np.ndarray:
    """Strip four-vectors with the mass HPS assumes for them (None: as measured)."""
    if mass is None:
        return p4
    out = p4.copy()
    out[..., 3] = np.sqrt((p4[..., :3] ** 2).sum(axis=-1) + mass**2)
    return out


STRIP_MASS = {1: PI0_MASS, 2: 0.0}  # assumeStripMass of DM 1 and DM 2


def _bend_mass(p4: np.ndarray, mass: np.ndarray, strip_p4: np.ndarray, bend, si: np.ndarray) -> np.ndarray:
    """How much the tau mass can change when each strip moves within its own size (the mass "bend correction"
    of the HPS selection): first-order change of m with the strip's eta and phi, added in quadrature."""
    rest = p4[:, None, :] - strip_p4
    pt_s, pt_r = np.hypot(strip_p4[..., 0], strip_p4[..., 1]), np.hypot(rest[..., 0], rest[..., 1])
    eta_s, phi_s, _ = eta_phi_mass(*np.moveaxis(strip_p4, -1, 0))
    eta_r, phi_r, _ = eta_phi_mass(*np.moveaxis(rest, -1, 0))
    scale = pt_s * pt_r / np.maximum(mass, 1e-3)[:, None]
    d_eta = scale * np.abs(np.sinh(eta_s - eta_r)) * bend[0][si]
    d_phi = scale * np.abs(np.sin(delta_phi(phi_s, phi_r))) * bend[1][si]
    return np.sqrt((d_eta**2 + d_phi**2).sum(axis=1))


def _hypotheses(pf, charged: np.ndarray, strip_p4: np.ndarray) -> list[dict]:
    """All combinations of every decay mode, one dict of arrays per mode, with the keys the HPS cleaner of
    Run 2 ranks them by (in this order): unit charge for 1- and 3-prongs, passing the decay-mode selection, no
    soft (< 5 GeV) track in a 2-prong, more charged hadrons, higher pt, more strips."""
    ch_p4 = _p4(pf, charged)
    ch_eta, ch_phi = pf["pfCand_eta"][charged], pf["pfCand_phi"][charged]
    ch_q, ch_pt = pf["pfCand_charge"][charged], pf["pfCand_pt"][charged]
    st_eta, st_phi, _ = eta_phi_mass(*strip_p4.T)
    st_bend = _strip_window(np.hypot(strip_p4[:, 0], strip_p4[:, 1]))
    out = []
    for dm, (n_ch, n_strips) in DECAY_MODES.items():
        if len(charged) < n_ch or len(strip_p4) < n_strips:
            continue
        # 1-prongs use the leading charged hadron: another one only gives a lower-pt hypothesis
        chs = np.array(list(combinations(range(len(charged) if n_ch > 1 else 1), n_ch)), int)
        sts = np.array(list(combinations(range(min(len(strip_p4), MAX_STRIPS)), n_strips)), int)
        sts = sts.reshape(len(sts), n_strips)
        ci = np.repeat(chs, len(sts), axis=0)
        si = np.tile(sts, (len(chs), 1))
        strips = _with_mass(strip_p4, STRIP_MASS.get(dm))
        p4 = ch_p4[ci].sum(axis=1) + (strips[si].sum(axis=1) if n_strips else 0.0)
        eta, phi, mass = eta_phi_mass(*p4.T)
        pt = np.hypot(p4[:, 0], p4[:, 1])
        lo, hi = _mass_window(dm, pt)
        cone = signal_cone(pt)[:, None]
        slack = _bend_mass(p4, mass, strips[si], st_bend, si) if dm in BEND_MASS_MODES else 0.0
        ok = (mass + slack >= lo) & (mass - slack <= hi)
        ok &= (delta_r(ch_eta[ci], ch_phi[ci], eta[:, None], phi[:, None]) < cone).all(axis=1)
        if n_strips:  # strips may reach out of the cone by their own size ("bend correction")
            d_eta = np.maximum(np.abs(st_eta[si] - eta[:, None]) - st_bend[0][si], 0.0)
            d_phi = np.maximum(np.abs(delta_phi(st_phi[si], phi[:, None])) - st_bend[1][si], 0.0)
            ok &= (np.hypot(d_eta, d_phi) < cone).all(axis=1)
        if dm == 2:  # the two (massless) strips must make a pi0
            pi0_mass = eta_phi_mass(*strips[si].sum(axis=1).T)[2]
            ok &= (pi0_mass >= DM2_PI0_MASS[0]) & (pi0_mass <= DM2_PI0_MASS[1])
        unit = (np.abs(ch_q[ci].sum(axis=1)) == 1) | (n_ch == 2)
        hard = (n_ch != 2) | (ch_pt[ci].min(axis=1) >= SOFT_TWO_PRONG_PT)
        out.append({"dm": np.full(len(ci), dm), "ci": ci, "si": si, "p4": p4, "eta": eta, "phi": phi,
                    "mass": mass, "pt": pt, "keys": (unit, ok, hard, np.full(len(ci), n_ch), pt,
                                                     np.full(len(ci), n_strips))})
    return out


def reconstruct(pf, members: np.ndarray):
    """The HPS tau of a jet's constituents: the best-ranked hypothesis, or None if there is no charged candidate
    or the best one fails decayModeFindingNewDMs (mass window, signal cone, decay modes 0, 1, 2, 10, 11)."""
    ptype = pf["pfCand_particleType"][members]
    quality = (np.abs(pf["pfCand_dz"][members]) < 0.4) & (np.abs(pf["pfCand_dxy"][members]) < 0.1)
    charged = members[(pf["pfCand_charge"][members] != 0) & quality & (pf["pfCand_pt"][members] > 0.5)]
    charged = charged[np.argsort(-pf["pfCand_pt"][charged], kind="stable")][:MAX_CHARGED]
    if len(charged) == 0:
        return None
    strips = _strips(pf, members[(ptype == PFType.gamma) & (pf["pfCand_pt"][members] > 0.5)])
    strips.sort(key=lambda s: -pf["pfCand_pt"][s].sum())
    strip_p4 = np.array([_p4(pf, s).sum(axis=0) for s in strips]).reshape(len(strips), 4)
    hypotheses = _hypotheses(pf, charged, strip_p4)
    keys = [np.concatenate([h["keys"][k] for h in hypotheses]).astype(float) for k in range(6)]
    best = int(np.lexsort(keys[::-1])[-1])  # lexsort: the last key is the primary one
    for h in hypotheses:
        if best < len(h["dm"]):
            break
        best -= len(h["dm"])
    unit, ok = h["keys"][0][best], h["keys"][1][best]
    dm = int(h["dm"][best])
    if not (unit and ok) or dm not in NEW_DECAY_MODES:
        return None
    return {"pt": float(h["pt"][best]), "eta": float(h["eta"][best]), "phi": float(h["phi"][best]),
            "mass": float(h["mass"][best]), "dm": dm, "charged": charged[h["ci"][best]],
            "photons": np.concatenate([strips[k] for k in h["si"][best]] or [np.zeros(0, int)]).astype(int),
            "p4": h["p4"][best]}


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
    # w.r.t. the primary vertex, so its uncertainty adds to the track's (IPTools of CMSSW)
    s_dxy, s_dz = (float(np.hypot(x[0], pv_sigma)) for x, pv_sigma in zip(_errors(pf, lead), PV_RESOLUTION[1:]))
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

