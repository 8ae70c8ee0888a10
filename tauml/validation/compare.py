"""validation_tool: are the chunks of a shuffled merge statistically alike? (spec §6)

The inputs (``ShuffleMergeSpectral`` outputs) are read in file order, sorted by path, and entry order; entry
``e`` of ``N`` belongs to chunk ``e * nsplit // N``. Each chunk's distributions (tauType, sampleType, dataset
group and, optionally, dataset; tau pt and eta in each bin of those; dataset per group) are compared with a
reference: chunk 0 as the original does, or the sum of all other chunks (``reference="rest"``). A good mix
gives p-values spread uniformly; a sorted one gives tiny p-values.

Histograms are filled as counts per (chunk, binning-variable bin, observable bin) with one ``np.bincount``
per pair and input block, so the whole validation is a single streaming pass over six branches.
"""
from __future__ import annotations

import os
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import awkward as ak
import numpy as np
from scipy import special
from tqdm import tqdm

from ..core.axis import Axis
from ..core.entries import tree_entries
from ..core.errors import TaumlError
from ..core.hashing import read_hash_json
from ..core.io import iterate, open_tree, require_branches
from ..core.remote import find_files
from ..core.schema import SampleType, TauType

BRANCHES = ("tau_pt", "tau_eta", "tauType", "sampleType", "dataset_id", "dataset_group_id")
DEFAULT_REGEX = r".*\.root$"
TESTS = ("Chi2", "KS")
REFERENCES = ("first", "rest")
CORRECTIONS = ("none", "bonferroni")
EMPTY_PVALUE = 99  # the original's marker for "one of the two histograms is empty"
STEP_SIZE = 250_000  # entries per read block (larger blocks only add page faults)
TASK_ENTRIES = 4_000_000  # entries per parallel task (a file is split into ranges of this size)


TAU_PT = Axis.regular(50, 0.0, 5000.0, "tau_pt")
TAU_ETA = Axis.regular(5, -3.2, 3.2, "tau_eta")
TAU_TYPE = Axis.regular(10, 0.0, 10.0, "tauType", {t.value: t.name for t in TauType})
SAMPLE_TYPE = Axis.regular(20, -1.0, 19.0, "sampleType", {s.value: s.name for s in SampleType})
OBSERVABLES = (TAU_PT, TAU_ETA)
OBSERVABLE_BRANCHES = tuple(a.name for a in OBSERVABLES)  # NaN or inf there is an error: no bin holds it


def hash_axis(name: str, hashes: dict[str, int]) -> Axis:
    """One bin per JSON entry, in file order; bin value i is the index of the hash (``uh_*`` in the original)."""
    return Axis.regular(len(hashes), 0.0, float(len(hashes)), name, dict(enumerate(hashes)))


def load_hashes(path: str | os.PathLike) -> dict[str, int]:
    """``{"name": "hash"}`` as ShuffleMergeSpectral writes it, with the hashes as integers."""
    data = read_hash_json(path)
    if not data:
        raise TaumlError(f"{path}: expected a non-empty JSON object {{name: \"hash\"}}")
    hashes = {name: int(value) for name, value in data.items()}
    too_big = [name for name, h in hashes.items() if h >= 2**64]
    if too_big:
        raise TaumlError(f"{path}: hash of '{too_big[0]}' is not an unsigned 64-bit integer")
    return hashes


class HashIndex:
    """Position of 64-bit values in a list of hashes (first occurrence; the list's length if absent).

    A collision-free multiplicative hash table on the hashes: two look-ups per value, about four times
    faster than a binary search over the sorted hashes.
    """

    def __init__(self, hashes: list[int]):
        first: dict[int, int] = {}
        for i, h in enumerate(hashes):
            first.setdefault(h, i)
        keys = np.array(list(first), np.uint64)
        self.size = len(hashes)
        self.hashes = np.append(np.asarray(hashes, np.uint64), np.uint64(0))  # [size]: the "absent" slot
        self.shift = np.uint64(64 - (2 * int(np.ceil(np.log2(len(keys) + 1))) + 1))
        rng = np.random.default_rng(0)
        while True:  # each odd multiplier is collision-free with probability > 1/2
            self.mult = rng.integers(1, 2**63, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
            slots = self._slots(keys)
            if len(np.unique(slots)) == len(keys):
                break
        self.table = np.full(1 << (64 - int(self.shift)), self.size, np.int64)
        self.table[slots] = list(first.values())

    def _slots(self, values: np.ndarray) -> np.ndarray:
        return (values * self.mult) >> self.shift

    def __call__(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, np.uint64)
        candidate = self.table[self._slots(values)]
        return np.where(self.hashes[candidate] == values, candidate, self.size)


def find_inputs(input_dir: str | os.PathLike, regex: str = DEFAULT_REGEX) -> list[str]:
    """Files under ``input_dir`` (recursively, hidden ones left out) whose name holds a match of ``regex``
    (``re.search``, e.g. ``ShuffleMergeSpectral_[0-9]+\\.root$``), sorted by path."""
    try:
        pattern = re.compile(regex)
    except re.error as err:
        raise TaumlError(f"--regex '{regex}' is not a valid regular expression ({err})") from err
    found = find_files([input_dir], lambda path, name: pattern.search(name))
    if not found:
        raise TaumlError(f"{input_dir}: no file matches --regex '{regex}'")
    return found


@dataclass
class Binning:
    """The axes of one run and the (binning variable, observable) pairs that are filled."""

    axes: dict[str, Axis]
    pairs: list[tuple[str, str]]
    group_index: HashIndex
    dataset_index: HashIndex

    @classmethod
    def build(cls, datasets: dict[str, int], groups: dict[str, int], use_dataset_id: bool) -> Binning:
        group_axis = hash_axis("uh_dataset_group_id", groups)
        dataset_axis = hash_axis("uh_dataset_id", datasets)
        binned = [TAU_TYPE, SAMPLE_TYPE, group_axis] + [dataset_axis] * use_dataset_id
        axes = {a.name: a for a in [*binned, *OBSERVABLES, dataset_axis]}
        pairs = [(b.name, o.name) for b in binned for o in OBSERVABLES]
        pairs.append((group_axis.name, dataset_axis.name))
        return cls(axes, pairs, HashIndex(list(groups.values())), HashIndex(list(datasets.values())))

    def bin_indices(self, block: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = {
            "tau_pt": block["tau_pt"], "tau_eta": block["tau_eta"], "tauType": block["tauType"],
            "sampleType": block["sampleType"],
        }
        idx = {name: self.axes[name].index(v) for name, v in values.items()}
        # ``len`` (absent) falls into the overflow bin: such entries count for chunk sizes but in no test
        idx["uh_dataset_group_id"] = self.group_index(block["dataset_group_id"]) + 1
        idx["uh_dataset_id"] = self.dataset_index(block["dataset_id"]) + 1
        return idx


class ChunkCounts:
    """Counts per (chunk, bin of the binning variable, bin of the observable), flow bins included."""

    def __init__(self, binning: Binning, nsplit: int):
        self.binning = binning
        self.nsplit = nsplit
        ax = binning.axes
        self.counts = {(a, b): np.zeros((nsplit, ax[a].n + 2, ax[b].n + 2), np.int64)
                       for a, b in binning.pairs}

    def fill(self, chunk: np.ndarray, idx: dict[str, np.ndarray]) -> None:
        outer: dict[str, np.ndarray] = {}  # (chunk, binning-variable bin) index, shared by its pairs
        for (a, b), c in self.counts.items():
            if a not in outer:
                outer[a] = chunk * c.shape[1] + idx[a]
            flat = outer[a] * c.shape[2] + idx[b]
            c += np.bincount(flat, minlength=c.size).reshape(c.shape)

    def add(self, other: ChunkCounts) -> None:
        for key, c in self.counts.items():
            c += other.counts[key]


@dataclass
class InputFile:
    path: str
    entries: int
    offset: int  # global index of its first entry


def scan_inputs(paths: list[str]) -> list[InputFile]:
    """Checks every file up front (tree, branches) and assigns global entry offsets in file order. Files
    without tree ``taus`` (ShuffleMergeSpectral's diagnostics histograms in hashes/) are skipped."""
    files, offset = [], 0
    for path in paths:
        if tree_entries(path) is None:
            print(f"validation_tool: {path}: no tree 'taus', skipped", file=sys.stderr)
            continue
        tree = open_tree(path)
        require_branches(tree, path, BRANCHES)
        files.append(InputFile(path, tree.num_entries, offset))
        offset += tree.num_entries
    if offset == 0:
        raise TaumlError(f"{len(paths)} input file(s), starting with {paths[0]}: no entries in tree 'taus'")
    return files


def _read_block(block: ak.Array) -> dict[str, np.ndarray]:
    return {name: ak.to_numpy(block[name]) for name in BRANCHES}


def fill_counts(files: list[InputFile], binning: Binning, nsplit: int, n_threads: int = 1,
                step_size: int = STEP_SIZE, task_entries: int = TASK_ENTRIES, progress: bool = True) -> ChunkCounts:
    """One pass over all entries; ranges of files are read in parallel by ``n_threads`` threads.

    The chunk of an entry depends only on its global index, so the result does not depend on the order
    in which ranges finish (unlike the original's ``rdfentry_`` under implicit multi-threading).
    """
    total_entries = files[-1].offset + files[-1].entries
    total = ChunkCounts(binning, nsplit)
    lock = threading.Lock()
    bar = tqdm(total=total_entries, unit=" entries", file=sys.stderr, disable=not progress or None,
               desc="validation_tool", mininterval=5)

    def fill_range(f: InputFile, start: int, stop: int) -> None:
        part = ChunkCounts(binning, nsplit)
        first = f.offset + start
        for block in iterate(f.path, list(BRANCHES), step_size, entry_start=start, entry_stop=stop,
                             finite=OBSERVABLE_BRANCHES):
            arrays = _read_block(block)
            n = len(arrays["tau_pt"])
            chunk = (np.arange(first, first + n, dtype=np.int64) * nsplit) // total_entries
            part.fill(chunk, binning.bin_indices(arrays))
            first += n
            with lock:
                bar.update(n)
        with lock:
            total.add(part)

    ranges = [(f, s, min(s + task_entries, f.entries)) for f in files for s in range(0, f.entries, task_entries)]
    try:
        with ThreadPoolExecutor(max(1, n_threads)) as pool:
            for future in [pool.submit(fill_range, *r) for r in ranges]:
                future.result()
    finally:
        bar.close()
    return total


def chi2_pvalues(ref: np.ndarray, h: np.ndarray) -> np.ndarray:
    """ROOT's ``TH1::Chi2Test`` of two unweighted histograms ("UU"; = "NORM" on unweighted ones), row-wise.

    Bins empty in both histograms are left out of the degrees of freedom. Where both histograms have all
    entries in one and the same bin (ndf = 0) the shapes are identical and p = 1; ROOT returns 0 there.
    """
    ref, h = ref.astype(np.float64), h.astype(np.float64)
    n1, n2 = ref.sum(-1, keepdims=True), h.sum(-1, keepdims=True)
    both = ref + h
    used = both > 0
    delta2 = (n2 * ref - n1 * h) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = np.where(used, delta2 / np.where(used, both, 1.0), 0.0).sum(-1) / (n1 * n2)[..., 0]
        ndf = used.sum(-1) - 1
        p = np.where(ndf > 0, special.chdtrc(np.maximum(ndf, 1), chi2), 1.0)  # chi2 survival function
    return _mark_empty(p, n1[..., 0], n2[..., 0])


def ks_pvalues(ref: np.ndarray, h: np.ndarray) -> np.ndarray:
    """ROOT's ``TH1::KolmogorovTest`` of two unweighted histograms (default options), row-wise.

    The largest distance between the binned cumulative distributions, scaled by sqrt(n1 n2 / (n1 + n2)),
    through the Kolmogorov distribution. On binned data this p-value is conservative (too large).
    """
    ref, h = ref.astype(np.float64), h.astype(np.float64)
    n1, n2 = ref.sum(-1), h.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cdf1 = np.cumsum(ref, -1) / n1[..., None]
        cdf2 = np.cumsum(h, -1) / n2[..., None]
        z = np.abs(cdf1 - cdf2).max(-1) * np.sqrt(n1 * n2 / (n1 + n2))
        p = special.kolmogorov(np.nan_to_num(z))
    return _mark_empty(p, n1, n2)


def _mark_empty(p: np.ndarray, n1: np.ndarray, n2: np.ndarray) -> np.ndarray:
    return np.where((n1 > 0) & (n2 > 0), p, float(EMPTY_PVALUE))


PVALUE_FUNCTIONS = {"Chi2": chi2_pvalues, "KS": ks_pvalues}


@dataclass
class Comparison:
    """One test path: per-chunk counts of one observable (flow bins included) and a p-value per chunk."""

    path: str
    axis: Axis
    counts: np.ndarray  # (nsplit, nbins + 2)
    pvalues: list[float | None]  # per chunk; None for the reference chunk (not compared with itself)
    title: str = ""  # the path in words: "tau_pt for tauType = tau"

    def compared(self) -> list[tuple[int, float]]:
        """(chunk, p-value) of the chunks tested against the reference."""
        return [(i, p) for i, p in enumerate(self.pvalues) if p is not None]

    def failing(self, threshold: float) -> list[int]:
        return [i for i, p in self.compared() if p < threshold]


def compare(counts: np.ndarray, test: str = "Chi2", reference: str = "first") -> list[float | None]:
    """p-value of each chunk's in-range bins against chunk 0 or against the sum of all other chunks; chunk 0
    is the reference itself with "first", its entry is None."""
    inner = counts[:, 1:-1]
    ref = np.broadcast_to(inner[0], inner.shape) if reference == "first" else inner.sum(0) - inner
    p = PVALUE_FUNCTIONS[test](ref, inner)
    values: list[float | None] = [EMPTY_PVALUE if v == EMPTY_PVALUE else float(v) for v in p]
    if reference == "first":
        values[0] = None
    return values


TITLE_NAMES = {"uh_dataset_group_id": "dataset group", "uh_dataset_id": "dataset"}


def describe_path(path: str, axes: dict[str, Axis]) -> str:
    """``tauType/2/tau_pt`` -> ``tau_pt for tauType = tau``; group and dataset bins by their JSON names."""
    parts = path.split("/")
    if len(parts) == 1:
        return f"{TITLE_NAMES.get(path, path)} distribution"
    name, value, obs = parts
    axis = axes[name]
    b = int(np.searchsorted(axis.edges, float(value), side="right"))
    return f"{TITLE_NAMES.get(obs, obs)} for {TITLE_NAMES.get(name, name)} = {axis.bin_label(b)}"


def comparisons(cc: ChunkCounts, use_dataset_id: bool, test: str = "Chi2",
                reference: str = "first") -> list[Comparison]:
    """The spec's tests in the original's order: 1-D distributions, tau pt per bin, tau eta per bin,
    dataset per group; a per-bin test exists only where the bin has entries."""
    ax = cc.binning.axes
    group, dataset = "uh_dataset_group_id", "uh_dataset_id"
    binned = [a for a, b in cc.binning.pairs if b == "tau_pt"]
    selections: list[tuple[str, Axis, np.ndarray]] = []
    for name in binned:
        selections.append((name, ax[name], cc.counts[(name, "tau_pt")].sum(2)))
    nested = [(name, obs) for obs in ("tau_pt", "tau_eta") for name in binned]
    if use_dataset_id:
        nested.append((group, dataset))
    for name, obs in nested:
        c = cc.counts[(name, obs)]
        for b in range(1, ax[name].n + 1):
            if c[:, b, :].any():
                selections.append((f"{name}/{ax[name].bin_value(b)}/{obs}", ax[obs], c[:, b, :]))
    return [Comparison(path, axis, counts, compare(counts, test, reference), describe_path(path, ax))
            for path, axis, counts in selections]


@dataclass
class Report:
    files: list[InputFile]
    comparisons: list[Comparison]
    test: str
    reference: str
    nsplit: int
    unknown: dict[str, int]  # entries whose hash is absent from the JSON, per id branch

    @property
    def entries(self) -> int:
        return self.files[-1].offset + self.files[-1].entries


def chunk_threshold(report: Report, pvthreshold: float, correction: str = "none") -> float:
    """The p-value every chunk must reach.

    "none" (the original): ``pvthreshold`` itself, so even a perfect mix of 100 chunks fails a test with
    probability 1 - 0.95**99 = 99 % at 0.05. "bonferroni": ``pvthreshold`` over the number of p-values of the
    run, so a perfect mix fails anywhere with probability <= ``pvthreshold`` (valid for correlated p-values).
    """
    if correction not in CORRECTIONS:
        raise TaumlError(f"unknown correction '{correction}' (choose from {', '.join(CORRECTIONS)})")
    if not 0 <= pvthreshold <= 1:
        raise TaumlError(f"--pvthreshold must lie in [0, 1], got {pvthreshold}")
    if correction == "none":
        return pvthreshold
    n = sum(p != EMPTY_PVALUE for c in report.comparisons for _, p in c.compared())
    return pvthreshold / max(n, 1)


def run_validation(input_dir, id_json, group_id_json, regex: str = DEFAULT_REGEX, nsplit: int = 100,
                   test: str = "Chi2", reference: str = "first", use_dataset_id: bool = False,
                   n_threads: int = 1, progress: bool = True) -> Report:
    if test not in TESTS:
        raise TaumlError(f"unknown test '{test}' (choose from {', '.join(TESTS)})")
    if reference not in REFERENCES:
        raise TaumlError(f"unknown reference '{reference}' (choose from {', '.join(REFERENCES)})")
    if nsplit < 2:
        raise TaumlError(f"--nsplit must be at least 2, got {nsplit}")
    datasets, groups = load_hashes(id_json), load_hashes(group_id_json)
    files = scan_inputs(find_inputs(input_dir, regex))
    binning = Binning.build(datasets, groups, use_dataset_id)
    cc = fill_counts(files, binning, nsplit, n_threads, progress=progress)
    pair = cc.counts[("uh_dataset_group_id", "uh_dataset_id")]
    unknown = {"dataset_group_id": int(pair[:, -1, :].sum()), "dataset_id": int(pair[:, :, -1].sum())}
    return Report(files, comparisons(cc, use_dataset_id, test, reference), test, reference, nsplit, unknown)
