"""Anti-kT jets with FastJet's multi-event interface: one C++ call clusters a whole batch of events."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import awkward as ak
import numpy as np

from .kinematics import eta_phi_mass

R_AK4 = 0.4


@dataclass
class Jets:
    """Jets of a batch, sorted by pt within each event; ``offsets[i]:offsets[i+1]`` are event i's jets.

    ``constituents[cons_offsets[j]:cons_offsets[j+1]]`` are the indices (into the clustered flat arrays) of
    jet j's constituents.
    """
    offsets: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    cons_offsets: np.ndarray
    constituents: np.ndarray

    def members(self, j: int) -> np.ndarray:
        return self.constituents[self.cons_offsets[j]:self.cons_offsets[j + 1]]

    @property
    def event(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.offsets) - 1), np.diff(self.offsets))


_definition = None


def _jet_definition():
    global _definition
    if _definition is None:
        import fastjet

        _definition = fastjet.JetDefinition(fastjet.antikt_algorithm, R_AK4)
        # FastJet prints its banner from C++ on the first clustering; keep it off our stdout
        sys.stdout.flush()
        saved = os.dup(1)
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            try:
                fastjet.ClusterSequence(ak.Array([[{"px": 1.0, "py": 0.0, "pz": 0.0, "E": 1.0}]]), _definition)
            finally:
                os.dup2(saved, 1)
                os.close(saved)
    return _definition


def cluster(offsets: np.ndarray, px, py, pz, e, selected: np.ndarray, min_pt: float) -> Jets:
    """Anti-kT R=0.4 jets with pt > ``min_pt`` of the ``selected`` particles of each event."""
    import fastjet

    index = np.flatnonzero(selected)
    event = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))[index]
    counts = np.bincount(event, minlength=len(offsets) - 1)
    sub_offsets = np.concatenate([[0], np.cumsum(counts)])
    particles = ak.unflatten(ak.zip({"px": px[index], "py": py[index], "pz": pz[index], "E": e[index]}), counts)
    sequence = fastjet.ClusterSequence(particles, _jet_definition())
    jets = sequence.inclusive_jets(min_pt=min_pt)
    members = sequence.constituent_index(min_pt=min_pt)

    n_jets = ak.to_numpy(ak.num(jets)).astype(np.int64)
    flat = ak.flatten(jets)
    jpx, jpy, jpz, je = (ak.to_numpy(flat[c]).astype(np.float64) for c in ("px", "py", "pz", "E"))
    cons_counts = ak.to_numpy(ak.flatten(ak.num(members, axis=2))).astype(np.int64)
    local = ak.to_numpy(ak.flatten(members, axis=None)).astype(np.int64)
    jet_event = np.repeat(np.arange(len(n_jets)), n_jets)
    cons_global = index[local + np.repeat(sub_offsets[:-1][jet_event], cons_counts)]

    pt = np.hypot(jpx, jpy)
    order = np.lexsort((-pt, jet_event))  # by event, then by falling pt
    cons_offsets = np.concatenate([[0], np.cumsum(cons_counts)])
    cons_sorted = np.concatenate([cons_global[cons_offsets[j]:cons_offsets[j + 1]] for j in order]) \
        if len(order) else np.zeros(0, np.int64)
    eta, phi, mass = eta_phi_mass(jpx[order], jpy[order], jpz[order], je[order])
    return Jets(
        offsets=np.concatenate([[0], np.cumsum(n_jets)]), px=jpx[order], py=jpy[order], pz=jpz[order], e=je[order],
        pt=pt[order], eta=eta, phi=phi, mass=mass,
        cons_offsets=np.concatenate([[0], np.cumsum(cons_counts[order])]), constituents=cons_sorted,
    )
