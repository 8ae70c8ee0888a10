"""TauTuple entries of a batch: one per tau-jet candidate, i.e. a reco tau and/or its seeding jet and/or a gen
lepton, matched together with the nearest gen jet, plus the PF candidates, electrons and muons in its cone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import awkward as ak
import numpy as np

from ..core.io import schema_defaults
from ..core.schema import SampleType, branches, collections
from . import jets as jetalg
from . import taureco, truth
from .detector import Reco
from .geometry import PV_RESOLUTION
from .generator import Particles
from .kinematics import delta_r, from_pt_eta_phi

JET_MIN_PT = 20.0
SEED_JET_MIN_PT = 14.0
TAU_MIN_PT = 18.0
MAX_ETA = 2.5
MATCH_DR = 0.4
CONE_DR = 0.5
MIN_VIS_PT = {truth.Kind.TauDecayedToHadrons: 15.0}  # other kinds: 8 GeV
ABSENT = -1  # *_index of an object the entry does not have


@dataclass
class _Taus:
    rows: list[dict] = field(default_factory=list)
    event: list[int] = field(default_factory=list)
    signal: list[np.ndarray] = field(default_factory=list)
    lead: list[int] = field(default_factory=list)


@dataclass
class _Entry:
    event: int
    direction: tuple[float, float]
    tau: int = ABSENT  # row in the batch's tau table
    jet: int = ABSENT  # flat jet index in the batch
    lepton: int = ABSENT
    gen_jet: int = ABSENT


def build(p: Particles, weights: np.ndarray, reco: Reco, first_event: int, run: int, lumi: int) -> dict:
    """All 552 branches of tree ``taus`` for the batch's entries."""
    leptons = truth.gen_leptons(p)
    gen_jets = truth.gen_jets(p)
    pf = reco.pf
    px, py, pz, e = from_pt_eta_phi(pf["pfCand_pt"], pf["pfCand_eta"], pf["pfCand_phi"], pf["pfCand_mass"])
    chs = ~((pf["pfCand_charge"] != 0) & (pf["pfCand_fromPV"] == 0))  # charged pile-up removed before clustering
    jets = jetalg.cluster(reco.pf_offsets, px, py, pz, e, chs, SEED_JET_MIN_PT)
    taus = _Taus()
    entries: list[_Entry] = []
    tau_of_jet = np.full(len(jets.pt), ABSENT)
    for ev in range(p.n_events):
        pv = reco.info.pv[ev]
        event_pf = np.arange(reco.pf_offsets[ev], reco.pf_offsets[ev + 1])
        for j in range(jets.offsets[ev], jets.offsets[ev + 1]):
            if abs(jets.eta[j]) >= MAX_ETA:
                continue
            tau = taureco.reconstruct(pf, jets.members(j))
            if tau is not None and tau["pt"] > TAU_MIN_PT and abs(tau["eta"]) < MAX_ETA:
                row, signal, lead = taureco.features(pf, tau, event_pf, pv)
                tau_of_jet[j] = len(taus.rows)
                taus.rows.append(row)
                taus.event.append(ev)
                taus.signal.append(signal)
                taus.lead.append(lead)
        entries += _event_entries(ev, jets, tau_of_jet, taus, leptons, gen_jets)
    return _columns(entries, p, weights, reco, jets, taus, leptons, gen_jets, first_event, run, lumi)


def _event_entries(ev, jets, tau_of_jet, taus, leptons, gen_jets) -> list[_Entry]:
    entries = []
    for j in range(jets.offsets[ev], jets.offsets[ev + 1]):
        t = tau_of_jet[j]
        if t != ABSENT:
            row = taus.rows[t]
            entries.append(_Entry(ev, (row["tau_eta"], row["tau_phi"]), tau=t, jet=j))
        elif jets.pt[j] > JET_MIN_PT and abs(jets.eta[j]) < MAX_ETA:
            entries.append(_Entry(ev, (jets.eta[j], jets.phi[j]), jet=j))
    # gen leptons: to the closest entry within ΔR < 0.4, or an entry of their own if visible enough
    lo, hi = leptons.offsets[ev], leptons.offsets[ev + 1]
    pairs = []
    for k in range(lo, hi):
        for n, entry in enumerate(entries):
            dr = delta_r(leptons.vis_eta[k], leptons.vis_phi[k], *entry.direction)
            if dr < MATCH_DR:
                pairs.append((dr, k, n))
    used_leptons = set()
    for _, k, n in sorted(pairs):
        if k not in used_leptons and entries[n].lepton == ABSENT:
            entries[n].lepton = k
            used_leptons.add(k)
    for k in range(lo, hi):
        visible = leptons.vis_pt[k] >= MIN_VIS_PT.get(leptons.kind[k], 8.0) and abs(leptons.vis_eta[k]) < MAX_ETA
        if k not in used_leptons and visible:
            entries.append(_Entry(ev, (leptons.vis_eta[k], leptons.vis_phi[k]), lepton=k))
    g_lo, g_hi = gen_jets.offsets[ev], gen_jets.offsets[ev + 1]
    for entry in entries:
        if g_hi > g_lo:
            dr = delta_r(gen_jets.eta[g_lo:g_hi], gen_jets.phi[g_lo:g_hi], *entry.direction)
            nearest = int(np.argmin(dr))
            if dr[nearest] < MATCH_DR:
                entry.gen_jet = g_lo + nearest
    return entries


def _take(values: np.ndarray, index: np.ndarray, default):
    if len(values) == 0:
        return np.full(len(index), default)
    return np.where(index >= 0, values[np.maximum(index, 0)], default)


def _within_event(flat_index: np.ndarray, offsets: np.ndarray, event: np.ndarray) -> np.ndarray:
    return np.where(flat_index >= 0, flat_index - offsets[event], ABSENT)


def _columns(entries, p, weights, reco, jets, taus, leptons, gen_jets, first_event, run, lumi) -> dict:
    n = len(entries)
    schema = branches()
    out = schema_defaults(n)
    event = np.array([x.event for x in entries], np.int64)
    tau = np.array([x.tau for x in entries], np.int64)
    jet = np.array([x.jet for x in entries], np.int64)
    lep = np.array([x.lepton for x in entries], np.int64)
    gjet = np.array([x.gen_jet for x in entries], np.int64)
    entry_index = np.zeros(n, np.int64)
    total = np.bincount(event, minlength=p.n_events)
    for k in range(1, n):
        entry_index[k] = entry_index[k - 1] + 1 if event[k] == event[k - 1] else 0
    info = reco.info
    values = {
        "run": np.full(n, run), "lumi": np.full(n, lumi), "evt": first_event + event + 1,
        "npv": info.npv[event], "rho": info.rho[event], "genEventWeight": weights[event],
        "sampleType": np.full(n, int(SampleType.MC)), "npu": info.npu[event],
        "pv_x": info.pv[event, 0], "pv_y": info.pv[event, 1], "pv_z": info.pv[event, 2],
        "entry_index": entry_index, "total_entries": total[event],
        "jet_index": _within_event(jet, jets.offsets, event),
        "genLepton_index": _within_event(lep, leptons.offsets, event),
        "genJet_index": _within_event(gjet, gen_jets.offsets, event),
        "boostedTau_index": np.full(n, ABSENT), "fatJet_index": np.full(n, ABSENT),
    }
    values.update({name: np.full(n, sigma) for name, sigma in zip(("pv_xE", "pv_yE", "pv_zE"), PV_RESOLUTION)})
    tau_offsets = np.concatenate([[0], np.cumsum(np.bincount(np.array(taus.event, np.int64), minlength=p.n_events))])
    values["tau_index"] = _within_event(tau, tau_offsets, event)
    for name in schema:
        if name.startswith("tau_") and name != "tau_index" and taus.rows:
            column = np.array([row.get(name, schema[name].default) for row in taus.rows])
            values[name] = _take(column, tau, schema[name].default)
    values.update(_jet_columns(reco, jets, jet, gen_jets, gjet))
    values.update({f"genLepton_{k}": _take(getattr(leptons, k), lep, schema[f"genLepton_{k}"].default)
                   for k in ("kind", "charge", "vis_pt", "vis_eta", "vis_phi", "vis_mass")})
    values["genLepton_lastMotherIndex"] = _take(leptons.last_mother_index, lep, schema["genLepton_lastMotherIndex"].default)
    values.update({k: _take(v, gjet, schema[k].default) for k, v in gen_jets.fields.items()})
    for name, v in values.items():
        out[name] = np.asarray(v).astype(schema[name].dtype)
    out.update(_cone_collections(entries, reco, taus, jets, tau, jet))
    out.update(_gen_particles(leptons, lep))
    return out


def _jet_columns(reco, jets, jet, gen_jets, gjet) -> dict:
    pf = reco.pf
    n_jets = len(jets.pt)
    owner = np.repeat(np.arange(n_jets), np.diff(jets.cons_offsets))
    cons = jets.constituents
    energy = pf["pfCand_pt"][cons] * np.cosh(pf["pfCand_eta"][cons])
    ptype = pf["pfCand_particleType"][cons]
    jet_e = np.maximum(jets.e, 1e-9)
    charged = pf["pfCand_charge"][cons] != 0
    columns = {
        "jet_pt": jets.pt, "jet_eta": jets.eta, "jet_phi": jets.phi, "jet_mass": jets.mass,
        "jet_neutralHadronEnergyFraction": np.bincount(owner, energy * (ptype == 5), n_jets) / jet_e,
        "jet_neutralEmEnergyFraction": np.bincount(owner, energy * (ptype == 4), n_jets) / jet_e,
        "jet_nConstituents": np.diff(jets.cons_offsets),
        "jet_chargedMultiplicity": np.bincount(owner, charged, n_jets),
        "jet_neutralMultiplicity": np.bincount(owner, ~charged, n_jets),
    }
    schema = branches()
    out = {k: _take(v, jet, schema[k].default) for k, v in columns.items()}
    # flavours come from the gen jet matched to the entry
    has_both = (jet >= 0) & (gjet >= 0)
    for k in ("hadronFlavour", "partonFlavour"):
        out[f"jet_{k}"] = np.where(has_both, _take(gen_jets.fields[f"genJet_{k}"], gjet, 0),
                                   np.where(jet >= 0, 0, schema[f"jet_{k}"].default))
    return out


def _jagged(collection: str, flat: dict[str, np.ndarray], counts: np.ndarray) -> dict[str, ak.Array]:
    """Every branch of ``collection`` with these counts; branches not in ``flat`` hold their default."""
    schema = branches()
    total = int(counts.sum())
    out = {}
    for name in collections()[collection]:
        b = schema[name]
        values = flat[name] if name in flat else np.full(total, b.default)
        out[name] = ak.unflatten(np.asarray(values).astype(b.dtype), counts)
    return out


def _cone_collections(entries, reco, taus, jets, tau, jet) -> dict:
    out = {}
    pf = reco.pf
    for name, offsets, table in (("pfCand", reco.pf_offsets, pf), ("ele", reco.ele_offsets, reco.ele),
                                 ("muon", reco.muon_offsets, reco.muon)):
        picks, flags = [], {"tauSignal": [], "tauLeadChargedHadrCand": [], "tauIso": [], "jetDaughter": []}
        for k, entry in enumerate(entries):
            idx = np.arange(offsets[entry.event], offsets[entry.event + 1])
            dr = delta_r(table[f"{name}_eta"][idx], table[f"{name}_phi"][idx], *entry.direction)
            idx = idx[dr < CONE_DR]
            picks.append(idx)
            if name == "pfCand":
                signal = taus.signal[tau[k]] if tau[k] >= 0 else np.zeros(0, int)
                in_signal = np.isin(idx, signal)
                flags["tauSignal"].append(in_signal)
                flags["tauLeadChargedHadrCand"].append(idx == (taus.lead[tau[k]] if tau[k] >= 0 else -1))
                flags["tauIso"].append(~in_signal & (tau[k] >= 0))
                flags["jetDaughter"].append(np.isin(idx, jets.members(jet[k])) if jet[k] >= 0 else np.zeros(len(idx), bool))
        counts = np.array([len(x) for x in picks], np.int64)
        sel = np.concatenate(picks) if picks else np.zeros(0, np.int64)
        flat = {k: v[sel] for k, v in table.items() if k.startswith(name + "_")}
        if name == "pfCand":
            for k, v in flags.items():
                flat[f"pfCand_{k}"] = np.concatenate(v) if v else np.zeros(0, bool)
            for k in ("boostedTauSignal", "boostedTauLeadChargedHadrCand", "boostedTauIso", "fatJetDaughter",
                      "subJetDaughter"):
                flat[f"pfCand_{k}"] = np.zeros(len(sel), np.int32)
        out.update(_jagged(name, flat, counts))
    return out


def _gen_particles(leptons, lep) -> dict:
    chains = [leptons.chains[k] for k in lep if k >= 0]
    counts = np.array([len(leptons.chains[k]["genParticle_pdgId"]) if k >= 0 else 0 for k in lep], np.int64)
    flat = {name: np.concatenate([c[name] for c in chains]) if chains else np.zeros(0)
            for name in collections()["genParticle"]}
    return _jagged("genParticle", flat, counts)
