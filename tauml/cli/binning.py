"""CreateBinnedTuples and CreateTupleSizeList, with the original tools' flags."""
from __future__ import annotations

import argparse
import sys

from ..binning import size_list
from ..binning import split as binning
from ..core.binfiles import format_size_list
from ..core.errors import TaumlError
from ..core.io import COMPRESSION
from . import bin_edges, edges_text, name_list, run


def _binned_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="CreateBinnedTuples",
        description="Split the TauTuples of one dataset into <tauType>_pt_<ptLow>_eta_<etaLow>.root bin files "
                    "(plus other.root for candidates failing the selection and summary.root). With --input "
                    "instead of --input-dir, every sub-directory of INPUT is split into OUTPUT/<dataset> "
                    "(crab_ prefix dropped), skipping datasets already split, as CreateBinnedTuples.py did.")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--input-dir", action="append", metavar="DIR",
                        help="directory searched recursively for input files (repeatable)")
    source.add_argument("--input", metavar="RAW", help="dataset loop: split every sub-directory of RAW")
    p.add_argument("--output", required=True, metavar="DIR",
                   help="output directory (with --input: the parent of the per-dataset directories)")
    p.add_argument("--pt-bins", type=bin_edges, default=list(binning.DEFAULT_PT_BINS), metavar="EDGES",
                   help=f'pt bin edges in GeV (default "{edges_text(binning.DEFAULT_PT_BINS)}")')
    p.add_argument("--eta-bins", type=bin_edges, default=list(binning.DEFAULT_ETA_BINS), metavar="EDGES",
                   help=f'|eta| bin edges (default "{edges_text(binning.DEFAULT_ETA_BINS)}")')
    p.add_argument("--file-name-pattern", default=binning.DEFAULT_FILE_PATTERN, metavar="REGEX",
                   help="regex the full path of an input file must match (default %(default)s)")
    p.add_argument("--exclude-list", type=name_list, default=[], metavar="NAMES",
                   help="comma-separated file names to skip")
    p.add_argument("--exclude-dir-list", type=name_list, default=[], metavar="NAMES",
                   help="comma-separated directory names to skip")
    p.add_argument("--filter", metavar="REGEX",
                   help="with --input: only sub-directories of RAW whose name matches (re.search)")
    p.add_argument("--n-threads", type=int, default=1, metavar="N",
                   help="with N > 1, N processes write the bin files while this one reads the input (default 1: "
                        "one process does both)")
    p.add_argument("--compression-algo", default=binning.DEFAULT_COMPRESSION[0], choices=sorted(COMPRESSION),
                   help="output compression (default %(default)s; the original used ZLIB level 9)")
    p.add_argument("--compression-level", type=int, default=binning.DEFAULT_COMPRESSION[1], metavar="LEVEL",
                   help="output compression level (default %(default)s)")
    return p


def _binned(args: argparse.Namespace) -> None:
    options = dict(pt_bins=args.pt_bins, eta_bins=args.eta_bins, file_name_pattern=args.file_name_pattern,
                   exclude_list=args.exclude_list, exclude_dir_list=args.exclude_dir_list, n_threads=args.n_threads,
                   compression=(args.compression_algo, args.compression_level))
    if args.input:
        binning.create_binned_datasets(args.input, args.output, args.filter, **options)
    else:
        if args.filter:
            raise TaumlError("--filter applies to the dataset loop (--input) only")
        binning.create_binned_tuples(args.output, args.input_dir, **options)


def create_binned_tuples(argv=None) -> int:
    return run(_binned_parser, _binned, argv)


def _size_list_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="CreateTupleSizeList",
        description="Print '<path relative to INPUT> <entries>' for every ROOT file with tree 'taus' below INPUT, "
                    "sorted (files without it, like summary.root, are skipped). Paths are relative to INPUT, so "
                    "INPUT is the directory the next ShuffleMerge's --input names. Entry counts are read from the "
                    f"TTree header; INPUT/{size_list.CACHE_FILE} keeps them for files whose size and mtime did "
                    "not change.")
    p.add_argument("--input", required=True, metavar="DIR", help="directory searched recursively")
    p.add_argument("--prev-output", metavar="FILE",
                   help="previous output: its counts are reused by path, files that no longer exist are dropped "
                        "(default: none)")
    p.add_argument("--filter", metavar="REGEX",
                   help="only files in sub-directories of INPUT whose name matches (re.search), e.g. '^all$' "
                        "(default: every file)")
    p.add_argument("--no-cache", action="store_true", help=f"neither read nor write INPUT/{size_list.CACHE_FILE}")
    return p


def _size_list(args: argparse.Namespace) -> None:
    rows = size_list.tuple_sizes(args.input, args.prev_output, args.filter, use_cache=not args.no_cache)
    sys.stdout.write(format_size_list(rows))
    print(f"CreateTupleSizeList: {args.input}: {len(rows)} files, {sum(n for _, n in rows)} entries", file=sys.stderr)


def create_tuple_size_list(argv=None) -> int:
    return run(_size_list_parser, _size_list, argv)
