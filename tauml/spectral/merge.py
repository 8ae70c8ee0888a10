"""ShuffleMergeSpectral: one job of the spectrum-flattening shuffle & merge (spec §5).

Each data group contributes its share of entries (job ``j`` of ``n`` reads the ``j``-th of ``n`` contiguous,
disjoint ranges of the group's listed files). Every entry is kept with probability
``p_type * P_bin`` (flat (|eta|, pt) spectrum, --tau-ratio type proportions), decided by a random stream of
its own group, so decisions do not depend on the reading order. Groups are interleaved at random in
proportion to their remaining entries, and each block of ~10,000 accepted entries is shuffled before writing.
Memory holds one chunk per group being read and one block, whatever the input size.
"""
from __future__ import annotations

import concurrent.futures
import os
import sys
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np
from tqdm import tqdm

from ..core import columns
from ..core.columns import Chunk
from ..core.errors import TaumlError
from ..core.hashing import std_hash, write_hash_json
from ..core.io import (TreeWriter, check_finite, open_file, open_tree, payload_branches, read_error,
                       require_branches, root_writer)
from ..core.schema import TauType, branches, collections, tau_type
from ..core.seeds import DEFAULT_SEED
from .acceptance import bin_acceptance, parse_tau_ratio, type_acceptance
from .create_hists import HIST_PREFIX, SPECTRUM_BRANCHES
from .histograms import Axis, Hist2D, read_hist2d
from .inputs import DataGroup, ListedFile, Segment, job_segments, read_file_list, read_groups

ID_BRANCHES = ("tauType", "dataset_id", "dataset_group_id")
DECISION_BRANCHES = sorted(set(SPECTRUM_BRANCHES) | {"evt"})
PARITIES = {0: "even evt", 1: "odd evt", 3: "all"}
READ_ENTRIES = 10_000  # input entries per decision read and per interleaving round
FULL_READ_ENTRIES = 5_000  # input entries per read of all branches (bounds uproot's transient copies)
REFILL_ENTRIES = 100_000  # entries per read of the light branches for --refill-spectrum
OPEN_TREES = 4
FLUSH_ENTRIES = 10_000  # accepted entries per output basket


@dataclass
class SpectralOptions:
    cfg: str
    input: str
    output: str
    pt_bins: Sequence[float]
    eta_bins: Sequence[float]
    input_spec: str = ""
    prefix: str = ""
    mode: str = "MergeAll"
    n_threads: int = 1
    disabled_branches: Sequence[str] = ()
    tau_ratio: str = "jet:1, e:1, mu:1, tau:1"
    lastbin_disbalance: float = 1.0
    lastbin_takeall: bool = False
    refill_spectrum: bool = False
    enable_emptybin: bool = False
    job_idx: int = 0
    n_jobs: int = 1
    max_entries: int | None = None
    seed: int = DEFAULT_SEED
    parity: int = 3
    compression_algo: str = "LZMA"
    compression_level: int = 9
    out_dir: str | None = None  # the original's ./out; default <output dir>/hashes/out_<job_idx>
    progress: bool = True

    def resolved_out_dir(self) -> Path:
        if self.out_dir:
            return Path(self.out_dir)
        return Path(self.output).resolve().parent / "hashes" / f"out_{self.job_idx}"


@dataclass
class MergeResult:
    read: int = 0
    written: int = 0
    accepted: dict = field(default_factory=dict)  # (group, type name) -> entries taken


def _check(opts: SpectralOptions) -> None:
    if opts.mode != "MergeAll":
        raise TaumlError(f"--mode {opts.mode}: ShuffleMergeSpectral supports only MergeAll")
    if opts.parity not in PARITIES:
        raise TaumlError(f"--parity {opts.parity}: choose 0 (even evt), 1 (odd evt) or 3 (all)")
    if not opts.lastbin_disbalance > 0:
        raise TaumlError(f"--lastbin-disbalance must be > 0, got {opts.lastbin_disbalance}")
    if opts.max_entries is not None and opts.max_entries < 0:
        raise TaumlError(f"--max-entries must be >= 0, got {opts.max_entries}")
    if opts.n_threads < 1:
        raise TaumlError(f"--n-threads must be >= 1, got {opts.n_threads}")
    if not 0 <= opts.compression_level <= 9:
        raise TaumlError(f"--compression-level must lie in 0..9, got {opts.compression_level}")
    if not opts.refill_spectrum and not opts.input_spec:
        raise TaumlError("--input-spec is required unless --refill-spectrum is given")


class Plan:
    """Everything decided before reading payload: groups, job segments, spectra and acceptances."""

    def __init__(self, opts: SpectralOptions):
        _check(opts)
        self.opts = opts
        self._trees: OrderedDict[str, object] = OrderedDict()
        self.eta = Axis.variable(opts.eta_bins, what="--eta-bins")
        self.pt = Axis.variable(opts.pt_bins, what="--pt-bins")
        self.ratios = parse_tau_ratio(opts.tau_ratio)
        self.groups = read_groups(opts.cfg, read_file_list(opts.input))
        self.segments = {g.name: job_segments(g.files, opts.job_idx, opts.n_jobs) for g in self.groups}
        self.spectra = {g.name: self._spectrum(g) for g in self.groups}
        self.bin_p = {g.name: {t: bin_acceptance(c, self.eta.edges, self.pt.edges, f"group '{g.name}', type "
                                                 f"'{TauType(t).name}'", opts.lastbin_takeall,
                                                 opts.lastbin_disbalance, opts.enable_emptybin)
                               for t, c in self.spectra[g.name].items()}
                      for g in self.groups}
        expected: dict[int, float] = {}
        for g in self.groups:
            for t, c in self.spectra[g.name].items():
                expected[t] = expected.get(t, 0.0) + float((c * self.bin_p[g.name][t]).sum())
        self.type_p = type_acceptance(self.ratios, expected)

    def path(self, seg: Segment) -> str:
        return seg.file.path(self.opts.prefix)

    def tree(self, file: ListedFile):
        """Tree ``taus`` of a listed file; the last few stay open (reading a 552-branch header costs ~0.3 s)."""
        path = file.path(self.opts.prefix)
        if path not in self._trees:
            tree = open_tree(path)
            if tree.num_entries != file.entries:
                raise TaumlError(f"{path}: has {tree.num_entries} entries but the input list says {file.entries} "
                                 "(rerun CreateSpectralHists for its dataset)")
            self._trees[path] = tree
            if len(self._trees) > OPEN_TREES:
                self._trees.popitem(last=False)[1].file.close()
        self._trees.move_to_end(path)
        return self._trees[path]

    def _spectrum(self, group: DataGroup) -> dict[int, np.ndarray]:
        """Entries per (|eta|, pt) bin of each of the group's types."""
        if self.opts.refill_spectrum:
            return self._refill(group)
        totals = {t: np.zeros((self.eta.n, self.pt.n)) for t in group.types}
        for ds in group.datasets:
            path = os.path.join(self.opts.input_spec, ds + ".root")
            if not os.path.exists(path):
                raise TaumlError(f"{path}: spectrum file of dataset '{ds}' (group '{group.name}') does not exist")
            f = open_file(path)
            for t in group.types:
                fine = read_hist2d(path, HIST_PREFIX + TauType(t).name, f)
                if fine is not None:
                    totals[t] += fine.rebin(self.eta, self.pt, f"{path}: {HIST_PREFIX}{TauType(t).name}").inner()
        return totals

    def _refill(self, group: DataGroup) -> dict[int, np.ndarray]:
        """--refill-spectrum: the spectrum of the job's own entries (typed taus only)."""
        hists = {t: Hist2D(self.eta, self.pt) for t in group.types}
        for seg in self.segments[group.name]:
            tree = self.tree(seg.file)
            for start in range(seg.start, seg.stop, REFILL_ENTRIES):
                chunk = _read(tree, self.path(seg), SPECTRUM_BRANCHES, start, min(seg.stop, start + REFILL_ENTRIES),
                              None)
                check_finite(chunk, SPECTRUM_BRANCHES, self.path(seg), start)
                a = {k: chunk[k].to_numpy() for k in SPECTRUM_BRANCHES}
                types = np.where(a["tau_index"] >= 0, tau_type(a), -1)
                for t, h in hists.items():
                    sel = types == t
                    h.fill(np.abs(a["tau_eta"][sel]), a["tau_pt"][sel])
        return {t: h.inner() for t, h in hists.items()}

    def write_diagnostics(self, out_dir: Path) -> None:
        """``<group>.root`` (``<type>_prob``) and ``<group>_n.root`` (``<type>_entries``), as the original's ./out."""
        for g in self.groups:
            with root_writer(out_dir / f"{g.name}.root", "ZLIB", 4) as f:
                for t, p in self.bin_p[g.name].items():
                    name = f"{TauType(t).name}_prob"
                    f[name] = Hist2D.from_values(self.eta, self.pt, p).to_root(name, name)
            with root_writer(out_dir / f"{g.name}_n.root", "ZLIB", 4) as f:
                for t, c in self.spectra[g.name].items():
                    name = f"{TauType(t).name}_entries"
                    f[name] = Hist2D.from_values(self.eta, self.pt, c, c.sum()).to_root(name, name)


class GroupStream:
    """A group's entries of this job, read chunk by chunk; ``take(k)`` returns the accepted among the next k."""

    def __init__(self, plan: Plan, group: DataGroup, read_names: list[str], executor):
        self.plan, self.group, self.names, self.executor = plan, group, read_names, executor
        self.segments = list(plan.segments[group.name])
        self.remaining = sum(s.stop - s.start for s in self.segments)
        self.rng = np.random.default_rng([plan.opts.seed, plan.opts.job_idx, std_hash(group.name)])
        self.group_id = np.uint64(std_hash(group.name))
        self.accepted = dict.fromkeys(group.types, 0)
        self._chunk = None  # (records of accepted entries, their positions, chunk length)
        self._pos = 0

    def take(self, k: int) -> list[Chunk]:
        parts = []
        while k > 0:
            if self._chunk is None or self._pos == self._chunk[2]:
                self._load()
            records, positions, length = self._chunk
            n = min(k, length - self._pos)
            lo, hi = np.searchsorted(positions, [self._pos, self._pos + n])
            if hi > lo:
                parts.append(columns.slice_view(records, lo, hi))
            self._pos += n
            self.remaining -= n
            k -= n
        return parts

    def _load(self) -> None:
        seg = self.segments[0]
        stop = min(seg.stop, seg.start + READ_ENTRIES)
        path = self.plan.path(seg)
        tree = self.plan.tree(seg.file)
        light = _read(tree, path, DECISION_BRANCHES, seg.start, stop, self.executor)
        check_finite(light, DECISION_BRANCHES, path, seg.start)
        accept, types = self._decide(light)
        positions = np.flatnonzero(accept)
        if positions.size:
            pieces = []
            for lo in range(int(positions[0]), int(positions[-1]) + 1, FULL_READ_ENTRIES):
                rows = positions[(positions >= lo) & (positions < lo + FULL_READ_ENTRIES)]
                if rows.size:
                    first, last = seg.start + rows[0], seg.start + rows[-1] + 1
                    full = _read(tree, path, self.names, first, last, self.executor)
                    pieces.append(columns.take(columns.from_awkward(ak.Array(full), path), rows - rows[0]))
                    del full
            records = columns.concatenate(pieces)
            del pieces
            records.update(tauType=types[positions],
                           dataset_id=np.full(positions.size, std_hash(seg.file.dataset), np.uint64),
                           dataset_group_id=np.full(positions.size, self.group_id))
        else:
            records = None
        self._chunk = (records, positions, stop - seg.start)
        self._pos = 0
        self.segments[0] = Segment(seg.file, stop, seg.stop)
        if stop == seg.stop:
            self.segments.pop(0)

    def _decide(self, a) -> tuple[np.ndarray, np.ndarray]:
        plan, opts = self.plan, self.plan.opts
        a = {k: a[k].to_numpy() for k in DECISION_BRANCHES}
        types = np.where(a["tau_index"] >= 0, tau_type(a), -1).astype(np.int32)
        ix, iy = plan.eta.index(np.abs(a["tau_eta"])), plan.pt.index(a["tau_pt"])
        inside = (ix >= 1) & (ix <= plan.eta.n) & (iy >= 1) & (iy <= plan.pt.n)
        prob = np.zeros(types.size)
        for t in self.group.types:
            sel = inside & (types == t)
            prob[sel] = plan.type_p[t] * plan.bin_p[self.group.name][t][ix[sel] - 1, iy[sel] - 1]
        accept = self.rng.random(types.size) < prob
        if opts.parity != 3:
            accept &= a["evt"] % 2 == opts.parity
        for t in self.group.types:
            self.accepted[t] += int(np.count_nonzero(accept & (types == t)))
        return accept, types


def _read(tree, path, names, start, stop, executor) -> dict[str, ak.Array]:
    require_branches(tree, path, names)
    try:
        return tree.arrays(names, entry_start=int(start), entry_stop=int(stop), library="ak", how=dict,
                           array_cache=None, decompression_executor=executor, interpretation_executor=executor)
    except Exception as err:
        raise read_error(path, err, f"read entries {start}-{stop} of tree '{tree.name}'") from err


def _branch_layout(plan: Plan) -> tuple[list[str], list[str], list[str]]:
    """(branches read, branches written in input order, disabled branches written with defaults)."""
    first = next((s.file for g in plan.groups for s in plan.segments[g.name]), plan.groups[0].files[0])
    path, tree = first.path(plan.opts.prefix), plan.tree(first)
    require_branches(tree, path, DECISION_BRANCHES)
    payload = payload_branches(tree)
    unknown = [b for b in plan.opts.disabled_branches if b not in payload and b not in ID_BRANCHES]
    if unknown:
        raise TaumlError(f"--disabled-branches: {path} has no branch(es) {', '.join(unknown)}")
    written = payload + [b for b in ID_BRANCHES if b not in payload]
    disabled = [b for b in written if b in plan.opts.disabled_branches and b not in ID_BRANCHES]
    read = [b for b in written if b not in disabled and b not in ID_BRANCHES]
    schema = branches()
    lost = [b for b in disabled if b not in schema]
    if lost:
        print(f"warning: disabled branch(es) {', '.join(lost)} are not TauTuple branches and are not written",
              file=sys.stderr)
    return read, [b for b in written if b not in lost], [b for b in disabled if b in schema]


def _defaults(names: list[str], n: int, written: dict[str, object]) -> dict[str, object]:
    """Default values for disabled branches; a disabled list branch gets as many defaults per entry as the
    other branches of its collection have (they share one counter), or empty lists without such a branch."""
    out = {}
    schema = branches()
    for name in names:
        b = schema[name]
        if not b.jagged:
            out[name] = np.full(n, b.default, b.dtype)
            continue
        sibling = next((written[m] for m in collections().get(b.collection, ()) if m in written), None)
        counts = ak.num(sibling) if sibling is not None else np.zeros(n, np.int64)
        out[name] = ak.unflatten(np.full(int(np.sum(counts)), b.default, b.dtype), counts)
    return out


def shuffle_merge_spectral(opts: SpectralOptions) -> MergeResult:
    plan = Plan(opts)
    read_names, written_names, disabled = _branch_layout(plan)
    executor = concurrent.futures.ThreadPoolExecutor(opts.n_threads) if opts.n_threads > 1 else None
    streams = [GroupStream(plan, g, read_names, executor) for g in plan.groups]
    mix = np.random.default_rng([opts.seed, opts.job_idx])
    limit = opts.max_entries if opts.max_entries is not None else np.inf
    result = MergeResult()
    bar = tqdm(total=sum(s.remaining for s in streams), desc=f"job {opts.job_idx}", unit="entry",
               unit_scale=True, file=sys.stderr, disable=not opts.progress or None)
    try:
        with root_writer(opts.output, opts.compression_algo, opts.compression_level, opts.n_threads) as f:
            writer = TreeWriter(f)
            pending: list[Chunk] = []

            def flush():
                """Shuffle the pending entries together and write them (at most up to --max-entries)."""
                if pending:
                    batch = columns.concatenate(pending)
                    pending.clear()  # free the groups' old chunks before the copies below
                    n = columns.chunk_length(batch)
                    chosen = columns.take(batch, mix.permutation(n)[:int(min(n, limit - result.written))])
                    del batch
                    arrays = columns.to_branch_arrays(chosen)
                else:
                    arrays = _empty(plan, read_names)
                n = len(arrays["tauType"])
                arrays.update(_defaults(disabled, n, arrays))
                writer.extend({name: arrays[name] for name in written_names})
                result.written += n
                pending.clear()

            # rounds: take input entries from the groups in proportion to what each has left
            remaining = np.array([s.remaining for s in streams], np.int64)
            n_pending = 0
            while remaining.sum() > 0 and result.written + n_pending < limit:
                k = mix.multivariate_hypergeometric(remaining, min(READ_ENTRIES, int(remaining.sum())))
                for s, kg in zip(streams, k):
                    for part in s.take(int(kg)):
                        pending.append(part)
                        n_pending += columns.chunk_length(part)
                remaining -= k
                result.read += int(k.sum())
                bar.update(int(k.sum()))
                if n_pending >= FLUSH_ENTRIES or result.written + n_pending >= limit:
                    flush()
                    n_pending = 0
            if pending or writer.entries == 0:
                flush()
            out_dir = opts.resolved_out_dir()
            plan.write_diagnostics(out_dir)
            write_hash_json(out_dir / "dataset_hash.json", sorted({d for g in plan.groups for d in g.datasets}))
            write_hash_json(out_dir / "datagroup_hash.json", [g.name for g in plan.groups])
    finally:
        bar.close()
        if executor:
            executor.shutdown()
    result.accepted = {(s.group.name, TauType(t).name): n for s in streams for t, n in s.accepted.items()}
    return result


def _empty(plan: Plan, read_names: list[str]) -> dict[str, object]:
    """Zero-entry arrays with the input's types, so a job that takes nothing still writes tree ``taus``."""
    first = plan.groups[0].files[0]
    arrays = _read(plan.tree(first), first.path(plan.opts.prefix), read_names, 0, 0, None)
    arrays.update(tauType=np.empty(0, np.int32), dataset_id=np.empty(0, np.uint64),
                  dataset_group_id=np.empty(0, np.uint64))
    return arrays
