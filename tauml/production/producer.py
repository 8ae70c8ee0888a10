"""``produce``: Pythia events -> detector -> jets and taus -> one TauTuple file (trees ``taus`` and ``summary``)."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import TaumlError
from ..core.io import TreeWriter, root_writer, schema_defaults
from ..core.schema import SUMMARY_BRANCHES, SUMMARY_TREE, TREE
from . import detector, tautuple
from .generator import EventGenerator, MinimumBiasPool, check_process

BATCH_EVENTS = 100
PILEUP_POOL_EVENTS = 200
PROGRESS_SECONDS = 10.0


@dataclass
class ProductionStats:
    events: int
    candidates: int
    seconds: float

    @property
    def candidates_per_second(self) -> float:
        return self.candidates / self.seconds if self.seconds > 0 else 0.0


def check_request(process: str, n_events: int, seed: int, output, pileup_mu: float) -> None:
    check_process(process)
    if n_events <= 0:
        raise TaumlError(f"number of events must be positive, got {n_events}")
    if seed < 0:
        raise TaumlError(f"seed must be non-negative, got {seed}")
    if not np.isfinite(pileup_mu) or pileup_mu < 0:
        raise TaumlError(f"pile-up mean must be a non-negative number, got {pileup_mu}")
    parent = Path(output).resolve().parent
    if not parent.is_dir():
        raise TaumlError(f"{output}: output directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise TaumlError(f"{output}: output directory {parent} is not writable")


def produce(process: str, n_events: int, seed: int, output, pileup_mu: float = 0.0,
            batch_events: int = BATCH_EVENTS, progress: bool = False) -> ProductionStats:
    """Generate ``n_events`` events of ``process`` and write their tau candidates to ``output``.

    The same (process, n_events, seed, pileup_mu) always gives the same arrays; run/lumi/evt are unique per seed
    (lumi = seed + 1, evt = 1..n_events).
    """
    check_request(process, n_events, seed, output, pileup_mu)
    start = time.monotonic()
    generator = EventGenerator(process, seed)
    pool = MinimumBiasPool(seed, PILEUP_POOL_EVENTS) if pileup_mu > 0 else None
    rng = np.random.default_rng([seed, 0x7A0])
    lumi = (seed + 1) % 2**32
    done = candidates = 0
    last_report = time.monotonic()
    with root_writer(output) as f:
        taus = TreeWriter(f, TREE)
        while done < n_events:
            size = min(batch_events, n_events - done)
            particles, weights = generator.batch(size)
            reco = detector.simulate(particles, rng, pool, pileup_mu)
            taus.extend(tautuple.build(particles, weights, reco, done, run=1, lumi=lumi))
            done += size
            candidates = taus.entries
            if progress and (time.monotonic() - last_report > PROGRESS_SECONDS or done == n_events):
                last_report = time.monotonic()
                rate = candidates / max(last_report - start, 1e-9)
                print(f"TauTupleProducer: {process} {done}/{n_events} events, {candidates} candidates, "
                      f"{rate:.1f} candidates/s", file=sys.stderr, flush=True)
        if taus.entries == 0:
            taus.extend(schema_defaults(0))
        seconds = time.monotonic() - start
        summary = {"exeTime": np.array([round(seconds)], SUMMARY_BRANCHES["exeTime"]),
                   "numberOfProcessedEvents": np.array([n_events], SUMMARY_BRANCHES["numberOfProcessedEvents"])}
        TreeWriter(f, SUMMARY_TREE).extend(summary)
    return ProductionStats(n_events, candidates, seconds)
