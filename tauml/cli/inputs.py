"""TrainingTupleProducer, root_to_hdf, feature_scaling: the training-input tools under their original names."""
from __future__ import annotations

import argparse

from ..features.config import load_training_cfg
from ..inputs.hdf import DEFAULT_TREES, root_to_hdf
from ..inputs.scaling import feature_scaling
from ..inputs.tuples import part_range, produce_training_tuple, producer_cfg
from . import name_list, run


def _tuple_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="TrainingTupleProducer",
        description="TauTuple -> flat TrainingTuple: tree 'taus' (tau branches, gen_e/gen_mu/gen_tau/gen_jet labels, "
                    "innerCells_begin/end and outerCells_begin/end row ranges) and trees 'inner_cells'/'outer_cells' "
                    "with one row per non-empty cell (highest-pt object per type, unscaled).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--input", required=True, help="input TauTuple ROOT file")
    p.add_argument("--output", required=True, help="output ROOT file (written atomically)")
    p.add_argument("--n-inner-cells", type=int, default=11, help="inner grid cells per axis (odd)")
    p.add_argument("--inner-cell-size", type=float, default=0.02, help="inner cell size in eta and phi")
    p.add_argument("--n-outer-cells", type=int, default=21, help="outer grid cells per axis (odd)")
    p.add_argument("--outer-cell-size", type=float, default=0.05, help="outer cell size in eta and phi")
    p.add_argument("--n-threads", type=int, default=1, help="threads building chunks of entries")
    p.add_argument("--start-entry", type=int, default=0, help="first entry")
    p.add_argument("--end-entry", type=int, default=-1, help="entry after the last one; -1 = to the end")
    p.add_argument("--training-weight-factor", type=float, default=4.0,
                   help="trainingWeight is multiplied by this / 4")
    p.add_argument("--parity", type=int, default=-1, choices=(-1, 0, 1),
                   help="-1 all entries, 0 even evt only, 1 odd evt only")
    p.add_argument("--n-parts", type=int, default=None,
                   help="tauml: split the input's entries into this many equal parts and write --part of them "
                        "(instead of --start-entry/--end-entry)")
    p.add_argument("--part", type=int, default=0, help="tauml: the part to write, 0 .. n-parts - 1")
    return p


def _tuple_act(args) -> None:
    cfg = producer_cfg(args.n_inner_cells, args.inner_cell_size, args.n_outer_cells, args.outer_cell_size)
    start, end = args.start_entry, args.end_entry
    if args.n_parts is not None:
        start, end = part_range(args.input, args.n_parts, args.part)
    n = produce_training_tuple(args.input, args.output, cfg, start, end, args.parity, args.training_weight_factor,
                               args.n_threads)
    print(f"TrainingTupleProducer: {n} taus written to {args.output}")


def training_tuple_producer(argv=None) -> int:
    return run(_tuple_parser, _tuple_act, argv)


def _hdf_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="root_to_hdf", description="Flat ROOT trees -> HDF5 (one group per tree, one "
                                "chunked gzip-1 dataset per branch), streamed chunk by chunk.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--input", required=True, help="input ROOT file")
    p.add_argument("--output", required=True, help="output HDF5 file (written atomically)")
    p.add_argument("--trees", type=name_list, default=",".join(DEFAULT_TREES), help="trees to convert")
    p.add_argument("--chunk-size", type=int, default=100_000, help="entries per read and per HDF5 chunk")
    return p


def _hdf_act(args) -> None:
    counts = root_to_hdf(args.input, args.output, args.trees, args.chunk_size)
    print("root_to_hdf: " + ", ".join(f"{t} {n} entries" for t, n in counts.items()) + f" -> {args.output}")


def root_to_hdf_main(argv=None) -> int:
    return run(_hdf_parser, _hdf_act, argv)


def _scaling_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="feature_scaling",
        description="Scaling parameters (mean/std/limits per feature and cone) from the files of "
                    "Scaling_setup.file_path -> <output_json_folder>/scaling_params_v<version>.json, snapshots "
                    "every log_step files and quantile_params_v<version>.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--cfg", required=True, help="training configuration (training_v1.yaml)")
    p.add_argument("--var_types", nargs="+", default=None,
                   help="feature types to compute (TauFlat, PfCand_chHad, ...); default: all of Features_all")
    p.add_argument("--file-path", nargs="+", default=None,
                   help="tauml: files or globs replacing Scaling_setup.file_path")
    p.add_argument("--output-json-folder", default=None, help="tauml: overrides Scaling_setup.output_json_folder")
    return p


def _scaling_act(args) -> None:
    cfg = load_training_cfg(args.cfg)
    final = feature_scaling(cfg, args.var_types, args.file_path, args.output_json_folder)
    print(f"feature_scaling: {final}")


def feature_scaling_main(argv=None) -> int:
    return run(_scaling_parser, _scaling_act, argv)
