"""Benchmark of the embedded TauTupleProducer: tau candidates per second per core, per process, with and
without pile-up, against bare Pythia 8 generation of the same events measured in the same run.

    python benchmarks/bench_production.py [--events 300] [--pileup-events 100] [--pileup 32] [--processes ...]

Rates use the process CPU time (one core); wall time is printed as well.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tauml.production import PROCESSES, produce
from tauml.production.generator import EventGenerator


def timed(func):
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def bare_pythia(process: str, events: int, seed: int) -> float:
    """CPU seconds to initialise Pythia and generate the events, without detector, reconstruction or output."""
    def run():
        generator = EventGenerator(process, seed)
        for start in range(0, events, 100):
            generator.batch(min(100, events - start))
    return timed(run)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300, help="events per process without pile-up")
    parser.add_argument("--pileup-events", type=int, default=100, help="events per process with pile-up")
    parser.add_argument("--pileup", type=float, default=32.0, help="mean pile-up for the second measurement")
    parser.add_argument("--processes", nargs="+", default=list(PROCESSES), choices=list(PROCESSES))
    parser.add_argument("--seed", type=int, default=4242)
    args = parser.parse_args()

    print(f"{'process':13s} {'PU':>4s} {'events':>6s} {'cands':>6s} {'cpu s':>7s} {'wall s':>7s} "
          f"{'cand/s/core':>11s} {'pythia ev/s':>11s} {'pythia share':>12s}")
    with tempfile.TemporaryDirectory() as tmp:
        for process in args.processes:
            for mu, events in ((0.0, args.events), (args.pileup, args.pileup_events)):
                out = Path(tmp) / f"{process}_{mu}.root"
                stats, cpu, wall = timed(lambda: produce(process, events, args.seed, out, pileup_mu=mu))
                pythia_cpu = bare_pythia(process, events, args.seed)
                print(f"{process:13s} {mu:4.0f} {events:6d} {stats.candidates:6d} {cpu:7.1f} {wall:7.1f} "
                      f"{stats.candidates / cpu:11.1f} {events / pythia_cpu:11.1f} {pythia_cpu / cpu:12.0%}",
                      flush=True)


if __name__ == "__main__":
    main()
