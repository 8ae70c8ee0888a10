"""Benchmark of the embedded TauTupleProducer: tau candidates per second per core, per process, with and
without pile-up, against bare Pythia 8 generation of the same events measured in the same run.

    python benchmarks/bench_production.py [--events 300] [--pileup-events 100] [--pileup 32] [--processes ...]
                                          [--config config/config.yaml]

Rates use the process CPU time (one core); wall time is printed as well, and the typed entries per event
(e/mu/tau/jet). With --config, the pile-up rates of the measured processes estimate the production CPU time and
the typed candidates of that config's datasets (events_per_job x jobs; Pythia initialisation counted once per job).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import uproot
import yaml

from tauml.core.schema import TAU_TYPE_BRANCHES, tau_type
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


def typed_counts(path: Path) -> np.ndarray:
    """Entries per tau type e, mu, tau, jet."""
    types = tau_type(uproot.open(path)["taus"].arrays(list(TAU_TYPE_BRANCHES), library="np"))
    return np.bincount(types[types >= 0], minlength=4)[:4]


def estimate(config: str, per_event: dict, init: dict) -> None:
    """Production CPU and typed candidates of a config's datasets, from the measured pile-up rates."""
    datasets = yaml.safe_load(Path(config).read_text())["datasets"]
    cpu, counts = 0.0, np.zeros(4)
    for name, d in datasets.items():
        if d["process"] not in per_event:
            print(f"{name}: process {d['process']} not measured, left out")
            continue
        rate, typed = per_event[d["process"]]
        events = d["events_per_job"] * d["jobs"]
        cpu += events * rate + d["jobs"] * init[d["process"]]
        counts += events * typed
    print(f"{config}: ~{cpu:.0f} CPU s of production, typed candidates e/mu/tau/jet ~ "
          f"{' / '.join(f'{c:.0f}' for c in counts)} ({counts.sum():.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300, help="events per process without pile-up")
    parser.add_argument("--pileup-events", type=int, default=100, help="events per process with pile-up")
    parser.add_argument("--pileup", type=float, default=32.0, help="mean pile-up for the second measurement")
    parser.add_argument("--processes", nargs="+", default=list(PROCESSES), choices=list(PROCESSES))
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--config", help="estimate the production of this config's datasets")
    args = parser.parse_args()
    per_event, init = {}, {}

    print(f"{'process':13s} {'PU':>4s} {'events':>6s} {'cands':>6s} {'cpu s':>7s} {'wall s':>7s} "
          f"{'cand/s/core':>11s} {'pythia ev/s':>11s} {'pythia share':>12s}  e/mu/tau/jet per event")
    with tempfile.TemporaryDirectory() as tmp:
        for process in args.processes:
            for mu, events in ((0.0, args.events), (args.pileup, args.pileup_events)):
                out = Path(tmp) / f"{process}_{mu}.root"
                stats, cpu, wall = timed(lambda: produce(process, events, args.seed, out, pileup_mu=mu))
                pythia_cpu = bare_pythia(process, events, args.seed)
                typed = typed_counts(out) / events
                print(f"{process:13s} {mu:4.0f} {events:6d} {stats.candidates:6d} {cpu:7.1f} {wall:7.1f} "
                      f"{stats.candidates / cpu:11.1f} {events / pythia_cpu:11.1f} {pythia_cpu / cpu:12.0%}  "
                      f"{' / '.join(f'{x:.2f}' for x in typed)}", flush=True)
                if mu == args.pileup:
                    init[process] = timed(lambda: produce(process, 1, args.seed, Path(tmp) / "init.root",
                                                          pileup_mu=mu))[1]
                    per_event[process] = (max(cpu - init[process], 0.0) / events, typed)
    if args.config:
        estimate(args.config, per_event, init)


if __name__ == "__main__":
    main()
