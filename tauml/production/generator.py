"""Pythia 8 event generation: the processes of the embedded producer and a minimum-bias pile-up pool.

Events come from ``Pythia.nextBatch`` as awkward arrays and are flattened once per batch into numpy
arrays (``Particles``), so no Python code runs per particle.
"""
from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from ..core.errors import TaumlError

MM_TO_CM = 0.1
PYTHIA_MAX_SEED = 900_000_000
COMMON_SETTINGS = (
    "Beams:eCM = 13000.",
    "Print:quiet = on",
    "Next:numberCount = 0",
    "Next:numberShowEvent = 0",
    "Next:numberShowInfo = 0",
    "Next:numberShowProcess = 0",
    # CMS convention: particles with c*tau > 10 mm (K0S, Lambda ...) are stable at generator level
    "ParticleDecays:limitTau0 = on",
    "ParticleDecays:tau0Max = 10.",
    "Random:setSeed = on",
)


def _drell_yan(lepton: int) -> list[list[str]]:
    # Z only (no gamma* interference): the mass window m > 50 GeV of DYJetsToLL_M-50, at half the cost
    return [["WeakSingleBoson:ffbar2gmZ = on", "WeakZ0:gmZmode = 2", "PhaseSpace:mHatMin = 50.",
             "23:onMode = off", f"23:onIfAny = {lepton}"]]


def _zprime(lepton: int, masses=(1000, 2000, 3000)) -> list[list[str]]:
    return [["NewGaugeBoson:ffbar2gmZZprime = on", "Zprime:gmZmode = 3", f"32:m0 = {m}.",
             f"PhaseSpace:mHatMin = {0.5 * m}", f"PhaseSpace:mHatMax = {1.5 * m}",
             "32:onMode = off", f"32:onIfAny = {lepton}"] for m in masses]


QCD_PTHAT_BINS = (15, 40, 100, 250, 600, 1500)

# process -> variants; the events of a job are spread evenly over the variants (pT-hat bins, Z' masses).
PROCESSES: dict[str, list[list[str]]] = {
    "DYtautau": _drell_yan(15),
    "DYee": _drell_yan(11),
    "DYmumu": _drell_yan(13),
    "WJets": [["WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on", "PhaseSpace:pTHatMin = 20.",
               "24:onMode = off", "24:onIfAny = 11 13 15"]],
    "TT": [["Top:gg2ttbar = on", "Top:qqbar2ttbar = on"]],
    "QCD": [["HardQCD:all = on", f"PhaseSpace:pTHatMin = {lo}.", f"PhaseSpace:pTHatMax = {hi}."]
            for lo, hi in zip(QCD_PTHAT_BINS, QCD_PTHAT_BINS[1:])],
    "ZprimeTauTau": _zprime(15),
    "ZprimeEE": _zprime(11),
}
# pile-up: non-diffractive interactions (diffractive ones put almost nothing into the tracker acceptance; the
# detector counts them in npu without overlaying particles, see geometry.NON_DIFFRACTIVE_FRACTION)
MINIMUM_BIAS = ["SoftQCD:nonDiffractive = on"]


def check_process(process: str) -> None:
    if process not in PROCESSES:
        raise TaumlError(f"unknown process '{process}' (choose from {', '.join(PROCESSES)})")


def pythia_seed(seed: int, stream: int) -> int:
    """A valid Pythia seed (1..900000000; 0 would mean 'from the clock') for a job seed and a stream."""
    return (seed * 1009 + stream * 7919) % PYTHIA_MAX_SEED + 1


@dataclass
class Particles:
    """Flat particle records of a batch of events; ``offsets[i]:offsets[i+1]`` is event i.

    ``mother1``/``mother2`` are indices into the flat arrays (-1: none). Vertices are in cm.
    """
    offsets: np.ndarray
    id: np.ndarray
    status: np.ndarray
    mother1: np.ndarray
    mother2: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    m: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    vz: np.ndarray
    charge: np.ndarray

    @property
    def n_events(self) -> int:
        return len(self.offsets) - 1

    @property
    def event(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_events), np.diff(self.offsets))


def _pythia(settings: list[str], seed: int):
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in (*COMMON_SETTINGS, *settings, f"Random:seed = {seed}"):
        if not pythia.readString(line):
            raise TaumlError(f"Pythia rejected setting '{line}'")
    if not pythia.init():
        raise TaumlError(f"Pythia initialisation failed for settings {settings}")
    return pythia


def _flatten(batch, charge_of) -> Particles:
    prt = batch.prt
    counts = ak.to_numpy(ak.num(prt))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    flat = ak.flatten(prt)
    base = np.repeat(offsets[:-1], counts)

    def col(x, dtype=np.float64):
        return ak.to_numpy(x).astype(dtype, copy=False)

    def mother(x):
        local = col(x, np.int64)
        return np.where(local > 0, local + base, -1)

    pid = col(flat.id, np.int32)
    vertex = flat.vProd
    return Particles(
        offsets=offsets, id=pid, status=col(flat.status, np.int32),
        mother1=mother(flat.mother1), mother2=mother(flat.mother2),
        px=col(flat.p.px), py=col(flat.p.py), pz=col(flat.p.pz), e=col(flat.p.e), m=col(flat.m),
        vx=col(ak.fill_none(vertex.px, 0.0)) * MM_TO_CM, vy=col(ak.fill_none(vertex.py, 0.0)) * MM_TO_CM,
        vz=col(ak.fill_none(vertex.pz, 0.0)) * MM_TO_CM, charge=charge_of(pid),
    )


class _ChargeTable:
    def __init__(self, pythia):
        self._data = pythia.particleData
        self._cache: dict[int, int] = {}

    def __call__(self, pid: np.ndarray) -> np.ndarray:
        ids, inverse = np.unique(pid, return_inverse=True)
        for i in ids.tolist():
            if i not in self._cache:
                self._cache[i] = round(self._data.charge(i)) if i != 90 else 0
        return np.array([self._cache[i] for i in ids.tolist()], np.int8)[inverse]


class EventGenerator:
    """Events of one process; variants (pT-hat bins, Z' masses) take turns so every batch mixes them."""

    def __init__(self, process: str, seed: int):
        check_process(process)
        self.process = process
        self._pythias = [_pythia(s, pythia_seed(seed, k)) for k, s in enumerate(PROCESSES[process])]
        self._charge = _ChargeTable(self._pythias[0])
        self._next_variant = 0

    def batch(self, n: int) -> tuple[Particles, np.ndarray]:
        """``n`` events and their weights: the cross section (pb) of each event's variant, from Pythia's running
        estimate; variants get equal numbers of events, so these are the relative event weights."""
        k = len(self._pythias)
        shares = [(n + (i - self._next_variant) % k) // k for i in range(k)]
        self._next_variant = (self._next_variant + n) % k
        parts, weights = [], []
        for pythia, m in zip(self._pythias, shares):
            if m == 0:
                continue
            events = _generate(pythia, m)
            parts.append(events)
            weights.append(np.full(m, pythia.infoPython().sigmaGen() * 1e9, np.float32))
        batch = ak.concatenate(parts) if len(parts) > 1 else parts[0]
        return _flatten(batch, self._charge), np.concatenate(weights)


def _generate(pythia, n: int):
    events = pythia.nextBatch(n)
    while len(events) < n:  # failed events are skipped by nextBatch
        events = ak.concatenate([events, pythia.nextBatch(n - len(events))])
    return events[["prt"]]


class MinimumBiasPool:
    """Minimum-bias events generated once per job; pile-up draws from them."""

    def __init__(self, seed: int, size: int):
        pythia = _pythia(MINIMUM_BIAS, pythia_seed(seed, 1000))
        particles = _flatten(_generate(pythia, size), _ChargeTable(pythia))
        final = particles.status > 0
        self.size = size
        event = particles.event[final]
        self.counts = np.bincount(event, minlength=size)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)])
        self.particles = {name: getattr(particles, name)[final]
                          for name in ("id", "px", "py", "pz", "e", "m", "vx", "vy", "vz", "charge")}
