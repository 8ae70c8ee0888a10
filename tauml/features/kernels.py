"""numba kernels (compiled once and cached, ``nogil``): objects -> cells, and the features of a cell's objects.

A *cell row* describes one non-empty cell of one tau's inner or outer grid: the tau's row, the signed cell
indices, and for each cell object type the features of its highest-pt object plus ``n_total`` (columns of
``blocks.cell_columns()``). Undefined values (no object of the type, a validity rule that fails, a non-finite
result) are NaN; the scaling turns them into 0.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from .blocks import CELL_TYPES, PF_BLOCKS, PF_FEATURES, block_features, column_index

N_TYPES = len(CELL_TYPES)
ELE_K = CELL_TYPES.index("Electron")
MUON_K = CELL_TYPES.index("Muon")

# branch columns of the object matrices, in matrix column order
PF_COLS = ("pt", "eta", "phi", "particleType", "tauLeadChargedHadrCand", "pvAssociationQuality", "fromPV",
           "puppiWeight", "puppiWeightNoLep", "charge", "lostInnerHits", "nPixelHits", "vertex_x", "vertex_y",
           "vertex_z", "hasTrackDetails", "dxy", "dxy_error", "dz", "dz_error", "track_chi2", "track_ndof",
           "hcalFraction", "rawCaloFraction")
ELE_COLS = ("pt", "eta", "phi", "cc_ele_energy", "cc_gamma_energy", "cc_n_gamma", "trackMomentumAtVtx",
            "trackMomentumAtCalo", "trackMomentumOut", "trackMomentumAtEleClus", "trackMomentumAtVtxWithConstraint",
            "ecalEnergy", "ecalEnergy_error", "eSuperClusterOverP", "eSeedClusterOverP", "eSeedClusterOverPout",
            "eEleClusterOverPout", "deltaEtaSuperClusterTrackAtVtx", "deltaEtaSeedClusterTrackAtCalo",
            "deltaEtaEleClusterTrackAtCalo", "deltaPhiEleClusterTrackAtCalo", "deltaPhiSuperClusterTrackAtVtx",
            "deltaPhiSeedClusterTrackAtCalo", "mvaInput_earlyBrem", "mvaInput_lateBrem", "mvaInput_sigmaEtaEta",
            "mvaInput_hadEnergy", "mvaInput_deltaEta", "gsfTrack_normalizedChi2", "gsfTrack_numberOfValidHits",
            "gsfTrack_pt", "gsfTrack_pt_error", "closestCtfTrack_normalizedChi2",
            "closestCtfTrack_numberOfValidHits")
_STATIONS = tuple(f"{kind}_{det}_{i}" for kind in ("n_matches", "n_hits") for det in ("DT", "CSC", "RPC")
                  for i in range(1, 5))
MUON_COLS = ("pt", "eta", "phi", "dxy", "dxy_error", "normalizedChi2", "numberOfValidHits", "segmentCompatibility",
             "caloCompatibility", "pfEcalEnergy") + _STATIONS
# per-tau columns the object features need
TAU_COLS = ("tau_pt", "tau_eta", "tau_phi", "pv_x", "pv_y", "pv_z", "tau_flightLength_x", "tau_flightLength_y",
            "tau_flightLength_z")
COLLECTION_COLS = {"pfCand": PF_COLS, "ele": ELE_COLS, "muon": MUON_COLS}


def _type_of_particle() -> np.ndarray:
    """PF particleType (0..7) -> cell type index, -1 = ignored."""
    table = np.full(8, -1, np.int64)
    for t, (_, ptype, _) in PF_BLOCKS.items():
        table[ptype] = CELL_TYPES.index(t)
    return table


def _pf_column_map() -> np.ndarray:
    """(PF cell type, PF_FEATURES index) -> cell column, -1 where the block lacks the feature."""
    cols = column_index()
    table = np.full((N_TYPES, len(PF_FEATURES)), -1, np.int64)
    for t, (prefix, _, suffixes) in PF_BLOCKS.items():
        k = CELL_TYPES.index(t)
        for s in suffixes:
            table[k, PF_FEATURES.index(s)] = cols[f"{prefix}_{s}"]
    return table


def _block_layout() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell type: first column, number of feature columns, the n_total column."""
    first, width, total = [], [], []
    col = 0
    for t in CELL_TYPES:
        n = len(block_features(t))
        first.append(col)
        width.append(n)
        total.append(col + n)
        col += n + 1
    return np.array(first, np.int64), np.array(width, np.int64), np.array(total, np.int64)


PARTICLE_TYPE = _type_of_particle()
PF_MAP = _pf_column_map()
BLOCK_FIRST, BLOCK_WIDTH, BLOCK_TOTAL = _block_layout()
N_COLUMNS = int(BLOCK_TOTAL[-1] + 1)
NAN = np.float32(np.nan)


@nb.njit(nogil=True, cache=True, error_model="numpy")
def wrap_phi(x):
    """x in (-pi, pi] (entries without a reco tau hold the float lowest as tau_phi: no loop on those)."""
    if -np.pi < x <= np.pi:
        return x
    r = np.fmod(x + np.pi, 2 * np.pi)
    r = r + np.pi if r <= 0 else r - np.pi
    return r


@nb.njit(nogil=True, cache=True, error_model="numpy")
def cell_index(x, size):
    """sign(x) * floor(|x| / size + 0.5)."""
    i = np.floor(abs(x) / size + 0.5)
    return int(i) if x >= 0 else -int(i)


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _object_cell(deta, dphi, dr, radius, n_cells, size):
    """Flat cell (ieta + h) * n + (iphi + h) of an object within ``radius`` and the grid, else -1."""
    if not dr < radius:
        return -1
    h = n_cells // 2
    ie = cell_index(deta, size)
    ip = cell_index(dphi, size)
    if abs(ie) > h or abs(ip) > h:
        return -1
    return (ie + h) * n_cells + (ip + h)


@nb.njit(nogil=True, cache=True, error_model="numpy")
def assign_objects(tau, offsets, kind, obj_eta, obj_phi, r_sig, iso_cone, n_cells, size, inner):
    """Cell of every object of one collection in the inner (``inner``) or outer grid of its tau (-1: none).

    ``kind`` holds the cell type of each object (-1: ignored). Inner: dR < R_sig; outer: dR < iso_cone (signal-
    cone objects are in both grids).
    """
    cells = np.full(len(obj_eta), -1, np.int64)
    for t in range(len(offsets) - 1):
        for j in range(offsets[t], offsets[t + 1]):
            if kind[j] < 0:
                continue
            deta = obj_eta[j] - tau[t, 1]
            dphi = wrap_phi(obj_phi[j] - tau[t, 2])
            dr = np.sqrt(deta * deta + dphi * dphi)
            radius = r_sig[t] if inner else iso_cone
            cells[j] = _object_cell(deta, dphi, dr, radius, n_cells, size)
    return cells


@nb.njit(nogil=True, cache=True, error_model="numpy")
def best_per_cell(n_tau, n_cells, offsets3, kinds3, cells3, pts3):
    """Cell rows of one grid: (tau, flat cell, best object per type (-1 none), n_total per type).

    The three collections (pfCand, ele, muon) come as tuples; the highest-pt object of each type wins, ties go to
    the first. Rows are ordered by tau, then flat cell.
    """
    cap = 0
    for c in range(3):
        cap += len(kinds3[c])
    row_tau = np.empty(cap, np.int32)
    row_cell = np.empty(cap, np.int32)
    row_best = np.full((cap, N_TYPES), -1, np.int64)
    row_count = np.zeros((cap, N_TYPES), np.int32)
    n2 = n_cells * n_cells
    best = np.full((n2, N_TYPES), -1, np.int64)
    best_pt = np.zeros((n2, N_TYPES), np.float64)
    count = np.zeros((n2, N_TYPES), np.int32)
    touched = np.zeros(n2, np.bool_)
    n_rows = 0
    for t in range(n_tau):
        for c in range(3):
            offsets, kinds, cells, pts = offsets3[c], kinds3[c], cells3[c], pts3[c]
            for j in range(offsets[t], offsets[t + 1]):
                cell = cells[j]
                if cell < 0:
                    continue
                k = kinds[j]
                count[cell, k] += 1
                touched[cell] = True
                if best[cell, k] < 0 or pts[j] > best_pt[cell, k]:
                    best[cell, k] = j
                    best_pt[cell, k] = pts[j]
        for cell in range(n2):
            if not touched[cell]:
                continue
            row_tau[n_rows] = t
            row_cell[n_rows] = cell
            for k in range(N_TYPES):
                row_best[n_rows, k] = best[cell, k]
                row_count[n_rows, k] = count[cell, k]
                best[cell, k] = -1
                count[cell, k] = 0
            touched[cell] = False
            n_rows += 1
    return row_tau[:n_rows], row_cell[:n_rows], row_best[:n_rows], row_count[:n_rows]


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _put(out, r, c, v):
    out[r, c] = np.float32(v) if np.isfinite(v) else NAN


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _pf_features(out, r, k, pf, j, tau, t, scratch):
    pt = pf[j, 0]
    scratch[:] = np.nan
    scratch[0] = 1.0
    scratch[1] = pt / tau[t, 0]
    scratch[2] = pf[j, 1] - tau[t, 1]
    scratch[3] = wrap_phi(pf[j, 2] - tau[t, 2])
    for s in range(4, 12):  # tauLeadChargedHadrCand ... nPixelHits: the branch values
        scratch[s] = pf[j, s]
    for a in range(3):
        dv = pf[j, 12 + a] - tau[t, 3 + a]
        scratch[12 + a] = dv
        scratch[15 + a] = dv - tau[t, 6 + a]
    track = pf[j, 15] == 1
    scratch[18] = 1.0 if track else 0.0
    if track:
        scratch[19] = pf[j, 16]
        scratch[20] = abs(pf[j, 16]) / pf[j, 17]
        scratch[21] = pf[j, 18]
        scratch[22] = abs(pf[j, 18]) / pf[j, 19]
        if pf[j, 21] > 0:
            scratch[23] = pf[j, 20] / pf[j, 21]
            scratch[24] = pf[j, 21]
    scratch[25] = pf[j, 22]
    scratch[26] = pf[j, 23]
    for s in range(scratch.shape[0]):
        c = PF_MAP[k, s]
        if c >= 0:
            _put(out, r, c, scratch[s])


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _ele_features(out, r, c0, e, j, tau, t):
    pt = e[j, 0]
    _put(out, r, c0 + 0, 1.0)
    _put(out, r, c0 + 1, pt / tau[t, 0])
    _put(out, r, c0 + 2, e[j, 1] - tau[t, 1])
    _put(out, r, c0 + 3, wrap_phi(e[j, 2] - tau[t, 2]))
    cc = e[j, 3] >= 0
    _put(out, r, c0 + 4, 1.0 if cc else 0.0)
    if cc:
        _put(out, r, c0 + 5, e[j, 3] / pt)
        _put(out, r, c0 + 6, e[j, 4] / e[j, 3])
        _put(out, r, c0 + 7, e[j, 5])
    for a in range(5):  # trackMomentum* / pt
        _put(out, r, c0 + 8 + a, e[j, 6 + a] / pt)
    _put(out, r, c0 + 13, e[j, 11] / pt)
    _put(out, r, c0 + 14, e[j, 11] / e[j, 12])
    for a in range(17):  # eSuperClusterOverP ... gsfTrack_numberOfValidHits: the branch values
        _put(out, r, c0 + 15 + a, e[j, 13 + a])
    _put(out, r, c0 + 32, e[j, 30] / pt)
    _put(out, r, c0 + 33, e[j, 30] / e[j, 31])
    ctf = e[j, 32] >= 0
    _put(out, r, c0 + 34, 1.0 if ctf else 0.0)
    if ctf:
        _put(out, r, c0 + 35, e[j, 32])
        _put(out, r, c0 + 36, e[j, 33])


@nb.njit(nogil=True, cache=True, error_model="numpy")
def _muon_features(out, r, c0, m, j, tau, t):
    pt = m[j, 0]
    _put(out, r, c0 + 0, 1.0)
    _put(out, r, c0 + 1, pt / tau[t, 0])
    _put(out, r, c0 + 2, m[j, 1] - tau[t, 1])
    _put(out, r, c0 + 3, wrap_phi(m[j, 2] - tau[t, 2]))
    _put(out, r, c0 + 4, m[j, 3])
    if m[j, 4] != 0:
        _put(out, r, c0 + 5, abs(m[j, 3]) / m[j, 4])
    chi2 = m[j, 5] >= 0
    _put(out, r, c0 + 6, 1.0 if chi2 else 0.0)
    if chi2:
        _put(out, r, c0 + 7, m[j, 5])
        _put(out, r, c0 + 8, m[j, 6])
    _put(out, r, c0 + 9, m[j, 7])
    _put(out, r, c0 + 10, m[j, 8])
    ecal = m[j, 9] >= 0
    _put(out, r, c0 + 11, 1.0 if ecal else 0.0)
    if ecal:
        _put(out, r, c0 + 12, m[j, 9] / pt)
    for a in range(24):  # n_matches_* and n_hits_*
        _put(out, r, c0 + 13 + a, m[j, 10 + a])


@nb.njit(nogil=True, cache=True, error_model="numpy")
def cell_features(row_tau, row_best, row_count, tau, pf, ele, muon):
    """(rows, N_COLUMNS) float32 features of the best object per type of each cell row (NaN: undefined)."""
    n = len(row_tau)
    out = np.full((n, N_COLUMNS), NAN, np.float32)
    scratch = np.empty(PF_MAP.shape[1], np.float64)
    for r in range(n):
        t = row_tau[r]
        for k in range(N_TYPES):
            out[r, BLOCK_TOTAL[k]] = row_count[r, k]
            j = row_best[r, k]
            if j < 0:
                out[r, BLOCK_FIRST[k]] = 0.0  # <type>_valid
                continue
            if k == ELE_K:
                _ele_features(out, r, BLOCK_FIRST[k], ele, j, tau, t)
            elif k == MUON_K:
                _muon_features(out, r, BLOCK_FIRST[k], muon, j, tau, t)
            else:
                _pf_features(out, r, k, pf, j, tau, t, scratch)
    return out


@nb.njit(nogil=True, cache=True, error_model="numpy")
def object_rows(n_tau, offsets3, kinds3, cells3):
    """One row per object that lies in the grid (as ``best_per_cell`` rows holding that object alone), for
    statistics over every object rather than the highest-pt one per cell."""
    cap = 0
    for c in range(3):
        cap += len(kinds3[c])
    row_tau = np.empty(cap, np.int32)
    row_best = np.full((cap, N_TYPES), -1, np.int64)
    row_count = np.zeros((cap, N_TYPES), np.int32)
    n_rows = 0
    for t in range(n_tau):
        for c in range(3):
            offsets, kinds, cells = offsets3[c], kinds3[c], cells3[c]
            for j in range(offsets[t], offsets[t + 1]):
                if cells[j] < 0:
                    continue
                row_tau[n_rows] = t
                row_best[n_rows, kinds[j]] = j
                row_count[n_rows, kinds[j]] = 1
                n_rows += 1
    return row_tau[:n_rows], row_best[:n_rows], row_count[:n_rows]
