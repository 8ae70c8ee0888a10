"""Streaming side of ShuffleMerge: feeds read random pieces of their files; blocks follow the planned order.

Memory: each stream holds at most one piece (``piece`` entries) and the writer one block (``block``
entries), so the peak does not depend on how many or how large the inputs are. Entries travel as numpy
buffers (``tauml.columns``): selecting, slicing and appending 552 branches costs a few ms, where the
same on awkward record arrays costs seconds. Only a few trees are open at a time (opening a 552-branch
tree costs ~0.2 s and ~6 MB).
"""
from __future__ import annotations

import math
import sys
from collections import OrderedDict, deque
from typing import TYPE_CHECKING

import numpy as np
import uproot
from tqdm import tqdm

from ..core import columns
from ..core.columns import Chunk, Collection
from ..core.errors import TaumlError
from ..core.io import TreeWriter, collection_layout, open_tree, require_branches, root_writer
from ..core.schema import branches

if TYPE_CHECKING:
    from .plan import Plan, Stream


class TreeCache:
    """Reads entry ranges of ``names``, keeping the last few trees open; checks each file on opening."""

    def __init__(self, names: list[str], n_threads: int = 1, capacity: int = 8):
        self.names = names
        self.capacity = capacity
        self._trees: OrderedDict[str, object] = OrderedDict()
        self._executor = uproot.ThreadPoolExecutor(n_threads) if n_threads > 1 else None

    def read(self, path: str, expected: int, start: int, stop: int) -> Chunk:
        tree = self._tree(path, expected)
        try:
            arrays = tree.arrays(self.names, entry_start=start, entry_stop=stop, library="ak", array_cache=None,
                                 decompression_executor=self._executor, interpretation_executor=self._executor)
        except Exception as err:
            raise TaumlError(f"{path}: cannot read entries {start}-{stop} of tree 'taus' ({err})") from err
        return columns.from_awkward(arrays, path)

    def _tree(self, path: str, expected: int):
        if path in self._trees:
            self._trees.move_to_end(path)
            return self._trees[path]
        tree = open_tree(path)
        if tree.num_entries != expected:
            raise TaumlError(f"{path}: has {tree.num_entries} entries but size_list.txt says {expected} "
                             "(rerun CreateTupleSizeList)")
        require_branches(tree, path, self.names)
        self._trees[path] = tree
        if len(self._trees) > self.capacity:
            _, old = self._trees.popitem(last=False)
            old.file.close()
        return tree

    def close(self) -> None:
        for tree in self._trees.values():
            tree.file.close()
        self._trees.clear()
        if self._executor is not None:
            self._executor.shutdown()


class StreamFeed:
    """The entries of one stream in random order: its files cut into pieces, visited in random order,
    each piece shuffled; with a quota below the available entries, the last piece taken is subsampled."""

    def __init__(self, stream: Stream, piece: int, rng: np.random.Generator, trees: TreeCache):
        self._files = stream.source.files
        self._piece = piece
        self._rng = rng
        self._trees = trees
        pieces = [math.ceil(n / piece) for _, n in self._files]
        self._first_piece = np.concatenate([[0], np.cumsum(pieces)]).astype(np.int64)
        self._order = rng.permutation(int(self._first_piece[-1]))
        self._next = 0
        self._to_select = stream.count
        self._queue: deque[Chunk] = deque()
        self._offset = 0

    def take(self, m: int) -> list[Chunk]:
        """The next ``m`` entries, in slices of the pieces read so far."""
        parts = []
        while m > 0:
            if not self._queue:
                self._queue.append(self._read_piece())
            head = self._queue[0]
            length = columns.chunk_length(head)
            n = min(m, length - self._offset)
            parts.append(head if n == length else columns.slice_copy(head, self._offset, self._offset + n))
            self._offset += n
            m -= n
            if self._offset == length:
                self._queue.popleft()
                self._offset = 0
        return parts

    def _read_piece(self) -> Chunk:
        if self._next >= len(self._order) or self._to_select <= 0:
            raise TaumlError("internal error: a stream was asked for more entries than planned")
        pid = int(self._order[self._next])
        self._next += 1
        f = int(np.searchsorted(self._first_piece, pid, side="right")) - 1
        path, n = self._files[f]
        start = (pid - int(self._first_piece[f])) * self._piece
        stop = min(start + self._piece, n)
        length = stop - start
        take = min(length, self._to_select)
        self._to_select -= take
        pick = self._rng.permutation(length) if take == length else self._rng.choice(length, take, replace=False)
        return columns.take(self._trees.read(path, n, start, stop), pick)


def entry_bytes(trees: TreeCache, path: str, entries: int, sample: int = 64) -> float:
    """In-memory size of one entry, measured on the first entries of ``path``."""
    n = min(entries, sample)
    return columns.chunk_nbytes(trees.read(path, entries, 0, n)) / n if n else 1.0


class OutputLayout:
    """Output branches grouped as tauml writes them, and how to fill those not read from the inputs."""

    def __init__(self, out_names: list[str], from_plan: set[str], disabled: set[str], jagged_read: set[str]):
        schema = branches()
        jagged = set(jagged_read) | {b for b in disabled if schema[b].jagged}
        self.groups = collection_layout(out_names, jagged)
        self.from_plan = from_plan
        self.disabled = disabled

    def complete(self, chunk: Chunk, stream: np.ndarray, plan_values: dict[str, np.ndarray]) -> Chunk:
        """``chunk`` (read branches, output order) plus plan values and defaults, in output branch order."""
        n = len(stream)
        out: Chunk = {}
        for key, members in self.groups.items():
            if members is None:
                if key in self.from_plan:
                    out[key] = plan_values[key][stream]
                elif key in self.disabled:
                    b = branches()[key]
                    out[key] = np.full(n, b.default, b.dtype)
                else:
                    out[key] = chunk[key]
                continue
            read = chunk.get(key)
            offsets = read.offsets if read is not None else np.zeros(n + 1, np.int64)
            contents = {}
            for m in members:
                if m in self.disabled:  # a collection shares one counter: one default per object
                    b = branches()[m]
                    contents[m] = np.full(int(offsets[-1]), b.default, b.dtype)
                else:
                    contents[m] = read.contents[m]
            out[key] = Collection(offsets, contents)
        return out


def write_plan(plan: Plan, output, trees: TreeCache, out_names: list[str], calc_weights: bool,
               disabled: set[str], piece: int, block: int, seed: int, salt: int, progress: bool = True) -> int:
    """Write ``plan`` to ``output`` (atomically); returns the number of entries written.

    ``sampleType`` comes from each stream's cfg item, ``trainingWeight`` from the plan if ``calc_weights``,
    disabled branches get their schema default; everything else comes from the inputs.
    """
    feeds = [StreamFeed(s, piece, np.random.default_rng([seed, salt, i]), trees)
             for i, s in enumerate(plan.streams)]
    plan_values = {"sampleType": np.array([int(s.source.entry.sample_type) for s in plan.streams], np.int32)}
    if calc_weights:
        plan_values["trainingWeight"] = np.array([s.weight for s in plan.streams], np.float32)
    counts = np.array([s.count for s in plan.streams], np.int64)
    total = int(counts.sum())
    n_blocks = max(1, math.ceil(total / block))
    lo = np.zeros_like(counts)
    layout = None
    with root_writer(output) as f, tqdm(total=total, unit=" entries", file=sys.stderr, mininterval=2,
                                        disable=not progress, desc=str(output)) as bar:
        writer = TreeWriter(f)
        for j in range(1, n_blocks + 1):
            hi = counts if j == n_blocks else np.minimum(plan.items_before(plan.stop * j / n_blocks), counts)
            if (hi > lo).any():
                stream, k = plan.block_order(lo, hi)
                entries = _gather(feeds, lo, hi, stream, k)
                if layout is None:
                    jagged = {m for v in entries.values() if isinstance(v, Collection) for m in v.contents}
                    layout = OutputLayout(out_names, set(plan_values), disabled, jagged)
                writer.extend(columns.to_writer_arrays(layout.complete(entries, stream, plan_values)))
                bar.update(len(stream))
            lo = hi
    return writer.entries


def _gather(feeds: list[StreamFeed], lo: np.ndarray, hi: np.ndarray, stream: np.ndarray, k: np.ndarray) -> Chunk:
    """The entries of one block in output order: item k of stream s is entry k - lo[s] of its part."""
    parts, start = [], np.zeros(len(feeds), np.int64)
    pos = 0
    for s in np.nonzero(hi > lo)[0]:
        start[s] = pos
        parts += feeds[s].take(int(hi[s] - lo[s]))
        pos += int(hi[s] - lo[s])
    return columns.take(columns.concatenate(parts), start[stream] + (k - lo[stream]))
