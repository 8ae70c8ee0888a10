"""validation_tool: compare chunks of the ShuffleMergeSpectral outputs (original: validation_tool.py)."""
from __future__ import annotations

import argparse
import sys

from ..validation.compare import CORRECTIONS, DEFAULT_REGEX, REFERENCES, TESTS, chunk_threshold, run_validation
from ..validation.output import DEFAULT_FORMATS, passed, write_outputs
from ..validation.summary import summary_lines
from . import name_list, run

FAILED_EXIT = 3  # validation ran but a test failed (only with --strict); errors exit with 1


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], got '{text}'")
    return value


def plot_formats(text: str) -> list[str]:
    formats = name_list(text)
    return [] if formats == ["none"] else formats


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="validation_tool",
        description="Split the entries of the input files (in file and entry order) into --nsplit chunks and "
                    "test, chunk by chunk against a reference, the distributions of tauType, sampleType, dataset "
                    "group (and dataset), tau pt and eta in each of their bins, and datasets per group. A good "
                    "mix passes: every p-value >= --pvthreshold. p = 99 marks an empty histogram.",
        epilog="Outputs in --output: summary.txt and summary.json (the verdict, per test: p-value, threshold, "
               "pass/fail), pvalues.json, histograms.root (raw counts per chunk), pdf/ and png/ plots. "
               f"Exit status: 0 done (failures only reported unless --strict), {FAILED_EXIT} a test failed with "
               "--strict, 1 bad input.")
    p.add_argument("--input", required=True, help="input directory, searched recursively")
    p.add_argument("--regex", default=DEFAULT_REGEX,
                   help="only files whose name holds a match (re.search), e.g. 'ShuffleMergeSpectral_[0-9]+\\.root$'; "
                        "files without tree 'taus' are skipped (default: %(default)s)")
    p.add_argument("--output", required=True, help="output directory (replaced atomically at the end)")
    p.add_argument("--test", default="Chi2", choices=TESTS,
                   help="Chi2 (ROOT Chi2Test of unweighted histograms) or KS (ROOT KolmogorovTest); "
                        "default %(default)s")
    p.add_argument("--nsplit", type=int, default=100, help="number of chunks (default %(default)s)")
    p.add_argument("--pvthreshold", type=probability, default=0.05,
                   help="a test passes if every chunk's p-value is >= this (default %(default)s)")
    p.add_argument("--n_threads", type=int, default=1,
                   help="threads reading and histogramming input ranges in parallel, and processes drawing the "
                        "plots (default %(default)s)")
    p.add_argument("--id_json", required=True, help="dataset hash JSON {dataset: hash} (dataset_hash.json)")
    p.add_argument("--group_id_json", required=True,
                   help="dataset group hash JSON {group: hash} (datagroup_hash.json)")
    p.add_argument("--use_dataset_id", action="store_true",
                   help="also test the dataset distribution, pt and eta per dataset, and datasets per group")
    p.add_argument("--reference", default="first", choices=REFERENCES,
                   help="compare each chunk with chunk 0 ('first', as the original) or with the sum of all other "
                        "chunks ('rest': a reference with nsplit-1 times the statistics); default %(default)s")
    p.add_argument("--correction", default="none", choices=CORRECTIONS,
                   help="'none' (as the original): every p-value must reach --pvthreshold, which a perfect mix "
                        "of 100 chunks fails by chance; 'bonferroni': --pvthreshold is divided by the number of "
                        "p-values, so a perfect mix fails with probability <= --pvthreshold; default %(default)s "
                        "(the workflow's config/config.yaml uses bonferroni)")
    p.add_argument("--strict", "--fail-on-mismatch", action="store_true",
                   help=f"exit with status {FAILED_EXIT} if a test fails (the original only warned)")
    p.add_argument("--formats", type=plot_formats, default=list(DEFAULT_FORMATS),
                   help="plot formats, comma separated, or 'none' for no plots (default: pdf,png)")
    p.add_argument("--legend", action="store_true",
                   help="draw legends (reference, failing chunks with their p-values, threshold) on the plots")
    p.add_argument("--visual", action="store_true",
                   help="accepted for compatibility; plots are always written to files, never shown")
    return p


def act(args: argparse.Namespace) -> int:
    report = run_validation(args.input, args.id_json, args.group_id_json, regex=args.regex, nsplit=args.nsplit,
                            test=args.test, reference=args.reference, use_dataset_id=args.use_dataset_id,
                            n_threads=args.n_threads)
    for kind, n in report.unknown.items():
        if n:
            print(f"validation_tool: warning: {n} entries have a {kind} absent from its JSON; they count for "
                  "the chunk sizes but are in no test", file=sys.stderr)
    threshold = chunk_threshold(report, args.pvthreshold, args.correction)
    write_outputs(report, args.output, threshold, args.formats, args.legend, n_procs=args.n_threads,
                  pvthreshold=args.pvthreshold, correction=args.correction)
    if args.correction != "none":
        print(f"{args.correction} correction: each p-value must reach {args.pvthreshold:g} / "
              f"{round(args.pvthreshold / threshold)} = {threshold:.3g}")
    print("\n".join(summary_lines(report, threshold)))
    return FAILED_EXIT if args.strict and not passed(report, threshold) else 0


def main(argv=None) -> int:
    return run(build_parser, act, argv)
