"""Random but well-formed TauTuples, for tests and benchmarks of the stages after production.

Every branch of the schema is filled with its type; the fields the §1 tau-type rule reads are set so that
each entry has a chosen type, and the reco tau carries a (pt, |eta|) drawn from a falling spectrum.
Production-like physics comes from ``TauTupleProducer``; this module only makes volume and edge cases.
"""
from __future__ import annotations

import awkward as ak
import numpy as np

from .io import write_tree
from .schema import GenLeptonMatch, SampleType, TauType, branches, collections

_KIND_OF_TYPE = {TauType.e: GenLeptonMatch.Electron, TauType.mu: GenLeptonMatch.Muon,
                 TauType.tau: GenLeptonMatch.Tau}


def random_tautuple(n: int, seed: int = 0, types=("e", "mu", "tau", "jet"), pt_range=(20.0, 1000.0),
                    eta_max: float = 2.3, mean_cands: float = 8.0, run: int = 1, all_branches: bool = True,
                    sample_type: int = SampleType.MC) -> dict[str, object]:
    """Arrays of ``n`` entries; ``types`` are drawn uniformly, (run, lumi, evt) are unique."""
    rng = np.random.default_rng(seed)
    out: dict[str, object] = {}
    if all_branches:
        counts = {c: rng.poisson(mean_cands, n) for c in collections()}
        for b in branches().values():
            if b.jagged:
                c = counts[b.collection]
                flat = _random_values(rng, b.dtype, int(c.sum()))
                out[b.name] = ak.unflatten(flat, c)
            else:
                out[b.name] = _random_values(rng, b.dtype, n)
    # a falling spectrum: log-uniform in pt, uniform in eta
    lo, hi = pt_range
    pt = np.exp(rng.uniform(np.log(lo), np.log(hi), n)).astype(np.float32)
    eta = rng.uniform(-eta_max, eta_max, n).astype(np.float32)
    phi = rng.uniform(-np.pi, np.pi, n).astype(np.float32)
    chosen = np.array([TauType[t] for t in types])[rng.integers(0, len(types), n)]
    kind = np.array([_KIND_OF_TYPE.get(TauType(t), 0) for t in range(9)])[chosen]
    lepton = kind > 0
    i32 = np.int32
    out.update(
        run=np.full(n, run, np.uint32),
        lumi=(np.arange(n) // 1000 + 1).astype(np.uint32),
        evt=(np.arange(n) + seed * 10_000_000 + 1).astype(np.uint64),
        sampleType=np.full(n, sample_type, i32),
        tau_index=np.zeros(n, i32),
        jet_index=np.zeros(n, i32),
        tau_pt=pt, tau_eta=eta, tau_phi=phi, tau_mass=np.full(n, 0.8, np.float32),
        tau_decayModeFindingNewDMs=np.ones(n, i32),
        tau_dz=rng.normal(0, 0.01, n).astype(np.float32),
        genLepton_index=np.where(lepton, 0, -1).astype(i32),
        genLepton_kind=np.where(lepton, kind, np.iinfo(i32).min).astype(i32),
        genLepton_vis_pt=(pt * 1.01).astype(np.float32),
        genLepton_vis_eta=(eta + 0.01).astype(np.float32),
        genLepton_vis_phi=phi,
        genLepton_vis_mass=np.full(n, 0.5, np.float32),
        genJet_index=np.where(chosen == TauType.jet, 0, -1).astype(i32),
        tauType=np.full(n, -1, i32),
        dataset_id=np.full(n, np.iinfo(np.uint64).max, np.uint64),
        dataset_group_id=np.full(n, np.iinfo(np.uint64).max, np.uint64),
    )
    return out


def _random_values(rng, dtype: np.dtype, n: int) -> np.ndarray:
    if dtype.kind == "f":
        return rng.normal(0, 10, n).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 1000), n, endpoint=True).astype(dtype)


def write_random_tautuple(path, n: int, seed: int = 0, **kwargs) -> None:
    """A TauTuple file with trees ``taus`` and ``summary``."""
    summary = {"exeTime": np.array([1], np.uint32), "numberOfProcessedEvents": np.array([n], np.uint64)}
    write_tree(path, random_tautuple(n, seed, **kwargs), extra_trees={"summary": summary})
