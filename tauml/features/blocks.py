"""What the kernels compute: the features of each object type, in the kernels' column order.

The YAML (training_v1.yaml) chooses and orders the features the model sees; every name it lists must be one of
these. PF blocks take a subset of one common PF feature set (``PF_FEATURES``), renamed with the block prefix.
"""
from __future__ import annotations

TAU_FLAT = (
    "rho", "tau_pt", "tau_eta", "tau_phi", "tau_mass", "tau_E_over_pt", "tau_charge", "tau_n_charged_prongs",
    "tau_n_neutral_prongs", "tau_chargedIsoPtSum", "tau_chargedIsoPtSumdR03_over_dR05", "tau_footprintCorrection",
    "tau_neutralIsoPtSum", "tau_neutralIsoPtSumWeight_over_neutralIsoPtSum",
    "tau_neutralIsoPtSumWeightdR03_over_neutralIsoPtSum", "tau_neutralIsoPtSumdR03_over_dR05",
    "tau_photonPtSumOutsideSignalCone", "tau_puCorrPtSum", "tau_dxy_valid", "tau_dxy", "tau_dxy_sig",
    "tau_ip3d_valid", "tau_ip3d", "tau_ip3d_sig", "tau_dz", "tau_dz_sig_valid", "tau_dz_sig", "tau_flightLength_x",
    "tau_flightLength_y", "tau_flightLength_z", "tau_flightLength_sig", "tau_pt_weighted_deta_strip",
    "tau_pt_weighted_dphi_strip", "tau_pt_weighted_dr_signal", "tau_pt_weighted_dr_iso", "tau_leadingTrackNormChi2",
    "tau_e_ratio_valid", "tau_e_ratio", "tau_gj_angle_diff_valid", "tau_gj_angle_diff", "tau_n_photons",
    "tau_emFraction", "tau_inside_ecal_crack", "tau_leadChargedCand_etaAtEcalEntrance_minus_tau_eta",
)
GRID_GLOBAL = ("rho", "tau_pt", "tau_eta", "tau_inside_ecal_crack")

# the common PF feature set, in kernel column order (suffixes after "pfCand_<block>_")
PF_FEATURES = (
    "valid", "rel_pt", "deta", "dphi", "tauLeadChargedHadrCand", "pvAssociationQuality", "fromPV", "puppiWeight",
    "puppiWeightNoLep", "charge", "lostInnerHits", "nPixelHits", "vertex_dx", "vertex_dy", "vertex_dz",
    "vertex_dx_tauFL", "vertex_dy_tauFL", "vertex_dz_tauFL", "hasTrackDetails", "dxy", "dxy_sig", "dz", "dz_sig",
    "track_chi2_ndof", "track_ndof", "hcalFraction", "rawCaloFraction",
)
_PF_TRACK = ("vertex_dx", "vertex_dy", "vertex_dz", "vertex_dx_tauFL", "vertex_dy_tauFL", "vertex_dz_tauFL",
             "hasTrackDetails", "dxy", "dxy_sig", "dz", "dz_sig", "track_chi2_ndof", "track_ndof")
_PF_PREFIX = ("valid", "rel_pt", "deta", "dphi")
# object type -> (name prefix, PF particleType or None for PAT objects, suffixes)
PF_BLOCKS = {
    "PfCand_electron": ("pfCand_ele", 2, _PF_PREFIX + ("pvAssociationQuality", "puppiWeight", "charge",
                                                      "lostInnerHits", "nPixelHits") + _PF_TRACK),
    "PfCand_muon": ("pfCand_muon", 3, _PF_PREFIX + ("pvAssociationQuality", "fromPV", "puppiWeight", "charge",
                                                   "lostInnerHits", "nPixelHits") + _PF_TRACK),
    "PfCand_chHad": ("pfCand_chHad", 1, PF_FEATURES),
    "PfCand_nHad": ("pfCand_nHad", 5, _PF_PREFIX + ("puppiWeight", "puppiWeightNoLep", "hcalFraction")),
    "PfCand_gamma": ("pfCand_gamma", 4, _PF_PREFIX + ("pvAssociationQuality", "fromPV", "puppiWeight",
                                                     "puppiWeightNoLep", "lostInnerHits", "nPixelHits") + _PF_TRACK),
}
# particleType values of PF candidates that no grid uses; any other value outside PF_BLOCKS is an error
PF_IGNORED_TYPES = (0, 6, 7)

ELECTRON = (
    "ele_valid", "ele_rel_pt", "ele_deta", "ele_dphi", "ele_cc_valid", "ele_cc_ele_rel_energy",
    "ele_cc_gamma_rel_energy", "ele_cc_n_gamma", "ele_rel_trackMomentumAtVtx", "ele_rel_trackMomentumAtCalo",
    "ele_rel_trackMomentumOut", "ele_rel_trackMomentumAtEleClus", "ele_rel_trackMomentumAtVtxWithConstraint",
    "ele_rel_ecalEnergy", "ele_ecalEnergy_sig", "ele_eSuperClusterOverP", "ele_eSeedClusterOverP",
    "ele_eSeedClusterOverPout", "ele_eEleClusterOverPout", "ele_deltaEtaSuperClusterTrackAtVtx",
    "ele_deltaEtaSeedClusterTrackAtCalo", "ele_deltaEtaEleClusterTrackAtCalo", "ele_deltaPhiEleClusterTrackAtCalo",
    "ele_deltaPhiSuperClusterTrackAtVtx", "ele_deltaPhiSeedClusterTrackAtCalo", "ele_mvaInput_earlyBrem",
    "ele_mvaInput_lateBrem", "ele_mvaInput_sigmaEtaEta", "ele_mvaInput_hadEnergy", "ele_mvaInput_deltaEta",
    "ele_gsfTrack_normalizedChi2", "ele_gsfTrack_numberOfValidHits", "ele_rel_gsfTrack_pt", "ele_gsfTrack_pt_sig",
    "ele_has_closestCtfTrack", "ele_closestCtfTrack_normalizedChi2", "ele_closestCtfTrack_numberOfValidHits",
)
MUON_STATIONS = tuple(f"{kind}_{det}_{i}" for kind in ("n_matches", "n_hits") for det in ("DT", "CSC", "RPC")
                      for i in range(1, 5))
MUON = (
    "muon_valid", "muon_rel_pt", "muon_deta", "muon_dphi", "muon_dxy", "muon_dxy_sig", "muon_normalizedChi2_valid",
    "muon_normalizedChi2", "muon_numberOfValidHits", "muon_segmentCompatibility", "muon_caloCompatibility",
    "muon_pfEcalEnergy_valid", "muon_rel_pfEcalEnergy",
) + tuple(f"muon_{s}" for s in MUON_STATIONS)

# cell object types in kernel order (the order of the columns of a cell row)
CELL_TYPES = ("PfCand_electron", "PfCand_muon", "PfCand_chHad", "PfCand_nHad", "PfCand_gamma", "Electron", "Muon")
CELL_PREFIX = {**{t: v[0] for t, v in PF_BLOCKS.items()}, "Electron": "ele", "Muon": "muon"}


def block_features(obj_type: str) -> tuple[str, ...]:
    """Feature names of one object type, in kernel order."""
    if obj_type == "TauFlat":
        return TAU_FLAT
    if obj_type == "GridGlobal":
        return GRID_GLOBAL
    if obj_type in PF_BLOCKS:
        prefix, _, suffixes = PF_BLOCKS[obj_type]
        return tuple(f"{prefix}_{s}" for s in suffixes)
    if obj_type == "Electron":
        return ELECTRON
    if obj_type == "Muon":
        return MUON
    raise KeyError(obj_type)


def cell_columns() -> tuple[str, ...]:
    """Columns of a cell row: every cell type's features followed by its ``<prefix>_n_total``."""
    cols: list[str] = []
    for t in CELL_TYPES:
        cols += block_features(t)
        cols.append(f"{CELL_PREFIX[t]}_n_total")
    return tuple(cols)


def column_index() -> dict[str, int]:
    return {name: i for i, name in enumerate(cell_columns())}


KNOWN_TYPES = ("TauFlat", "GridGlobal") + CELL_TYPES
