"""Commands CreateSpectralHists and ShuffleMergeSpectral, with the original tools' flags."""
from __future__ import annotations

import argparse
import sys

from .. import spectral as lib
from ..core.errors import TaumlError
from ..core.remote import find_root_files
from ..core.seeds import DEFAULT_SEED
from . import bin_edges, boolean, name_list, run


def _hists_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="CreateSpectralHists",
        description="Fill per-type (|eta|, pt) spectrum histograms eta_pt_hist_<type> of TauTuples and list the "
                    "entries of each file. Two modes: files of --input-dir into --output FILE + --output_entries "
                    "TXT (CreateSpectralHists), or, with --input RAW, one <output>/<DS>.root and <DS>.txt per "
                    "sub-directory of RAW with 1 GeV x 0.1 bins (the original CreateSpectralHists.py).")
    p.add_argument("--output", "--outputfile", dest="output", required=True,
                   help="ROOT file of histograms (dataset-loop mode: output directory)")
    p.add_argument("--output_entries", help="text file '<path> <entries>' per input file")
    p.add_argument("--input-dir", action="append", default=[], help="input directory (repeatable)")
    p.add_argument("--pt-hist", default="200, 0.0, 1000", help="pt binning 'n, min, max'")
    p.add_argument("--eta-hist", default="4, 0.0, 2.3", help="|eta| binning 'n, min, max'")
    p.add_argument("--file-name-pattern", default=r"^.*\.root$", help="regex on the full path of input files")
    p.add_argument("--exclude-list", type=name_list, default=[], help="file names to skip (comma list)")
    p.add_argument("--exclude-dir-list", type=name_list, default=[], help="directory names to skip (comma list)")
    p.add_argument("--n-threads", type=int, default=1, help="parallel processes over files")
    loop = p.add_argument_group("dataset loop (original CreateSpectralHists.py)")
    loop.add_argument("--input", help="directory with one sub-directory per dataset (crab_ prefix dropped)")
    loop.add_argument("--filter", metavar="REGEX",
                      help="only sub-directories of INPUT whose name matches (re.search), as CreateBinnedTuples")
    loop.add_argument("--rewrite", action="store_true", help="recreate existing outputs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _hists(args) -> None:
    if args.n_threads < 1:
        raise TaumlError(f"--n-threads must be >= 1, got {args.n_threads}")
    if args.input:
        lib.create_dataset_spectra(args.input, args.output, args.filter, args.rewrite, args.n_threads, not args.quiet)
        return
    if not args.input_dir or not args.output_entries:
        raise TaumlError("need --input-dir and --output_entries (or --input for the dataset loop)")
    pt, eta = lib.parse_hist_axis(args.pt_hist, "--pt-hist"), lib.parse_hist_axis(args.eta_hist, "--eta-hist")
    files = find_root_files(args.input_dir, args.file_name_pattern, args.exclude_list, args.exclude_dir_list)
    lib.create_spectral_hists(files, args.output, args.output_entries, pt, eta, args.n_threads, not args.quiet)
    print(f"CreateSpectralHists: {len(files)} files -> {args.output}, {args.output_entries}", file=sys.stderr)


def create_spectral_hists(argv=None) -> int:
    return run(_hists_parser, _hists, argv)


def _merge_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ShuffleMergeSpectral",
        description="One job of the spectrum-flattening shuffle & merge: reads the job's share of every data "
                    "group, keeps entries so that each type's (|eta|, pt) spectrum is flat and types follow "
                    "--tau-ratio, and writes them shuffled with tauType, dataset_id and dataset_group_id.")
    p.add_argument("--cfg", required=True, help="data groups: '<name>: dir=<regex> file=<regex> types=<t,...>'")
    p.add_argument("--input", required=True, help="file list, lines '<dataset_dir>/<file>.root <entries>'")
    p.add_argument("--prefix", default="", help="prepended to '<dataset_dir>/<file>' (a path or root:// URL)")
    p.add_argument("--output", required=True, help="output ROOT file")
    p.add_argument("--mode", default="MergeAll", help="MergeAll (the only mode)")
    p.add_argument("--n-threads", type=int, default=1, help="decompression threads")
    p.add_argument("--disabled-branches", type=name_list, default=[],
                   help="branches not read; written with their default values")
    p.add_argument("--input-spec", default="", help="directory of <dataset_dir>.root spectrum files")
    p.add_argument("--pt-bins", type=bin_edges, required=True, help="pt bin edges")
    p.add_argument("--eta-bins", type=bin_edges, required=True, help="|eta| bin edges")
    p.add_argument("--tau-ratio", default="jet:1, e:1, mu:1, tau:1", help="type proportions; -1 takes all")
    p.add_argument("--lastbin-disbalance", type=float, default=1.0,
                   help="with --lastbin-takeall: lower-pt bins yield at most this times the last pt bin")
    p.add_argument("--lastbin-takeall", type=boolean, default=False, nargs="?", const=True,
                   help="take every entry of the last pt bin")
    p.add_argument("--refill-spectrum", type=boolean, default=False, nargs="?", const=True,
                   help="spectrum from the job's own entries instead of --input-spec")
    p.add_argument("--enable-emptybin", type=boolean, default=False, nargs="?", const=True,
                   help="allow empty bins (acceptance 0) instead of failing")
    p.add_argument("--job-idx", type=int, default=0, help="this job's index")
    p.add_argument("--n-jobs", type=int, default=1, help="number of jobs the groups are split into")
    p.add_argument("--max-entries", type=int, default=None, help="stop after this many entries written")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed, combined with --job-idx (default: %(default)s)")
    p.add_argument("--parity", type=int, default=3, help="0: even evt, 1: odd evt, 3: all")
    p.add_argument("--compression-algo", default="LZMA", help="ZLIB, LZMA, LZ4 or ZSTD")
    p.add_argument("--compression-level", type=int, default=9, help="compression level")
    p.add_argument("--out-dir", default=None,
                   help="where the original's ./out files go (hash JSONs, <group>.root, <group>_n.root); "
                        "default <output dir>/hashes/out_<job-idx>")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _merge(args) -> None:
    opts = lib.SpectralOptions(
        cfg=args.cfg, input=args.input, output=args.output, pt_bins=args.pt_bins, eta_bins=args.eta_bins,
        input_spec=args.input_spec, prefix=args.prefix, mode=args.mode, n_threads=args.n_threads,
        disabled_branches=args.disabled_branches, tau_ratio=args.tau_ratio,
        lastbin_disbalance=args.lastbin_disbalance, lastbin_takeall=args.lastbin_takeall,
        refill_spectrum=args.refill_spectrum, enable_emptybin=args.enable_emptybin, job_idx=args.job_idx,
        n_jobs=args.n_jobs, max_entries=args.max_entries, seed=args.seed, parity=args.parity,
        compression_algo=args.compression_algo, compression_level=args.compression_level, out_dir=args.out_dir,
        progress=not args.quiet)
    res = lib.shuffle_merge_spectral(opts)
    print(f"ShuffleMergeSpectral job {args.job_idx}/{args.n_jobs}: read {res.read} entries, wrote {res.written} "
          f"to {args.output}")


def shuffle_merge_spectral(argv=None) -> int:
    return run(_merge_parser, _merge, argv)
