"""The TauTuple v2 format as data: branches, types, defaults, collections, and the tau-type rule.

The branch table lives once, in ``data/tautuple_v2.tsv``; every reader and writer of tauml asks this module.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import numpy as np

TREE = "taus"
SUMMARY_TREE = "summary"
SUMMARY_BRANCHES = {"exeTime": np.dtype(np.uint32), "numberOfProcessedEvents": np.dtype(np.uint64)}

_ROOT_TYPES = {
    "Float_t": np.float32,
    "Int_t": np.int32,
    "UInt_t": np.uint32,
    "Long64_t": np.int64,
    "ULong64_t": np.uint64,
    "uint16_t": np.uint16,
}


@dataclass(frozen=True)
class Branch:
    name: str
    root_type: str  # as in the C++ TauTuple, e.g. "std::vector<Float_t>"
    dtype: np.dtype  # of one value (element type for vectors)
    jagged: bool
    default: int | float  # value written for objects that do not exist
    collection: str | None  # jagged group sharing one counter ``n<collection>``
    readers: str  # "B" binning/mixing/validation, "T" training inputs, "" pass-through


def _default(code: str, dtype: np.dtype) -> int | float:
    if code == "lowest":
        return float(np.finfo(dtype).min)
    if code == "min":
        return int(np.iinfo(dtype).min)
    if code == "max":
        return int(np.iinfo(dtype).max)
    return dtype.type(code).item()


@cache
def branches() -> dict[str, Branch]:
    """All 552 branches of tree ``taus`` in declaration order."""
    table = files("tauml.core.data").joinpath("tautuple_v2.tsv").read_text().splitlines()
    rows = [line.split("\t") for line in table if line and not line.startswith("#")][1:]
    result = {}
    for name, root_type, default, collection, readers in rows:
        jagged = root_type.startswith("std::vector<")
        dtype = np.dtype(_ROOT_TYPES[root_type.removeprefix("std::vector<").removesuffix(">")])
        result[name] = Branch(
            name, root_type, dtype, jagged, _default(default, dtype),
            None if collection == "-" else collection, readers.replace("-", ""),
        )
    return result


@cache
def collections() -> dict[str, tuple[str, ...]]:
    """Jagged collections (``pfCand``, ``ele`` ...) and their branch names."""
    groups: dict[str, list[str]] = {}
    for b in branches().values():
        if b.collection:
            groups.setdefault(b.collection, []).append(b.name)
    return {k: tuple(v) for k, v in groups.items()}


def read_by(stage: str) -> list[str]:
    """Branches read by a stage: ``"B"`` (binning, mixing, validation) or ``"T"`` (training inputs)."""
    return [b.name for b in branches().values() if stage in b.readers]


class TauType(enum.IntEnum):
    e = 0
    mu = 1
    tau = 2
    jet = 3
    emb_e = 4
    emb_mu = 5
    emb_tau = 6
    emb_jet = 7
    data = 8


class GenLeptonMatch(enum.IntEnum):
    Electron = 1
    Muon = 2
    TauElectron = 3
    TauMuon = 4
    Tau = 5
    NoMatch = 6


class SampleType(enum.IntEnum):
    Data = 0
    MC = 1
    Embedded = 2


NO_TYPE = -1
DR_MATCH = 0.2
MIN_VIS_PT_LEPTON = 8.0
MIN_VIS_PT_TAU = 15.0

# (sampleType, GenLeptonMatch) -> TauType; any other pair has no type.
_TYPE_OF = {
    (SampleType.MC, GenLeptonMatch.Electron): TauType.e,
    (SampleType.MC, GenLeptonMatch.TauElectron): TauType.e,
    (SampleType.MC, GenLeptonMatch.Muon): TauType.mu,
    (SampleType.MC, GenLeptonMatch.TauMuon): TauType.mu,
    (SampleType.MC, GenLeptonMatch.Tau): TauType.tau,
    (SampleType.MC, GenLeptonMatch.NoMatch): TauType.jet,
    (SampleType.Embedded, GenLeptonMatch.TauElectron): TauType.emb_e,
    (SampleType.Embedded, GenLeptonMatch.TauMuon): TauType.emb_mu,
    (SampleType.Embedded, GenLeptonMatch.Tau): TauType.emb_tau,
    (SampleType.Embedded, GenLeptonMatch.NoMatch): TauType.emb_jet,
    (SampleType.Data, GenLeptonMatch.NoMatch): TauType.data,
}

TAU_TYPE_BRANCHES = (
    "sampleType", "tau_pt", "tau_eta", "tau_phi", "genLepton_index", "genLepton_kind",
    "genLepton_vis_pt", "genLepton_vis_eta", "genLepton_vis_phi", "genJet_index",
)


def gen_lepton_match(a) -> np.ndarray:
    """GenLeptonMatch per entry (0 where the entry has none), the spec's §1 rule, vectorised.

    ``a`` maps branch names of ``TAU_TYPE_BRANCHES`` to numpy arrays. A gen lepton counts only if it lies
    within ΔR <= 0.2 of the reco tau and passes the visible-pt cut (8 GeV for e/μ, 15 GeV for τh);
    otherwise, or without a gen lepton, a gen jet makes the entry ``NoMatch``. Unlike the original, an
    unknown gen-lepton kind does not throw: such entries have no type.
    """
    has_lep = np.asarray(a["genLepton_index"]) >= 0
    kind = np.asarray(a["genLepton_kind"])
    deta = np.asarray(a["tau_eta"], np.float64) - np.asarray(a["genLepton_vis_eta"], np.float64)
    dphi = np.asarray(a["tau_phi"], np.float64) - np.asarray(a["genLepton_vis_phi"], np.float64)
    dphi = (dphi + np.pi) % (2 * np.pi) - np.pi
    with np.errstate(invalid="ignore", over="ignore"):
        close = deta**2 + dphi**2 <= DR_MATCH**2
    vis_pt = np.asarray(a["genLepton_vis_pt"])
    min_pt = np.where(kind == GenLeptonMatch.Tau, MIN_VIS_PT_TAU, MIN_VIS_PT_LEPTON)
    lepton = has_lep & close & (vis_pt >= min_pt) & (kind >= 1) & (kind <= 5)
    match = np.where(lepton, kind, 0)
    jet = ~has_lep & (np.asarray(a["genJet_index"]) >= 0)
    return np.where(jet, int(GenLeptonMatch.NoMatch), match).astype(np.int32)


def tau_type(a) -> np.ndarray:
    """TauType per entry, ``NO_TYPE`` (-1) where the §1 rule gives none."""
    match = gen_lepton_match(a)
    sample = np.asarray(a["sampleType"])
    table = np.full((3, 7), NO_TYPE, np.int32)
    for (s, m), t in _TYPE_OF.items():
        table[s, m] = t
    valid = (sample >= 0) & (sample <= 2)
    return np.where(valid, table[np.clip(sample, 0, 2), match], NO_TYPE).astype(np.int32)
