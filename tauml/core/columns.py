"""A chunk of TauTuple entries as plain numpy buffers, cheap to select, send between processes and append.

Scalars are kept by branch name; jagged branches by collection (``pfCand`` ...) with one offsets array
shared by the collection's members, exactly the layout tauml writes (one counter per collection). Both
input forms (``std::vector`` branches and counted arrays) arrive here as the same buffers.
"""
from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from .errors import TaumlError
from .io import collection_layout


@dataclass
class Collection:
    offsets: np.ndarray  # int64, n + 1 values starting at 0
    contents: dict[str, np.ndarray]  # branch name -> flat values

    @property
    def nbytes(self) -> int:
        return self.offsets.nbytes + sum(c.nbytes for c in self.contents.values())


Chunk = dict[str, "np.ndarray | Collection"]


def chunk_length(chunk: Chunk) -> int:
    first = next(iter(chunk.values()), None)
    if first is None:
        return 0
    return len(first.offsets) - 1 if isinstance(first, Collection) else len(first)


def chunk_nbytes(chunk: Chunk) -> int:
    return sum(v.nbytes for v in chunk.values())


def _list_buffers(layout, name: str, path) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(layout, ak.contents.ListArray):
        layout = layout.to_ListOffsetArray64(True)
    if not isinstance(layout, ak.contents.ListOffsetArray) or not isinstance(layout.content, ak.contents.NumpyArray):
        raise TaumlError(f"{path}: branch '{name}' has an unsupported type ({layout.form.type})")
    offsets = np.asarray(layout.offsets.data, np.int64)
    content = np.asarray(layout.content.data)[offsets[0]:offsets[-1]]
    return offsets - offsets[0], content


def from_awkward(array: ak.Array, path) -> Chunk:
    """Buffers of a record array as read by uproot; members of a collection must have equal lengths."""
    layout = array.layout
    values = {}
    for name in layout.fields:
        content = layout.content(name)
        values[name] = np.asarray(content.data) if isinstance(content, ak.contents.NumpyArray) else \
            _list_buffers(content, name, path)
    return from_buffers(values, path)


def from_buffers(values: dict[str, np.ndarray | tuple[np.ndarray, np.ndarray]], path) -> Chunk:
    """A chunk from each branch's values, or (offsets from 0, content) for a list branch; the members of a
    collection must have equal lengths."""
    jagged = {name for name, v in values.items() if isinstance(v, tuple)}
    chunk: Chunk = {}
    for key, members in collection_layout(values, jagged).items():
        if members is None:
            chunk[key] = values[key]
            continue
        offsets = values[members[0]][0]
        for name in members[1:]:
            if not np.array_equal(values[name][0], offsets):
                raise TaumlError(f"{path}: branch '{name}' does not have the lengths of the other "
                                 f"'{key}' branches ({members[0]})")
        chunk[key] = Collection(offsets, {name: values[name][1] for name in members})
    return chunk


def take(chunk: Chunk, index: np.ndarray) -> Chunk:
    """Entries ``index`` (in that order), as new contiguous buffers."""
    out: Chunk = {}
    for key, value in chunk.items():
        if not isinstance(value, Collection):
            out[key] = value[index]
            continue
        counts = np.diff(value.offsets)[index]
        offsets = np.zeros(len(index) + 1, np.int64)
        np.cumsum(counts, out=offsets[1:])
        gather = np.repeat(value.offsets[:-1][index] - offsets[:-1], counts) + np.arange(offsets[-1])
        out[key] = Collection(offsets, {name: c[gather] for name, c in value.contents.items()})
    return out


def slice_copy(chunk: Chunk, start: int, stop: int) -> Chunk:
    """Entries ``start:stop`` as buffers of their own (so the source chunk can be freed)."""
    out: Chunk = {}
    for key, value in slice_view(chunk, start, stop).items():
        if isinstance(value, Collection):
            out[key] = Collection(value.offsets, {name: c.copy() for name, c in value.contents.items()})
        else:
            out[key] = value.copy()
    return out


def slice_view(chunk: Chunk, start: int, stop: int) -> Chunk:
    """Entries ``start:stop``, sharing the buffers of ``chunk`` (offsets are rebased)."""
    out: Chunk = {}
    for key, value in chunk.items():
        if not isinstance(value, Collection):
            out[key] = value[start:stop]
            continue
        lo, hi = value.offsets[start], value.offsets[stop]
        out[key] = Collection(value.offsets[start:stop + 1] - lo,
                              {name: c[lo:hi] for name, c in value.contents.items()})
    return out


def concatenate(chunks: list[Chunk]) -> Chunk:
    if len(chunks) == 1:
        return chunks[0]
    out: Chunk = {}
    for key, first in chunks[0].items():
        parts = [c[key] for c in chunks]
        if not isinstance(first, Collection):
            out[key] = np.concatenate(parts)
            continue
        shifts = np.cumsum([0] + [p.offsets[-1] for p in parts[:-1]])
        offsets = np.concatenate([parts[0].offsets[:1]] + [p.offsets[1:] + s for p, s in zip(parts, shifts)])
        out[key] = Collection(offsets, {name: np.concatenate([p.contents[name] for p in parts])
                                        for name in first.contents})
    return out


def to_writer_arrays(chunk: Chunk) -> dict[str, object]:
    """Arrays for ``tauml.core.io.TreeWriter``: each collection already zipped under its name (cheaper than ak.zip)."""
    out: dict[str, object] = {}
    for key, value in chunk.items():
        if not isinstance(value, Collection):
            out[key] = value
            continue
        offsets = ak.index.Index64(value.offsets)
        if list(value.contents) == [key]:
            content = ak.contents.NumpyArray(value.contents[key])
        else:
            prefix = key + "_"
            fields = [m[len(prefix):] if m.startswith(prefix) else m for m in value.contents]
            content = ak.contents.RecordArray([ak.contents.NumpyArray(c) for c in value.contents.values()], fields,
                                              length=int(value.offsets[-1]))
        out[key] = ak.Array(ak.contents.ListOffsetArray(offsets, content))
    return out


def to_branch_arrays(chunk: Chunk) -> dict[str, object]:
    """Arrays by branch name, each jagged one on its own (``tauml.core.io.TreeWriter`` groups them again)."""
    out: dict[str, object] = {}
    for key, value in chunk.items():
        if not isinstance(value, Collection):
            out[key] = value
            continue
        offsets = ak.index.Index64(value.offsets)
        for name, content in value.contents.items():
            out[name] = ak.Array(ak.contents.ListOffsetArray(offsets, ak.contents.NumpyArray(content)))
    return out


def signature(chunk: Chunk) -> dict[str, object]:
    """Branch layout and value types, to check that all files of a dataset agree."""
    return {key: (value.dtype.str if not isinstance(value, Collection)
                  else tuple((n, c.dtype.str) for n, c in value.contents.items()))
            for key, value in chunk.items()}


def write_record(sink, chunk: Chunk) -> None:
    """Append ``chunk`` to a binary spill file: entry and element counts, then every buffer in order."""
    sizes = [chunk_length(chunk)] + [int(v.offsets[-1]) for v in chunk.values() if isinstance(v, Collection)]
    sink.write(np.array(sizes, np.int64).tobytes())
    for value in chunk.values():
        if isinstance(value, Collection):
            sink.write(np.ascontiguousarray(value.offsets))
            for content in value.contents.values():
                sink.write(np.ascontiguousarray(content))
        else:
            sink.write(np.ascontiguousarray(value))


def read_records(data, layout: dict[str, object]) -> list[Chunk]:
    """The chunks of a spill file; ``layout`` is the ``signature`` of the chunks written."""
    n_collections = sum(isinstance(v, tuple) for v in layout.values())
    chunks, pos = [], 0

    def take_array(dtype, count):
        nonlocal pos
        array = np.frombuffer(data, dtype, count, pos)
        pos += array.nbytes
        return array

    while pos < len(data):
        n, *elements = take_array(np.int64, 1 + n_collections).tolist()
        elements = iter(elements)
        chunk: Chunk = {}
        for key, kind in layout.items():
            if isinstance(kind, tuple):
                offsets = take_array(np.int64, n + 1)
                m = next(elements)
                chunk[key] = Collection(offsets, {name: take_array(np.dtype(dt), m) for name, dt in kind})
            else:
                chunk[key] = take_array(np.dtype(kind), n)
        chunks.append(chunk)
    return chunks
