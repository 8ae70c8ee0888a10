"""ShuffleMerge: mixes binned tuples so that every stretch of the output has the same composition.

Plan first, then stream. The plan fixes, before any entry is read, how many entries each *stream* (one
cfg entry's files in one (tau type, pt, |eta|) bin) contributes: the bin's size N_b = min(max occupancy,
available) is split among its sources by weight (water-filling, spec §4 step 2). Item k of a stream with
quota q gets the time (k + u)/q, with u uniform from a counter-based hash of (seed, stream, k); sorting by
time interleaves all streams evenly, so any W consecutive output entries hold each stream about W·q/N ± 1 times.
``stream.py`` then writes the timeline in two passes over the inputs (each file read once), and ``merge.py``
runs the command.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from ..core.axis import check_edges
from ..core.binfiles import SIZE_LIST, bin_name, parse_bin_name
from ..core.cfgfile import read_cfg
from ..core.errors import TaumlError
from ..core.schema import SampleType, TauType

CFG_KEYS = ("dir", "file", "sample_type", "weight")
MAX_WEIGHT_RATIO = 1e7


class Grid:
    """The --pt-bins × --eta-bins grid. A bin file joins the grid bin that contains its lower edges."""

    def __init__(self, pt_edges: Iterable[float], eta_edges: Iterable[float]):
        self.pt = list(check_edges(pt_edges, "--pt-bins"))
        self.eta = list(check_edges(eta_edges, "--eta-bins"))
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
