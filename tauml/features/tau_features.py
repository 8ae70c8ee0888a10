"""The TauFlat features (one row per tau) from the tau branches, in ``blocks.TAU_FLAT`` order; NaN = undefined."""
from __future__ import annotations

import numpy as np

from .blocks import TAU_FLAT

# tau branches read as they are (feature name = branch name)
_DIRECT = ("rho", "tau_pt", "tau_eta", "tau_phi", "tau_mass", "tau_charge", "tau_chargedIsoPtSum",
           "tau_footprintCorrection", "tau_neutralIsoPtSum", "tau_photonPtSumOutsideSignalCone", "tau_puCorrPtSum",
           "tau_dz", "tau_flightLength_x", "tau_flightLength_y", "tau_flightLength_z", "tau_flightLength_sig",
           "tau_pt_weighted_deta_strip", "tau_pt_weighted_dphi_strip", "tau_pt_weighted_dr_signal",
           "tau_pt_weighted_dr_iso", "tau_leadingTrackNormChi2", "tau_n_photons", "tau_emFraction",
           "tau_inside_ecal_crack")
TAU_BRANCHES = _DIRECT + (
    "tau_decayMode", "tau_chargedIsoPtSumdR03", "tau_neutralIsoPtSumWeight", "tau_neutralIsoPtSumWeightdR03",
    "tau_neutralIsoPtSumdR03", "tau_dxy", "tau_dxy_error", "tau_ip3d", "tau_ip3d_error", "tau_dz_error",
    "tau_e_ratio", "tau_gj_angle_diff", "tau_leadChargedCand_etaAtEcalEntrance",
)


def _ratio(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, num / np.where(den != 0, den, 1), np.nan)


def _where(valid, value):
    return np.where(valid, value, np.nan)


def tau_flat(a) -> np.ndarray:
    """(n, 44) float32; ``a`` maps the names of TAU_BRANCHES to 1-D arrays."""
    f = {name: np.asarray(a[name], np.float64) for name in TAU_BRANCHES}
    out = dict((name, f[name]) for name in _DIRECT)
    pt, eta, mass, dm = f["tau_pt"], f["tau_eta"], f["tau_mass"], f["tau_decayMode"]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        out["tau_E_over_pt"] = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2) / pt
        out["tau_n_charged_prongs"] = np.floor_divide(dm, 5) + 1
        out["tau_n_neutral_prongs"] = np.mod(dm, 5)
        out["tau_chargedIsoPtSumdR03_over_dR05"] = _ratio(f["tau_chargedIsoPtSumdR03"], f["tau_chargedIsoPtSum"])
        iso = f["tau_neutralIsoPtSum"]
        out["tau_neutralIsoPtSumWeight_over_neutralIsoPtSum"] = _ratio(f["tau_neutralIsoPtSumWeight"], iso)
        out["tau_neutralIsoPtSumWeightdR03_over_neutralIsoPtSum"] = _ratio(f["tau_neutralIsoPtSumWeightdR03"], iso)
        out["tau_neutralIsoPtSumdR03_over_dR05"] = _ratio(f["tau_neutralIsoPtSumdR03"], iso)
        for ip in ("dxy", "ip3d"):
            value, err = f[f"tau_{ip}"], f[f"tau_{ip}_error"]
            valid = (value > -10) & (err > 0)
            out[f"tau_{ip}_valid"] = valid.astype(np.float64)
            out[f"tau_{ip}"] = _where(valid, value)
            out[f"tau_{ip}_sig"] = _where(valid, np.abs(value) / np.where(valid, err, 1))
        dz_valid = f["tau_dz_error"] > 0
        out["tau_dz_sig_valid"] = dz_valid.astype(np.float64)
        out["tau_dz_sig"] = _where(dz_valid, np.abs(f["tau_dz"]) / np.where(dz_valid, f["tau_dz_error"], 1))
        e_ratio_valid = f["tau_e_ratio"] > 0
        out["tau_e_ratio_valid"] = e_ratio_valid.astype(np.float64)
        out["tau_e_ratio"] = _where(e_ratio_valid, f["tau_e_ratio"])
        gj_valid = f["tau_gj_angle_diff"] >= 0
        out["tau_gj_angle_diff_valid"] = gj_valid.astype(np.float64)
        out["tau_gj_angle_diff"] = _where(gj_valid, f["tau_gj_angle_diff"])
        out["tau_leadChargedCand_etaAtEcalEntrance_minus_tau_eta"] = f["tau_leadChargedCand_etaAtEcalEntrance"] - eta
        table = np.stack([out[name] for name in TAU_FLAT], axis=1).astype(np.float32)
    table[~np.isfinite(table)] = np.nan
    return table
