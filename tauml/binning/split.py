"""CreateBinnedTuples and CreateTupleSizeList: split a dataset's TauTuples into (tau type, pt, |eta|) bins.

A tau candidate goes to ``<tauType>_pt_<ptLow>_eta_<etaLow>.root`` if it passes the selection (reco tau,
new-DM finding, |dz| < 0.2, pt and |eta| inside the grid, a type by the §1 rule), otherwise to
``other.root``; a candidate whose (run, lumi, evt, jet_index, tau_index) repeats an earlier one is dropped.
Every input branch is carried through with its type. The reader streams chunks, the bins are written by
``tauml.binsink.BinSink`` objects (one per writer process with ``n_threads > 1``). The output directory
appears only when everything succeeded.
"""
from __future__ import annotations

import contextlib
import re
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core import columns, remote
from ..core.axis import check_edges
from ..core.binfiles import OTHER_FILE, SUMMARY_FILE, bin_file_name, is_bin_file
from .sink import BUFFER_BYTES, DEFAULT_COMPRESSION, FLUSH_BYTES, BinSink, ProcessSinks
from .dedup import KEY, find_duplicates
from ..core.errors import TaumlError
from ..core.io import TreeWriter, atomic_path, iterate, open_file, open_tree, payload_branches, require_branches, root_writer
from ..core.schema import SUMMARY_TREE, TAU_TYPE_BRANCHES, TREE, TauType, tau_type

DEFAULT_PT_BINS = (20., 25., 30., 35., 40., 45., 50., 55., 60., 70., 80., 90., 100., 120., 140., 160., 180., 200.,
                   225., 250., 275., 300., 350., 400., 450., 500., 600., 700., 800., 900., 1000.)
DEFAULT_ETA_BINS = (0., 0.575, 1.15, 1.725, 2.3)
DEFAULT_FILE_PATTERN = r"^.*\.root$"
DEFAULT_STEP = "64 MB"
MAX_DZ = 0.2
SELECTION_BRANCHES = ("tau_index", "tau_decayModeFindingNewDMs", "tau_dz")
REQUIRED_BRANCHES = tuple(dict.fromkeys(KEY + SELECTION_BRANCHES + TAU_TYPE_BRANCHES))


@dataclass(frozen=True)
class BinGrid:
    """(tau type, pt, |eta|) bins, half-open [low, high); index ``n_bins`` stands for ``other.root``."""

    pt: tuple[float, ...] = DEFAULT_PT_BINS
    eta: tuple[float, ...] = DEFAULT_ETA_BINS

    def __post_init__(self):
        object.__setattr__(self, "pt", check_edges(self.pt, "--pt-bins"))
        object.__setattr__(self, "eta", check_edges(self.eta, "--eta-bins"))
        if self.eta[0] < 0:
            raise TaumlError(f"eta bins are |eta| edges and cannot be negative, got {list(self.eta)}")

    @property
    def n_bins(self) -> int:
        return len(TauType) * (len(self.pt) - 1) * (len(self.eta) - 1)

    def file_name(self, index: int) -> str:
        if index == self.n_bins:
            return OTHER_FILE
        n_pt, n_eta = len(self.pt) - 1, len(self.eta) - 1
        kind, rest = divmod(index, n_pt * n_eta)
        i_pt, i_eta = divmod(rest, n_eta)
        return bin_file_name(TauType(kind), self.pt[i_pt], self.eta[i_eta])

    def bin_index(self, a) -> np.ndarray:
        """Bin of each entry of ``a`` (branch name -> array), ``n_bins`` for those failing the selection."""
        pt = np.asarray(a["tau_pt"])
        abs_eta = np.abs(np.asarray(a["tau_eta"]))
        kind = tau_type(a)
        with np.errstate(invalid="ignore"):
            good = ((np.asarray(a["tau_index"]) >= 0) & (np.asarray(a["tau_decayModeFindingNewDMs"]) != 0)
                    & (np.abs(np.asarray(a["tau_dz"])) < MAX_DZ) & (kind >= 0)
                    & (pt >= self.pt[0]) & (pt < self.pt[-1]) & (abs_eta >= self.eta[0]) & (abs_eta < self.eta[-1]))
        i_pt = np.searchsorted(self.pt, pt, side="right") - 1
        i_eta = np.searchsorted(self.eta, abs_eta, side="right") - 1
        n_pt, n_eta = len(self.pt) - 1, len(self.eta) - 1
        index = (kind.astype(np.int64) * n_pt + i_pt) * n_eta + i_eta
        return np.where(good, index, self.n_bins)


@dataclass
class SplitResult:
    entries: int = 0
    duplicates: int = 0
    files: dict[str, int] = field(default_factory=dict)  # output file name -> entries (summary.root excluded)


def _check_replaceable(output: Path) -> None:
    """An existing output is replaced only if it is a CreateBinnedTuples output (protects a mistyped --output);
    hidden files, such as the timestamp Snakemake keeps in a directory output, do not count."""
    if not output.exists():
        return
    if not output.is_dir() or any(not (is_bin_file(p.name) or p.name in (OTHER_FILE, SUMMARY_FILE))
                                  for p in output.iterdir() if not p.name.startswith(".")):
        raise TaumlError(f"{output}: exists and is not a CreateBinnedTuples output; not replacing it")


def _check_inputs(files: list[str]) -> tuple[list[str], int]:
    """Payload branches and entries of the dataset; every file must have tree ``taus`` with the same branches."""
    names, total = None, 0
    for path in files:
        tree = open_tree(path)
        total += tree.num_entries
        require_branches(tree, path, REQUIRED_BRANCHES)
        these = payload_branches(tree)
        if names is None:
            names, first = these, path
        elif set(these) != set(names):
            diff = sorted(set(these) ^ set(names))
            raise TaumlError(f"{path}: branches differ from {first}: {', '.join(diff[:10])}")
    return names, total


def _write_summaries(files: list[str], output: Path, compression) -> None:
    with contextlib.ExitStack() as stack:
        writer = None
        for path in files:
            f = open_file(path)
            if SUMMARY_TREE not in f:
                continue
            for part in iterate(path, payload_branches(f[SUMMARY_TREE]), tree=SUMMARY_TREE):
                if writer is None:
                    writer = TreeWriter(stack.enter_context(root_writer(output / SUMMARY_FILE, *compression)),
                                        SUMMARY_TREE)
                writer.extend({name: part[name] for name in part.fields})


def _split(files: list[str], names: list[str], duplicates: list[np.ndarray], grid: BinGrid, sink,
           step_size, total: int, result: SplitResult) -> None:
    reference = None
    progress = tqdm(total=total, unit=" entries", file=sys.stderr,
                    mininterval=5, desc="CreateBinnedTuples", disable=None)
    with progress:
        for path, dups in zip(files, duplicates):
            first = 0
            for arrays in iterate(path, names, step_size=step_size, finite=REQUIRED_BRANCHES):
                chunk = columns.from_awkward(arrays, path)
                sig = columns.signature(chunk)
                if reference is None:
                    reference, reference_path = sig, path
                elif sig != reference:
                    raise TaumlError(f"{path}: branch types differ from those of {reference_path}")
                n = len(arrays)
                index = grid.bin_index(chunk)
                local_dups = dups[(dups >= first) & (dups < first + n)] - first
                keep = np.ones(n, bool)
                keep[local_dups] = False
                order = np.flatnonzero(keep)
                order = order[np.argsort(index[order], kind="stable")]
                bins, starts = np.unique(index[order], return_index=True)
                bounds = np.append(starts, len(order))
                if len(order):
                    sink.add(bins, bounds, columns.take(chunk, order))
                result.entries += n
                result.duplicates += len(local_dups)
                first += n
                progress.update(n)


def create_binned_tuples(output, input_dirs: Iterable, pt_bins=DEFAULT_PT_BINS, eta_bins=DEFAULT_ETA_BINS,
                         file_name_pattern: str = DEFAULT_FILE_PATTERN, exclude_list: Iterable[str] = (),
                         exclude_dir_list: Iterable[str] = (), n_threads: int = 1,
                         compression=DEFAULT_COMPRESSION, step_size=DEFAULT_STEP) -> SplitResult:
    """Split one dataset into bin files in directory ``output`` (replaced atomically if it exists)."""
    grid = BinGrid(tuple(pt_bins), tuple(eta_bins))
    if n_threads < 1:
        raise TaumlError(f"--n-threads must be at least 1, got {n_threads}")
    input_dirs = list(input_dirs)
    files = remote.find_root_files(input_dirs, file_name_pattern, exclude_list, exclude_dir_list)
    names, total = _check_inputs(files)
    output = Path(output)
    _check_replaceable(output)
    result = SplitResult()
    with atomic_path(output) as tmp:
        tmp.mkdir()
        duplicates = find_duplicates(files, tmp / ".keys", total_entries=total)
        (tmp / ".keys").rmdir()
        budget = BUFFER_BYTES // n_threads
        sink_args = (tmp, grid, tuple(compression), min(FLUSH_BYTES, budget // 4), budget)
        sink = ProcessSinks(n_threads, sink_args) if n_threads > 1 else BinSink(*sink_args)
        try:
            _split(files, names, duplicates, grid, sink, step_size, total, result)
            result.files = sink.close()
        except BaseException:
            sink.abort()
            raise
        _write_summaries(files, tmp, tuple(compression))
        written = sum(result.files.values())
        if written + result.duplicates != result.entries:
            raise TaumlError(f"internal error: {result.entries} entries read, {written} written, "
                             f"{result.duplicates} duplicates")
        if output.exists():
            shutil.rmtree(output)
    print(f"CreateBinnedTuples: {output}: {result.entries} entries from {len(files)} files -> "
          f"{len(result.files)} files, {result.duplicates} duplicates dropped, "
          f"{result.files.get(OTHER_FILE, 0)} in {OTHER_FILE}", file=sys.stderr)
    return result


def create_binned_datasets(input_root, output_root, filter_regex: str | None = None, **options) -> list[str]:
    """The original CreateBinnedTuples.py loop: one output per sub-directory of ``input_root`` (``crab_``
    prefix dropped); datasets whose output exists are skipped. Returns the datasets split now."""
    input_root, output_root = Path(input_root), Path(output_root)
    if not input_root.is_dir():
        raise TaumlError(f"{input_root}: input directory does not exist")
    try:
        regex = re.compile(filter_regex) if filter_regex else None
    except re.error as err:
        raise TaumlError(f"--filter '{filter_regex}': {err}") from err
    subs = [p for p in sorted(input_root.iterdir()) if p.is_dir() and not p.name.startswith(".")
            and not (regex and not regex.search(p.name))]
    if not subs:
        raise TaumlError(f"{input_root}: no dataset sub-directory" + (f" matches --filter '{filter_regex}'"
                                                                       if regex else " found"))
    done = []
    for sub in subs:
        dataset = sub.name.removeprefix("crab_")
        if (output_root / dataset).exists():
            print(f"CreateBinnedTuples: {dataset}: already split, skipped", file=sys.stderr)
            continue
        create_binned_tuples(output_root / dataset, [sub], **options)
        done.append(dataset)
    return done
