"""TauTupleProducer: the embedded stand-in for ``cmsRun Production.py`` (Pythia 8 -> TauTuple)."""
from __future__ import annotations

import argparse

from ..production import PROCESSES, produce
from . import run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="TauTupleProducer",
        description="Generate events with Pythia 8, pass them through a parametrised CMS-like detector, "
                    "reconstruct jets (anti-kT 0.4) and HPS-like taus, and write one TauTuple ROOT file "
                    "(trees 'taus' and 'summary'). The same seed always gives the same arrays.",
    )
    parser.add_argument("--process", required=True, help=f"physics process: {', '.join(PROCESSES)}")
    parser.add_argument("--n-events", type=int, required=True, help="number of events to generate")
    parser.add_argument("--seed", type=int, required=True, help="random seed (non-negative; one per job)")
    parser.add_argument("--output", required=True, help="output ROOT file (written atomically)")
    parser.add_argument("--pileup", type=float, default=0.0, metavar="MU",
                        help="mean number of overlaid minimum-bias events (Poisson), default 0")
    return parser


def act(args: argparse.Namespace) -> None:
    stats = produce(args.process, args.n_events, args.seed, args.output, pileup_mu=args.pileup, progress=True)
    print(f"TauTupleProducer: wrote {stats.candidates} tau candidates from {stats.events} events to {args.output} "
          f"in {stats.seconds:.1f} s")


def main(argv=None) -> int:
    return run(build_parser, act, argv)
