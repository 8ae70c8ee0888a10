"""Small steps around ShuffleMergeSpectral: ``python -m tauml.cli.spectral_tools {filelist,merge-hashes}``.

``filelist`` is the README's ``cat <spec>/*.txt | shuf > filelist_mix.txt`` with a seed; ``merge-hashes``
unions the per-job ``dataset_hash.json`` / ``datagroup_hash.json`` files.
"""
from __future__ import annotations

import argparse
import os

from ..core.hashing import merge_hashes, read_hash_json, write_hash_table
from ..core.seeds import DEFAULT_SEED
from ..spectral import write_mixed_file_list
from . import run


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tauml.cli.spectral_tools",
                                description="Mixed file list and hash-JSON union for ShuffleMergeSpectral.")
    sub = p.add_subparsers(dest="tool", required=True)
    fl = sub.add_parser("filelist", help="concatenate CreateSpectralHists entries lists and shuffle them by seed; "
                                         "lines become '<dataset_dir>/<file> <entries>' for --input/--prefix")
    fl.add_argument("entry_lists", nargs="+", help="entries lists (<spec>/<DS>.txt)")
    fl.add_argument("--output", required=True, help="mixed file list to write")
    fl.add_argument("--seed", type=int, default=DEFAULT_SEED, help="shuffle seed (default: %(default)s)")
    mh = sub.add_parser("merge-hashes", help="union of {name: \"hash\"} JSON files (conflicting hashes fail)")
    mh.add_argument("inputs", nargs="+", help="per-job hash JSON files")
    mh.add_argument("--output", required=True, help="merged JSON file")
    return p


def _act(args) -> None:
    if args.tool == "filelist":
        # a glob like spectrum/*.txt also names the output of an earlier run, which is no entries list
        lists = [p for p in args.entry_lists if not os.path.samefile(p, args.output)] if os.path.exists(
            args.output) else args.entry_lists
        n = write_mixed_file_list(lists, args.output, args.seed)
        print(f"{args.output}: {n} files from {len(lists)} lists")
    else:
        table = merge_hashes(*(read_hash_json(p) for p in args.inputs))
        write_hash_table(args.output, table)
        print(f"{args.output}: {len(table)} names from {len(args.inputs)} files")


def main(argv=None) -> int:
    return run(_parser, _act, argv)


if __name__ == "__main__":
    raise SystemExit(main())
