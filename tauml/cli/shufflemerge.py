"""ShuffleMerge: mix binned tuples uniformly (training, MergeAll) or per cfg item (testing, MergePerEntry)."""
from __future__ import annotations

import argparse
import sys

from . import bin_edges, boolean, edges_text, name_list, run
from ..binning.split import DEFAULT_ETA_BINS, DEFAULT_PT_BINS
from ..shufflemerge.merge import DEFAULT_BUFFER_MB, DEFAULT_SEED, MODES, shuffle_merge


def _count(text: str) -> int:
    """``500000`` or ``1e8``: a positive whole number."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got '{text}'")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ShuffleMerge",
        description="Merge binned tuples (<tauType>_pt_<ptLow>_eta_<etaLow>.root listed in <input>/size_list.txt) "
                    "so that every stretch of the output holds each bin and source in the same proportion.",
        epilog="cfg items: '<name>: dir=REGEX file=REGEX [sample_type=Data|MC|Embedded] [weight=W]'; dir is "
               "full-matched against the file's directory relative to --input, file against its name without "
               ".root.")
    p.add_argument("--cfg", required=True, help="merge cfg (see epilog)")
    p.add_argument("--input", required=True, help="directory holding size_list.txt and the binned tuples")
    p.add_argument("--output", required=True,
                   help="output file (MergeAll) or directory for <item>.root files (MergePerEntry)")
    p.add_argument("--pt-bins", type=bin_edges, default=list(DEFAULT_PT_BINS), metavar="EDGES",
                   help=f'pt bin edges in GeV (default: the README\'s, as CreateBinnedTuples: "{edges_text(DEFAULT_PT_BINS)}")')
    p.add_argument("--eta-bins", type=bin_edges, default=list(DEFAULT_ETA_BINS), metavar="EDGES",
                   help=f'|eta| bin edges (default "{edges_text(DEFAULT_ETA_BINS)}")')
    p.add_argument("--mode", default="MergeAll", choices=MODES, help="default: %(default)s")
    p.add_argument("--calc-weights", type=boolean, default=False,
                   help="write trainingWeight = 1/(n_bins * entries of the bin); empty bins are then an error")
    p.add_argument("--ensure-uniformity", type=boolean, default=False,
                   help="stop as soon as the first bin runs out of entries")
    p.add_argument("--max-bin-occupancy", type=_count, default=None,
                   help="at most this many entries per bin (default: all)")
    p.add_argument("--n-threads", type=int, default=1,
                   help="processes reading the inputs, threads compressing the output (default: 1)")
    p.add_argument("--disabled-branches", type=name_list, default=[],
                   help='branches not read from the inputs, written with their default value, e.g. "a, b"')
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: %(default)s)")
    p.add_argument("--buffer-mb", type=float, default=DEFAULT_BUFFER_MB,
                   help="memory for read pieces and output blocks, in MiB (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _act(args: argparse.Namespace) -> None:
    written = shuffle_merge(args.cfg, args.input, args.output, args.pt_bins, args.eta_bins, mode=args.mode,
                            calc_weights=args.calc_weights, ensure_uniformity=args.ensure_uniformity,
                            max_bin_occupancy=args.max_bin_occupancy, disabled_branches=args.disabled_branches,
                            seed=args.seed, n_threads=args.n_threads, buffer_mb=args.buffer_mb,
                            progress=not args.no_progress)
    print(f"ShuffleMerge: wrote {sum(written.values())} entries to {len(written)} file(s) in {args.output}",
          file=sys.stderr)


def main(argv=None) -> int:
    return run(build_parser, _act, argv)


if __name__ == "__main__":
    raise SystemExit(main())
