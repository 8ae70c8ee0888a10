"""Generator truth: prompt gen leptons (kind, visible p4, decay chain) and anti-kT gen jets."""
from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from . import jets as jetalg
from .generator import Particles
from .kinematics import delta_r, eta_phi_mass

NEUTRINOS = (12, 14, 16)
GEN_JET_MIN_PT = 5.0
MAX_MOTHERS_ENCODED = 6


class Kind(enum.IntEnum):
    """genLepton_kind (spec §1)."""
    PromptElectron = 1
    PromptMuon = 2
    TauDecayedToElectron = 3
    TauDecayedToMuon = 4
    TauDecayedToHadrons = 5
    Other = 6


def is_hadron(pid: np.ndarray) -> np.ndarray:
    a = np.abs(pid)
    return (a > 100) & (a < 1_000_000) & ((a // 10) % 10 != 0)


def has_quark(pid: np.ndarray, quark: int) -> np.ndarray:
    a = np.abs(pid)
    return is_hadron(pid) & (((a // 100) % 10 == quark) | ((a // 1000) % 10 == quark))


def visible_final(p: Particles) -> np.ndarray:
    return (p.status > 0) & ~np.isin(np.abs(p.id), NEUTRINOS)


@dataclass
class GenLeptons:
    """Prompt gen leptons of a batch, flat with ``offsets`` per event; ``chains[k]`` holds genParticle_* arrays."""
    offsets: np.ndarray
    kind: np.ndarray
    charge: np.ndarray
    vis_pt: np.ndarray
    vis_eta: np.ndarray
    vis_phi: np.ndarray
    vis_mass: np.ndarray
    last_mother_index: np.ndarray
    chains: list[dict[str, np.ndarray]]


def _copy_structure(p: Particles):
    """``has_copy[i]``: a later copy of particle i exists; ``first[i]``: the first copy of i's line."""
    n = len(p.id)
    m1 = p.mother1
    same_as_mother = np.zeros(n, bool)
    valid = m1 >= 0
    same_as_mother[valid] = p.id[m1[valid]] == p.id[valid]
    has_copy = np.zeros(n, bool)
    has_copy[m1[same_as_mother]] = True
    first = np.arange(n)
    moving = np.flatnonzero(same_as_mother)
    while len(moving):
        first[moving] = m1[first[moving]]
        nxt = m1[first[moving]]
        keep = (nxt >= 0) & (p.id[np.maximum(nxt, 0)] == p.id[first[moving]])
        moving = moving[keep]
    return has_copy, first, ~same_as_mother


def _lepton_ancestor(p: Particles, is_root: np.ndarray) -> np.ndarray:
    """For every particle, the nearest ancestor (or itself) flagged in ``is_root``; -1 if none."""
    n = len(p.id)
    owner = np.where(is_root, np.arange(n), -1)
    active = np.flatnonzero(~is_root & (p.mother1 >= 0))
    cursor = p.mother1[active]
    while len(active):
        hit = is_root[cursor]
        owner[active[hit]] = cursor[hit]
        cursor = p.mother1[cursor[~hit]]
        active = active[~hit]
        alive = cursor >= 0
        active, cursor = active[alive], cursor[alive]
    return owner


def _has_hadron_or_tau_ancestor(p: Particles, start: np.ndarray) -> np.ndarray:
    bad_hadron = is_hadron(p.id) & (np.abs(p.status) >= 80)
    tau = np.abs(p.id) == 15
    result = np.zeros(len(start), bool)
    cursor = p.mother1[start].copy()
    own_id = p.id[start]
    alive = cursor >= 0
    while alive.any():
        c = cursor[alive]
        flag = bad_hadron[c] | (tau[c] & (np.abs(own_id[alive]) != 15))
        result[np.flatnonzero(alive)[flag]] = True
        cursor[alive] = np.where(flag, -1, p.mother1[c])
        alive = cursor >= 0
    return result


def gen_leptons(p: Particles) -> GenLeptons:
    has_copy, first, is_first = _copy_structure(p)
    apid = np.abs(p.id)
    candidates = np.flatnonzero(is_first & np.isin(apid, (11, 13, 15)) & (p.status != -21))
    candidates = candidates[~_has_hadron_or_tau_ancestor(p, candidates)]
    is_root = np.zeros(len(p.id), bool)
    is_root[candidates] = True
    owner = _lepton_ancestor(p, is_root)
    last = np.full(len(p.id), -1)
    line_end = np.flatnonzero(is_root[first] & ~has_copy & (first >= 0))
    last[first[line_end]] = line_end

    visible = visible_final(p)
    vis_owner = np.where(visible, owner, -1)
    sel = vis_owner >= 0
    sums = {c: np.bincount(vis_owner[sel], getattr(p, c)[sel], len(p.id)) for c in ("px", "py", "pz", "e")}

    daughters_of_last = np.zeros(len(p.id), np.int32)  # bit 1: e daughter, bit 2: mu daughter
    m1 = p.mother1
    child = m1 >= 0
    np.bitwise_or.at(daughters_of_last, m1[child], np.where(apid[child] == 11, 1, 0) | np.where(apid[child] == 13, 2, 0))

    kinds, chains = [], []
    for lep in candidates:
        lc = last[lep] if last[lep] >= 0 else lep
        a = apid[lep]
        if a == 11:
            kind = Kind.PromptElectron
        elif a == 13:
            kind = Kind.PromptMuon
        elif daughters_of_last[lc] & 1:
            kind = Kind.TauDecayedToElectron
        elif daughters_of_last[lc] & 2:
            kind = Kind.TauDecayedToMuon
        elif p.status[lc] < 0:
            kind = Kind.TauDecayedToHadrons
        else:
            kind = Kind.Other
        kinds.append(kind)
        chains.append(_chain(p, lep, owner, has_copy, is_first))
    kinds = np.array(kinds, np.int32)
    vis_eta, vis_phi, vis_mass = eta_phi_mass(*(sums[c][candidates] for c in ("px", "py", "pz", "e")))
    event = p.event[candidates]
    return GenLeptons(
        offsets=np.concatenate([[0], np.cumsum(np.bincount(event, minlength=p.n_events))]),
        kind=kinds, charge=-np.sign(p.id[candidates]).astype(np.int32),
        vis_pt=np.hypot(sums["px"][candidates], sums["py"][candidates]),
        vis_eta=vis_eta, vis_phi=vis_phi, vis_mass=vis_mass,
        last_mother_index=np.array([0 if c["has_mother"] else -1 for c in chains], np.int32),
        chains=[c["arrays"] for c in chains],
    )


def _chain(p: Particles, lep: int, owner, has_copy, is_first) -> dict:
    """genParticle_* arrays: the lepton's mother, then its copies, radiation and decay products."""
    ev = np.searchsorted(p.offsets, lep, "right") - 1
    lo, hi = p.offsets[ev], p.offsets[ev + 1]
    members = lo + np.flatnonzero(owner[lo:hi] == lep)
    mother = p.mother1[lep]
    has_mother = mother >= 0
    if has_mother:
        members = np.concatenate([[mother], members])
    position = {int(g): k for k, g in enumerate(members)}
    mothers = np.array([_encode_mothers(p, g, position) for g in members], np.int64)
    eta, phi, mass = eta_phi_mass(p.px[members], p.py[members], p.pz[members], p.e[members])
    return {"has_mother": has_mother, "arrays": {
        "genParticle_pdgId": p.id[members],
        "genParticle_mother": mothers,
        "genParticle_charge": p.charge[members].astype(np.int32),
        "genParticle_isFirstCopy": is_first[members].astype(np.int32),
        "genParticle_isLastCopy": (~has_copy[members]).astype(np.int32),
        "genParticle_pt": np.hypot(p.px[members], p.py[members]),
        "genParticle_eta": eta, "genParticle_phi": phi, "genParticle_mass": mass,
        "genParticle_vtx_x": p.vx[members], "genParticle_vtx_y": p.vy[members], "genParticle_vtx_z": p.vz[members],
    }}


def _encode_mothers(p: Particles, g: int, position: dict[int, int]) -> int:
    """Mothers as sum(index_k * 1000^k) over the mothers present in the chain (spec §1), -1 if none."""
    m1, m2 = int(p.mother1[g]), int(p.mother2[g])
    mothers = [m1] if m2 <= m1 else list(range(m1, m2 + 1))
    inside = [position[m] for m in mothers if m in position][:MAX_MOTHERS_ENCODED]
    return sum(k * 1000**n for n, k in enumerate(inside)) if inside else -1


@dataclass
class GenJets:
    offsets: np.ndarray
    fields: dict[str, np.ndarray]  # genJet_* columns, flat over the batch
    eta: np.ndarray
    phi: np.ndarray


def gen_jets(p: Particles) -> GenJets:
    visible = visible_final(p)
    jets = jetalg.cluster(p.offsets, p.px, p.py, p.pz, p.e, visible, GEN_JET_MIN_PT)
    n = len(jets.pt)
    apid = np.abs(p.id)
    category = {
        "chargedHadron": is_hadron(p.id) & (p.charge != 0), "neutralHadron": is_hadron(p.id) & (p.charge == 0),
        "chargedEm": apid == 11, "neutralEm": apid == 22, "muon": apid == 13,
    }
    owner = np.full(len(p.id), -1)
    jet_of = np.repeat(np.arange(n), np.diff(jets.cons_offsets))
    owner[jets.constituents] = jet_of
    inside = owner >= 0
    f: dict[str, np.ndarray] = {}
    for name, mask in category.items():
        m = inside & mask
        f[f"genJet_{name}Energy"] = np.bincount(owner[m], p.e[m], n)
        f[f"genJet_{name}Multiplicity"] = np.bincount(owner[m], minlength=n)
    f["genJet_emEnergy"] = f["genJet_chargedEmEnergy"] + f["genJet_neutralEmEnergy"]
    f["genJet_hadEnergy"] = f["genJet_chargedHadronEnergy"] + f["genJet_neutralHadronEnergy"]
    f["genJet_invisibleEnergy"] = np.zeros(n)
    f["genJet_auxiliaryEnergy"] = np.zeros(n)
    f.update(genJet_pt=jets.pt, genJet_eta=jets.eta, genJet_phi=jets.phi, genJet_mass=jets.mass)
    f.update(_flavours(p, jets))
    return GenJets(jets.offsets, f, jets.eta, jets.phi)


def _flavours(p: Particles, jets: jetalg.Jets) -> dict[str, np.ndarray]:
    """Hadron flavour from weakly decaying b/c hadrons within ΔR < 0.4, parton flavour from pre-hadronisation
    partons (b, then c, then the hardest), lepton and parton counts."""
    n = len(jets.pt)
    pid, apid = p.id, np.abs(p.id)
    m1 = p.mother1
    flavour_daughter = {q: np.zeros(len(pid), bool) for q in (4, 5)}
    child = m1 >= 0
    for q, arr in flavour_daughter.items():
        arr[m1[child & has_quark(pid, q)]] = True
    pt = np.hypot(p.px, p.py)
    eta, phi, _ = eta_phi_mass(p.px, p.py, p.pz, p.e)
    tags = {
        "b": np.flatnonzero(has_quark(pid, 5) & ~flavour_daughter[5] & (pt > 5)),
        "c": np.flatnonzero(has_quark(pid, 4) & ~flavour_daughter[4] & ~has_quark(pid, 5) & (pt > 5)),
        "parton": np.flatnonzero(((apid <= 5) | (apid == 21)) & (np.abs(p.status) >= 71) & (np.abs(p.status) <= 73)
                                 & (pt > 1)),
        "lepton": np.flatnonzero((p.status > 0) & np.isin(apid, (11, 13)) & (pt > 1)),
    }
    event_of = p.event
    counts = {k: np.zeros(n, np.int32) for k in tags}
    best_rank = np.full(n, -1.0)
    parton_flavour = np.zeros(n, np.int32)
    for k, idx in tags.items():
        bounds = np.searchsorted(event_of[idx], np.arange(p.n_events + 1))
        for ev in range(p.n_events):
            lo, hi = jets.offsets[ev], jets.offsets[ev + 1]
            t = idx[bounds[ev]:bounds[ev + 1]]
            if lo == hi or len(t) == 0:
                continue
            dr = delta_r(jets.eta[lo:hi, None], jets.phi[lo:hi, None], eta[t][None, :], phi[t][None, :])
            nearest = np.argmin(dr, axis=0)
            close = dr[nearest, np.arange(len(t))] < jetalg.R_AK4
            j, t = lo + nearest[close], t[close]
            np.add.at(counts[k], j, 1)
            if k == "parton":
                # b beats c beats light; among equals the hardest parton wins
                rank = np.select([np.abs(pid[t]) == 5, np.abs(pid[t]) == 4], [2e6, 1e6], 0.0) + pt[t]
                for jj, r, q in zip(j, rank, pid[t]):
                    if r > best_rank[jj]:
                        best_rank[jj], parton_flavour[jj] = r, q
    hadron_flavour = np.where(counts["b"] > 0, 5, np.where(counts["c"] > 0, 4, 0)).astype(np.int32)
    return {"genJet_n_bHadrons": counts["b"], "genJet_n_cHadrons": counts["c"], "genJet_n_partons": counts["parton"],
            "genJet_n_leptons": counts["lepton"], "genJet_hadronFlavour": hadron_flavour,
            "genJet_partonFlavour": parton_flavour}
