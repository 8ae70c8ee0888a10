"""ShuffleMerge: mixes binned tuples so that every stretch of the output has the same composition.

Plan first, then stream. The plan fixes, before any entry is read, how many entries each *stream* (one
cfg entry's files in one (tau type, pt, |eta|) bin) contributes: the bin's size N_b = min(max occupancy,
available) is split among its sources by weight (water-filling, spec §4 step 2). Item k of a stream with
quota q gets the time (k + u)/q, with u uniform from a counter-based hash of (seed, stream, k); sorting by
time interleaves all streams evenly, so any W consecutive output entries hold each stream about W·q/N ± 1 times.
The stream then reads random pieces of its files in the order the timeline needs them and shuffles each
piece (``tauml.mixstream``); memory stays at one piece per stream plus one output block.
"""
from __future__ import annotations

import math
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from ..core.cfgfile import read_cfg
from ..core.errors import TaumlError
from ..core.io import open_tree, payload_branches
from .stream import TreeCache, entry_bytes, write_plan
from ..core.schema import SampleType, TauType, branches

CFG_KEYS = ("dir", "file", "sample_type", "weight")
SIZE_LIST = "size_list.txt"
MAX_WEIGHT_RATIO = 1e7
DEFAULT_SEED = 1234567
DEFAULT_BUFFER_MB = 1024
OPEN_TREE_BYTES = 8 * 2**20  # an open 552-branch tree in uproot
MODES = ("MergeAll", "MergePerEntry")
_BIN_NAME = re.compile(r"(?P<type>[a-z_]+?)_pt_(?P<pt>[-+0-9.eE]+)_eta_(?P<eta>[-+0-9.eE]+)")


def cell_name(pt_low: float, eta_low: float) -> str:
    """``pt_20_eta_0.000``: pt with 0 decimals, |eta| with 3, as CreateBinnedTuples names its files."""
    return f"pt_{pt_low:.0f}_eta_{eta_low:.3f}"


def bin_name(tau_type: TauType | int, pt_low: float, eta_low: float) -> str:
    """``tau_pt_20_eta_0.000``: the bin file name (without ``.root``) of a tau type and grid cell."""
    return f"{TauType(tau_type).name}_{cell_name(pt_low, eta_low)}"


def parse_bin_name(stem: str) -> tuple[TauType, float, float]:
    """``emb_tau_pt_20_eta_0.000`` -> (TauType.emb_tau, 20.0, 0.0); ValueError if it is not a bin name."""
    m = _BIN_NAME.fullmatch(stem)
    if not m or m.group("type") not in TauType.__members__:
        raise ValueError(f"'{stem}' is not '<tauType>_pt_<ptLow>_eta_<etaLow>'")
    try:
        return TauType[m.group("type")], float(m.group("pt")), float(m.group("eta"))
    except ValueError:
        raise ValueError(f"'{stem}' has a non-numeric pt or eta edge") from None


class Grid:
    """The --pt-bins × --eta-bins grid. A bin file joins the grid bin that contains its lower edges."""

    def __init__(self, pt_edges: Iterable[float], eta_edges: Iterable[float]):
        self.pt = [float(x) for x in pt_edges]
        self.eta = [float(x) for x in eta_edges]
        for label, edges in (("pt", self.pt), ("eta", self.eta)):
            if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
                raise TaumlError(f"--{label}-bins: need at least 2 strictly increasing edges, got {edges}")
        # file names carry rounded edges: compare in the same rounding
        self._pt_named = np.round(self.pt, 0)
        self._eta_named = np.round(self.eta, 3)

    def locate(self, pt_low: float, eta_low: float) -> tuple[int, int] | None:
        i = _locate(self._pt_named, round(pt_low, 0))
        j = _locate(self._eta_named, round(eta_low, 3))
        return None if i is None or j is None else (i, j)

    def name(self, tau_type: TauType, i: int, j: int) -> str:
        return bin_name(tau_type, self.pt[i], self.eta[j])

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.pt) - 1, len(self.eta) - 1


def _locate(edges: np.ndarray, value: float) -> int | None:
    i = int(np.searchsorted(edges, value, side="right")) - 1
    return i if 0 <= i < len(edges) - 1 else None


@dataclass(frozen=True)
class Entry:
    """One cfg item: which files it takes and how they enter the mix."""
    name: str
    dir: re.Pattern
    file: re.Pattern
    sample_type: SampleType
    weight: float


def read_merge_cfg(path: str | Path) -> list[Entry]:
    """Items of a ShuffleMerge cfg (``name: dir=REGEX file=REGEX [sample_type=MC] [weight=1]``), by name."""
    items = read_cfg(path, CFG_KEYS, required_keys=("dir", "file"))
    entries = []
    for name, props in items.items():
        where = f"{path}: item '{name}'"
        patterns = {}
        for key in ("dir", "file"):
            try:
                patterns[key] = re.compile(props[key])
            except re.error as err:
                raise TaumlError(f"{where}: bad {key} regex '{props[key]}' ({err})") from None
        sample = props.get("sample_type", "MC")
        if sample not in SampleType.__members__:
            raise TaumlError(f"{where}: sample_type must be one of {', '.join(SampleType.__members__)}, "
                             f"got '{sample}'")
        try:
            weight = float(props.get("weight", "1"))
        except ValueError:
            weight = math.nan
        if not weight > 0 or math.isinf(weight):
            raise TaumlError(f"{where}: weight must be a positive number, got '{props['weight']}'")
        entries.append(Entry(name, patterns["dir"], patterns["file"], SampleType[sample], weight))
    return entries


def read_size_list(input_dir: str | Path) -> list[tuple[str, int]]:
    """``(path relative to input_dir, entries)`` per line of ``<input_dir>/size_list.txt``."""
    path = Path(input_dir) / SIZE_LIST
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise TaumlError(f"{path}: cannot read size list ({err.strerror})") from None
    result = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            raise TaumlError(f"{path}:{lineno}: expected '<file> <entries>', got '{line}'")
        result.append((parts[0], int(parts[1])))
    return result


@dataclass
class Source:
    """The files of one cfg entry that fall into one bin."""
    entry: Entry
    files: list[tuple[str, int]] = field(default_factory=list)  # (path, entries)

    @property
    def size(self) -> int:
        return sum(n for _, n in self.files)


@dataclass
class Stream:
    """A source's share of its bin: ``quota`` planned entries, ``count`` written (after the uniformity cut)."""
    bin: str
    source: Source
    quota: int
    count: int = 0
    weight: float = math.nan  # trainingWeight of its entries, when computed


def match_files(entries: list[Entry], size_list: list[tuple[str, int]], input_dir: str | Path
                ) -> dict[str, list[tuple[str, TauType, float, float, int]]]:
    """Per entry name, its files as ``(path, tau type, pt low, eta low, entries)``.

    ``dir`` is full-matched against the file's directory relative to the input, ``file`` against its
    name without ``.root``. Each entry must match at least one file, each file at most one entry, and
    every matched file must be named like a bin.
    """
    owner: dict[str, str] = {}
    matched: dict[str, list] = {}
    for entry in entries:
        found = []
        for rel, n in size_list:
            p = PurePosixPath(rel)
            if p.suffix != ".root":
                continue
            if not (entry.dir.fullmatch(str(p.parent)) and entry.file.fullmatch(p.stem)):
                continue
            if rel in owner:
                raise TaumlError(f"{rel}: matched by cfg items '{owner[rel]}' and '{entry.name}'; "
                                 "each file may enter the mix once")
            owner[rel] = entry.name
            try:
                tau_type, pt, eta = parse_bin_name(p.stem)
            except ValueError as err:
                raise TaumlError(f"{Path(input_dir) / rel}: matched by cfg item '{entry.name}' but "
                                 f"not a bin file: {err}") from None
            found.append((str(Path(input_dir) / rel), tau_type, pt, eta, n))
        if not found:
            raise TaumlError(f"cfg item '{entry.name}': no file listed in {Path(input_dir) / SIZE_LIST} "
                             f"matches dir={entry.dir.pattern} file={entry.file.pattern}")
        matched[entry.name] = found
    return matched


def water_fill(sizes: list[int], weights: list[float], total: int) -> list[int]:
    """Split ``total`` among sources by weight, none beyond its size (spec §4 step 2).

    Rounds hand each source with spare entries min(ceil(R·w/W), spare, R − given this round), where R
    is what is still unassigned and W the weight of the sources with spare, visiting sources by weight
    (high first), then size (small first); ``sizes`` and ``weights`` come already in that order.
    """
    if total > sum(sizes):
        raise ValueError(f"cannot fill {total} from {sum(sizes)} entries")
    quota = [0] * len(sizes)
    left = total
    while left > 0:
        spare = [i for i, n in enumerate(sizes) if n > quota[i]]
        w_sum = sum(weights[i] for i in spare)
        given = 0
        for i in spare:
            share = min(math.ceil(left * weights[i] / w_sum), sizes[i] - quota[i], left - given)
            quota[i] += share
            given += share
        left -= given
    return quota


# splitmix64, vectorised: uniform numbers from (seed, stream, item) without any state
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


@dataclass
class Plan:
    """Exact quotas and the output timeline of one output file."""
    streams: list[Stream]
    bins: list[str]
    key: int  # mixes --seed and the output's index
    stop: float = 1.0  # time of the last written item's end: below 1 after the uniformity cut

    def times(self, stream: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Time in [0, 1) of item ``k`` of ``stream`` (arrays of equal shape)."""
        stream = np.asarray(stream, np.int64)
        k = np.asarray(k, np.int64)
        h = _splitmix(_splitmix(np.full(stream.shape, self.key, np.uint64) ^ stream.astype(np.uint64))
                      ^ k.astype(np.uint64))
        u = (h >> np.uint64(11)).astype(np.float64) * 2.0**-53
        q = np.array([s.quota for s in self.streams], np.float64)[stream]
        return (k + u) / q

    def items_before(self, tau: float, inclusive: bool = False) -> np.ndarray:
        """Per stream, how many of its items have time < tau (<= tau if inclusive)."""
        q = np.array([s.quota for s in self.streams], np.int64)
        k0 = np.floor(tau * q).astype(np.int64)
        cand = np.clip(k0[:, None] + np.array([-1, 0, 1]), 0, (q - 1)[:, None])
        t = self.times(np.broadcast_to(np.arange(len(q))[:, None], cand.shape), cand)
        ok = t <= tau if inclusive else t < tau
        return np.where(ok, cand + 1, 0).max(axis=1)

    @property
    def total(self) -> int:
        return sum(s.count for s in self.streams)

    def block_order(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(stream, k) of the items lo[s] <= k < hi[s], sorted by time: the output order of a block."""
        sizes = hi - lo
        stream = np.repeat(np.arange(len(sizes)), sizes)
        k = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes) + np.repeat(lo, sizes)
        order = np.lexsort((stream, self.times(stream, k)))
        return stream[order], k[order]


def plan_merge(entries: list[Entry], files: dict[str, list], grid: Grid, max_bin_occupancy: int | None,
               calc_weights: bool, ensure_uniformity: bool, seed: int, salt: int = 0,
               log: Callable[[str], None] = lambda msg: None) -> Plan:
    """Streams with their quotas, uniformity cut and training weights for the files of ``entries``."""
    sources: dict[tuple[TauType, int, int], dict[str, Source]] = defaultdict(dict)
    types: set[TauType] = set()
    ignored = 0
    for entry in entries:
        for path, tau_type, pt, eta, n in files[entry.name]:
            types.add(tau_type)
            cell = grid.locate(pt, eta)
            if cell is None:
                ignored += 1
                continue
            sources[(tau_type, *cell)].setdefault(entry.name, Source(entry)).files.append((path, n))
    if ignored:
        log(f"{ignored} matched file(s) lie outside the pt/eta grid and are ignored")
    streams: list[Stream] = []
    bins: list[str] = []
    empty: list[str] = []
    n_pt, n_eta = grid.shape
    for tau_type in sorted(types):
        for i in range(n_pt):
            for j in range(n_eta):
                name = grid.name(tau_type, i, j)
                srcs = sorted(sources.get((tau_type, i, j), {}).values(),
                              key=lambda s: (-s.entry.weight, s.size, s.entry.name))
                available = sum(s.size for s in srcs)
                if available == 0:
                    empty.append(name)
                    continue
                size = available if max_bin_occupancy is None else min(max_bin_occupancy, available)
                quotas = water_fill([s.size for s in srcs], [s.entry.weight for s in srcs], size)
                bins.append(name)
                streams += [Stream(name, s, q, q) for s, q in zip(srcs, quotas) if q > 0]
                log(f"{name}: {size} of {available} entries from "
                    + ", ".join(f"{s.entry.name}={q}" for s, q in zip(srcs, quotas)))
    if empty:
        if calc_weights:
            raise TaumlError(f"{len(empty)} empty bin(s), cannot compute weights: {', '.join(empty)} "
                             "(use wider bins, or --calc-weights false to drop empty bins)")
        log(f"{len(empty)} empty bin(s) dropped: {', '.join(empty)}")
    if not streams:
        raise TaumlError("no entries to merge: every bin is empty")
    key = int(_splitmix(_splitmix(np.array([seed], np.uint64)) ^ np.array([salt], np.uint64))[0])
    plan = Plan(streams, bins, key)
    if ensure_uniformity:
        _cut_at_first_exhausted_bin(plan)
    if calc_weights:
        _assign_weights(plan)
    return plan


def _cut_at_first_exhausted_bin(plan: Plan) -> None:
    """Keep the output up to the moment the first bin runs out of entries (--ensure-uniformity)."""
    last = plan.times(np.arange(len(plan.streams)), np.array([s.quota - 1 for s in plan.streams]))
    bin_end: dict[str, float] = {}
    for s, t in zip(plan.streams, last):
        bin_end[s.bin] = max(bin_end.get(s.bin, 0.0), t)
    stop = min(bin_end.values())
    plan.stop = stop
    for s, n in zip(plan.streams, plan.items_before(stop, inclusive=True)):
        s.count = int(n)


def _assign_weights(plan: Plan) -> None:
    """trainingWeight = 1/(n_bins · entries written in the bin): every bin sums to 1/n_bins."""
    per_bin: dict[str, int] = defaultdict(int)
    for s in plan.streams:
        per_bin[s.bin] += s.count
    written = {b: n for b, n in per_bin.items() if n > 0}
    weights = {b: 1.0 / (len(written) * n) for b, n in written.items()}
    ratio = max(weights.values()) / min(weights.values())
    if ratio >= MAX_WEIGHT_RATIO:
        raise TaumlError(f"training weights span a factor {ratio:.3g} (limit {MAX_WEIGHT_RATIO:.0e}): "
                         "bins are too unequal; lower --max-bin-occupancy or merge bins")
    for s in plan.streams:
        s.weight = weights.get(s.bin, math.nan)


def stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def shuffle_merge(cfg, input_dir, output, pt_bins, eta_bins, mode: str = "MergeAll", calc_weights: bool = False,
                  ensure_uniformity: bool = False, max_bin_occupancy: int | None = None,
                  disabled_branches: Iterable[str] = (), seed: int = DEFAULT_SEED, n_threads: int = 1,
                  buffer_mb: float = DEFAULT_BUFFER_MB, progress: bool = True,
                  log: Callable[[str], None] = stderr_log) -> dict[str, int]:
    """Run ShuffleMerge; returns ``{output file: entries written}``.

    MergeAll writes every cfg item into the file ``output``; MergePerEntry writes one file
    ``<output>/<item>.root`` per item. Everything is planned (and the cfg validated) before the first
    entry is read, and a failure leaves no output of this run behind.
    """
    if mode not in MODES:
        raise TaumlError(f"--mode must be one of {', '.join(MODES)}, got '{mode}'")
    if not 0 <= seed < 2**64:
        raise TaumlError(f"--seed must be in [0, 2^64), got {seed}")
    if max_bin_occupancy is not None and max_bin_occupancy < 1:
        raise TaumlError(f"--max-bin-occupancy must be positive, got {max_bin_occupancy}")
    entries = read_merge_cfg(cfg)
    grid = Grid(pt_bins, eta_bins)
    files = match_files(entries, read_size_list(input_dir), input_dir)
    if mode == "MergeAll":
        jobs = [(Path(output), entries)]
    else:
        for e in entries:
            if "/" in e.name or e.name.startswith("."):
                raise TaumlError(f"{cfg}: item name '{e.name}' cannot be a file name (MergePerEntry)")
        jobs = [(Path(output) / f"{e.name}.root", [e]) for e in entries]
    plans = []
    for salt, (path, job_entries) in enumerate(jobs):
        log(f"planning {path}")
        plans.append(plan_merge(job_entries, files, grid, max_bin_occupancy, calc_weights, ensure_uniformity,
                                seed, salt, log))
    first_file, first_size = plans[0].streams[0].source.files[0]
    out_names, read_names = _branch_names(first_file, calc_weights, list(disabled_branches))
    disabled = {b for b in disabled_branches if b not in read_names and b != "sampleType"
                and not (calc_weights and b == "trainingWeight")}
    budget = buffer_mb * 2**20
    trees = TreeCache(read_names, n_threads, capacity=int(np.clip(budget / 4 / OPEN_TREE_BYTES, 4, 64)))
    written: dict[str, int] = {}
    try:
        per_entry = entry_bytes(trees, first_file, first_size)
        block = int(np.clip(budget / (4 * per_entry), 256, 20_000))
        for salt, ((path, _), plan) in enumerate(zip(jobs, plans)):
            piece = int(np.clip(budget / (2 * len(plan.streams) * per_entry), 32, 100_000))
            log(f"writing {path}: {plan.total} entries from {len(plan.streams)} streams in {len(plan.bins)} "
                f"bins (pieces of {piece}, blocks of {block} entries, ~{per_entry / 1024:.1f} KiB/entry)")
            written[str(path)] = write_plan(plan, path, trees, out_names, calc_weights, disabled, piece, block,
                                            seed, salt, progress)
    except BaseException:
        for path in written:
            Path(path).unlink(missing_ok=True)
        raise
    finally:
        trees.close()
    return written


def _branch_names(path: str, calc_weights: bool, disabled: list[str]) -> tuple[list[str], list[str]]:
    """(output branches, branches read from the inputs).

    The output carries every branch of the inputs in their order; ``sampleType`` (and ``trainingWeight``
    with weights) come from the plan; disabled branches are not read and get the schema default.
    """
    payload = payload_branches(open_tree(path))
    unknown = [b for b in disabled if b not in branches()]
    if unknown:
        raise TaumlError(f"--disabled-branches: {', '.join(unknown)} not TauTuple branch(es), no default known")
    from_plan = ["sampleType"] + (["trainingWeight"] if calc_weights else [])
    out_names = list(dict.fromkeys(payload + from_plan + disabled))
    read_names = [b for b in payload if b not in from_plan and b not in disabled]
    return out_names, read_names
