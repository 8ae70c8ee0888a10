"""Branch arrays as plain numpy buffers, so selecting, concatenating and shuffling entries of a 552-branch
TauTuple costs a few numpy calls per branch instead of awkward's per-field record machinery."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import awkward as ak
import numpy as np


class Jagged:
    """A list-per-entry branch: ``offsets`` (n + 1, starting at 0) and the flat ``content``."""
    __slots__ = ("offsets", "content")

    def __init__(self, offsets: np.ndarray, content: np.ndarray):
        self.offsets, self.content = offsets, content

    @classmethod
    def from_awkward(cls, array: ak.Array) -> "Jagged":
        layout = array.layout.to_ListOffsetArray64(True)
        offsets = np.asarray(layout.offsets.data, np.int64)
        content = np.asarray(layout.content.data)[offsets[0]:offsets[-1]]
        return cls(offsets - offsets[0], content)

    def to_awkward(self) -> ak.Array:
        return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(self.offsets),
                                                    ak.contents.NumpyArray(self.content)))


def _gather_index(offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(new offsets, content positions) of the lists ``rows``, in that order."""
    starts = offsets[rows]
    counts = offsets[rows + 1] - starts
    new = np.zeros(rows.size + 1, np.int64)
    np.cumsum(counts, out=new[1:])
    return new, np.repeat(starts - new[:-1], counts) + np.arange(new[-1])


class Columns:
    """Equal-length branches: numpy arrays (scalars) or ``Jagged``; ``take`` and ``concat`` keep the order."""

    def __init__(self, data: Mapping[str, np.ndarray | Jagged], n: int):
        self.data, self.n = dict(data), n

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, ak.Array], n: int) -> "Columns":
        data = {}
        for name, array in arrays.items():
            layout = array.layout
            data[name] = layout.data if isinstance(layout, ak.contents.NumpyArray) else Jagged.from_awkward(array)
        return cls(data, n)

    def __len__(self) -> int:
        return self.n

    def take(self, rows: np.ndarray) -> "Columns":
        rows = np.asarray(rows, np.int64)
        cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # jagged branches of a collection share offsets
        out = {}
        for name, col in self.data.items():
            if isinstance(col, Jagged):
                key = _offsets_key(col.offsets, cache)
                if key not in cache:
                    cache[key] = (col.offsets, _gather_index(col.offsets, rows))
                new_offsets, index = cache[key][1]
                out[name] = Jagged(new_offsets, col.content[index])
            else:
                out[name] = col[rows]
        return Columns(out, rows.size)

    def slice(self, lo: int, hi: int) -> "Columns":
        """Entries ``lo:hi`` as views."""
        out = {}
        for name, col in self.data.items():
            if isinstance(col, Jagged):
                out[name] = Jagged(col.offsets[lo:hi + 1] - col.offsets[lo], col.content[col.offsets[lo]:col.offsets[hi]])
            else:
                out[name] = col[lo:hi]
        return Columns(out, hi - lo)

    def with_columns(self, **columns: np.ndarray) -> "Columns":
        return Columns({**self.data, **columns}, self.n)

    @staticmethod
    def concat(parts: Sequence["Columns"]) -> "Columns":
        if len(parts) == 1:
            return parts[0]
        out = {}
        for name, first in parts[0].data.items():
            cols = [p.data[name] for p in parts]
            if isinstance(first, Jagged):
                shifts = np.cumsum([0] + [c.offsets[-1] for c in cols[:-1]])
                offsets = np.concatenate([cols[0].offsets[:1]] + [c.offsets[1:] + s for c, s in zip(cols, shifts)])
                out[name] = Jagged(offsets, np.concatenate([c.content for c in cols]))
            else:
                out[name] = np.concatenate(cols)
        return Columns(out, sum(p.n for p in parts))

    def arrays(self) -> dict[str, np.ndarray | ak.Array]:
        """What ``TreeWriter.extend`` takes."""
        return {name: col.to_awkward() if isinstance(col, Jagged) else col for name, col in self.data.items()}


def _offsets_key(offsets: np.ndarray, cache: Mapping[int, tuple[np.ndarray, object]]) -> int:
    """Key of an offsets array equal to one already seen (same collection), or a new key."""
    for key, (seen, _) in cache.items():
        if seen is offsets or (seen.size == offsets.size and np.array_equal(seen, offsets)):
            return key
    return len(cache)
