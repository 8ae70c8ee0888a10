"""Reading many files whose tree has one structure (the bin files of a dataset) at a fraction of uproot's cost.

uproot parses a tree's metadata object by object (~0.1 s for 552 branches) and reads each branch through its
generic machinery (~0.15 s per read call), which makes a few hundred small files cost minutes. Files written
with one schema differ in their tree record only in numbers: entries, byte counts, basket positions, leaf
ranges. ``TreeFamily`` parses a file with uproot once, recording where those numbers sit in its tree record (a
*template*); a later file whose record has the same length and the same bytes everywhere else has the same
branches, types and leaves, so its baskets are located from the recorded places, decompressed by uproot's
codecs and cut into numpy buffers here. Anything else (remote files, branches that are not numbers or lists of
numbers, a record that differs elsewhere) is read by uproot as before; the buffers are the same either way.
"""
from __future__ import annotations

import contextlib
import os
import struct

import awkward as ak
import numpy as np
import uproot
from uproot.models import TBranch as _branch_models, TLeaf as _leaf_models, TTree as _tree_models
from uproot.source.cursor import Cursor

from .columns import Chunk, from_awkward, from_buffers
from .errors import TaumlError
from .io import is_remote, open_file, open_tree, read_error, tree_key
from .schema import TREE
from .uproot_speedup import SUPPORTED_UPROOT

# numbers that may differ between files of one structure: the tree's and each branch's counts, sizes and
# basket bookkeeping, a leaf's minimum and maximum (uproot's private names: templates are made only under the
# uproot version they were checked against, SUPPORTED_UPROOT)
_VARYING = {id(getattr(module, name)) for module, names in (
    (_tree_models, ("_ttree16_format1", "_ttree17_format1", "_ttree18_format1", "_ttree19_format1",
                    "_ttree20_format1")),
    (_branch_models, ("_tbranch10_format1", "_tbranch11_format1", "_tbranch12_format1", "_tbranch13_format1",
                      "_tbranch13_format2")),
    (_leaf_models, ("_tleafO1_format1", "_tleafb1_format1", "_tleafs1_format1", "_tleafi1_format1",
                    "_tleafg1_format0", "_tleafl1_format0", "_tleaff1_format1", "_tleafd1_format1",
                    "_tleafc1_format1")),
) for name in names if hasattr(module, name)}
_BASKET_KEY = struct.Struct(">ihiIhh")  # fNbytes, fVersion, fObjlen, fDatime, fKeylen, fCycle
_BASKET_TAIL = struct.Struct(">Hiiii")  # fVersion, fBufferSize, fNevBufSize, fNevBuf, fLast; then one flag byte
_I4, _I8 = np.dtype(">i4"), np.dtype(">i8")
MAX_TEMPLATES = 8


class _Unsupported(Exception):
    """The fast path cannot read this; uproot does."""


@contextlib.contextmanager
def _recording():
    """Where uproot reads varying numbers (``_VARYING`` structs and all numeric arrays) while it parses a
    tree record: yields a list of (model, position in the record, struct or (dtype, length))."""
    spans = []
    fields, array = Cursor.fields, Cursor.array

    def recorded_fields(self, chunk, format, context, move=True):
        if id(format) in _VARYING:
            spans.append((context["breadcrumbs"][-1], self.index, format))
        return fields(self, chunk, format, context, move)

    def recorded_array(self, chunk, length, dtype, context, move=True):
        spans.append(((context.get("breadcrumbs") or (None,))[-1], self.index, (np.dtype(dtype), length)))
        return array(self, chunk, length, dtype, context, move)

    Cursor.fields, Cursor.array = recorded_fields, recorded_array
    try:
        yield spans
    finally:
        Cursor.fields, Cursor.array = fields, array


def _record(key) -> np.ndarray:
    chunk, _ = key.get_uncompressed_chunk_cursor()
    return np.frombuffer(chunk.raw_data, np.uint8)


def _ints(record: np.ndarray, at: int, dtype: np.dtype, n: int = 1) -> np.ndarray:
    return np.frombuffer(record, dtype, n, at).astype(np.int64)


class _BranchPlace:
    """Where one branch's basket bookkeeping sits in the record, and how its baskets decode."""

    def __init__(self, branch, spans):
        interp = branch.interpretation
        if isinstance(interp, uproot.AsDtype) and interp.from_dtype.subdtype is None:
            self.jagged, self.header, dtypes = False, 0, (interp.from_dtype, interp.to_dtype)
        elif isinstance(interp, uproot.AsJagged) and isinstance(interp.content, uproot.AsDtype) \
                and interp.content.from_dtype.subdtype is None:
            self.jagged, self.header = True, interp.header_bytes
            dtypes = (interp.content.from_dtype, interp.content.to_dtype)
        else:
            raise _Unsupported(f"branch '{branch.name}' is read as {interp}")
        if branch.embedded_baskets:
            raise _Unsupported(f"branch '{branch.name}' has baskets inside the tree record")
        self.from_dtype, self.to_dtype = dtypes
        formats = [s for s in spans if isinstance(s[1], struct.Struct)]
        arrays = [s for s in spans if not isinstance(s[1], struct.Struct)]
        if len(formats) < 2 or len(arrays) < 3 or formats[-2][1] is not _branch_models._tbranch13_format1 \
                or formats[-1][1] is not _branch_models._tbranch13_format2:
            raise _Unsupported(f"branch '{branch.name}' is not a TBranch of version 13")
        self.write_basket_at = formats[-2][0] + 12  # fWriteBasket in ">iiiiq"
        self.entries_at = formats[-1][0] + 12  # fEntries in ">iIiqqqq"
        (self.bytes_at, _), (self.entry_at, _), (self.seek_at, (self.seek_dtype, self.max_baskets)) = arrays[-3:]
        self.name = branch.name

    def baskets(self, record: np.ndarray):
        """(entry boundaries, seeks, byte counts) of this branch's baskets in the file of ``record``."""
        n = int(_ints(record, self.write_basket_at, _I4)[0])
        if not 0 <= n <= self.max_baskets or n == self.max_baskets and n:
            raise _Unsupported(f"branch '{self.name}' has {n} baskets")
        entries = _ints(record, self.entry_at, _I8, self.max_baskets)[:n + 1] if n else np.zeros(1, np.int64)
        if entries[-1] != _ints(record, self.entries_at, _I8)[0]:
            raise _Unsupported(f"branch '{self.name}': basket entries do not add up")
        return entries, _ints(record, self.seek_at, self.seek_dtype, n), _ints(record, self.bytes_at, _I4, n)


class _Template:
    """One tree structure: the record of the file it was parsed from, the positions allowed to differ, the tree's
    entry count position and every branch's ``_BranchPlace`` (None where the fast path cannot read it)."""

    def __init__(self, tree, record: np.ndarray, spans):
        self.record = record
        self.varying = np.zeros(len(record), bool)
        by_model: dict[int, list] = {}
        for model, at, shape in spans:
            size = shape.size if isinstance(shape, struct.Struct) else shape[0].itemsize * shape[1]
            self.varying[at:at + size] = True
            by_model.setdefault(id(model), []).append((at, shape))
        tree_formats = [at for at, shape in by_model.get(id(tree), ()) if isinstance(shape, struct.Struct)]
        if not tree_formats:
            raise _Unsupported("tree record without its entry count")
        self.entries_at = tree_formats[0]  # fEntries, first in every TTree version's struct
        self.places: dict[str, _BranchPlace | None] = {}
        for branch in tree.branches:
            models = [branch, *getattr(branch, "bases", ())]  # a TBranchElement's numbers are in its TBranch base
            try:
                self.places[branch.name] = _BranchPlace(branch, [s for m in models for s in by_model.get(id(m), [])])
            except _Unsupported:
                self.places[branch.name] = None

    def matches(self, record: np.ndarray) -> bool:
        if len(record) != len(self.record):
            return False
        return not np.any((record != self.record) & ~self.varying)


def _decode(place: _BranchPlace, fd: int, seek: int, nbytes: int, n_entries: int, path):
    """One basket: values (flat) or (byte offsets, content bytes) per entry, as uproot's TBasket reads it."""
    raw = os.pread(fd, nbytes, seek)
    fnbytes, _, objlen, _, keylen, _ = _BASKET_KEY.unpack_from(raw)
    _, _, _, nev, last = _BASKET_TAIL.unpack_from(raw, keylen - _BASKET_TAIL.size - 1)
    if fnbytes != nbytes or nev != n_entries or len(raw) != nbytes:
        raise TaumlError(f"{path}: corrupt basket of branch '{place.name}' at byte {seek}")
    payload = np.frombuffer(raw, np.uint8, fnbytes - keylen, keylen)
    if fnbytes - keylen != objlen:
        payload = np.frombuffer(uproot.compression.decompress(
            uproot.source.chunk.Chunk.wrap(None, payload), Cursor(0), {}, fnbytes - keylen, objlen).raw_data, np.uint8)
    border = last - keylen
    if not place.jagged:
        return np.frombuffer(payload, place.from_dtype, n_entries)
    if border == objlen:
        raise _Unsupported(f"branch '{place.name}' without entry offsets")
    offsets = np.frombuffer(payload, _I4, n_entries + 1, border + 4).astype(np.int64) - keylen
    offsets[-1] = border
    return offsets, payload[:border]


def _jagged(parts, header: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (from 0, in items) and content of a list branch from its baskets' (byte offsets, bytes)."""
    counts, contents = [np.zeros(0, np.int64)], [np.zeros(0, dtype)]
    for offsets, data in parts:
        if header:
            keep = np.ones(len(data), bool)
            keep[(offsets[:-1, None] + np.arange(header)).ravel()] = False
            data, offsets = data[keep], offsets - header * np.arange(len(offsets))
        counts.append(np.diff(offsets) // dtype.itemsize)
        contents.append(np.frombuffer(data[offsets[0]:offsets[-1]], dtype))
    all_counts = np.concatenate(counts)
    items = np.zeros(len(all_counts) + 1, np.int64)
    np.cumsum(all_counts, out=items[1:])
    return items, np.concatenate(contents)


class SameStructureTree:
    """A tree opened by ``TreeFamily.open``: ``num_entries``, ``keys()``, ``read(names, start, stop)``,
    ``close()``; ``tree`` is uproot's tree where uproot reads the file."""

    name = TREE

    def __init__(self, path, file, template: _Template | None, record: np.ndarray | None, tree=None):
        self.path, self._file, self._template, self._record, self.tree = path, file, template, record, tree
        self._fd = None
        if template is not None:
            self.num_entries = int(_ints(record, template.entries_at, _I8)[0])
        else:
            self.num_entries = tree.num_entries

    @property
    def fast(self) -> bool:
        """Whether this file is read through a template rather than by uproot."""
        return self._template is not None

    def keys(self, recursive: bool = False) -> list[str]:
        return list(self._template.places) if self._template is not None else self.tree.keys(recursive=recursive)

    def read(self, names: list[str], start: int, stop: int) -> Chunk:
        """Entries ``start:stop`` of ``names`` as column buffers (``tauml.core.columns``)."""
        if self._template is not None:
            try:
                return self._read_baskets(names, start, stop)
            except _Unsupported:
                self._template = None
                self.tree = open_tree(self.path)
            except TaumlError:
                raise
            except Exception as err:  # a damaged basket: struct, codec or numpy errors
                raise read_error(self.path, err) from err
        try:  # how=dict: uproot's own zipping of 552 branches costs a third of a small read
            arrays = self.tree.arrays(names, entry_start=start, entry_stop=stop, library="ak", array_cache=None,
                                      how=dict)
        except Exception as err:
            raise TaumlError(f"{self.path}: cannot read entries {start}-{stop} of tree '{TREE}' ({err})") from err
        return from_awkward(ak.Array(arrays), self.path)

    def _read_baskets(self, names, start, stop) -> Chunk:
        places = [self._template.places.get(n) for n in names]
        if any(p is None for p in places):
            raise _Unsupported("a branch uproot reads")
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        values = {}
        for place in places:
            entries, seeks, nbytes = place.baskets(self._record)
            first = int(np.searchsorted(entries, start, side="right")) - 1
            last = int(np.searchsorted(entries, stop, side="left"))
            parts = [_decode(place, self._fd, int(seeks[i]), int(nbytes[i]), int(entries[i + 1] - entries[i]),
                             self.path) for i in range(max(first, 0), last)]
            lo = start - int(entries[max(first, 0)])
            if place.jagged:
                offsets, content = _jagged(parts, place.header, place.from_dtype)
                offsets = offsets[lo:lo + stop - start + 1]
                values[place.name] = (offsets - offsets[0], content[offsets[0]:offsets[-1]].astype(place.to_dtype))
            else:
                flat = np.concatenate(parts) if parts else np.zeros(0, place.from_dtype)
                values[place.name] = flat[lo:lo + stop - start].astype(place.to_dtype)
        return from_buffers(values, self.path)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        for f in (self._file, getattr(self.tree, "file", None)):
            if f is not None:
                f.close()


class TreeFamily:
    """Opens trees ``taus`` of many files, reusing the parsed structure of earlier files (module docstring)."""

    def __init__(self):
        self._templates: list[_Template] = []

    def open(self, path) -> SameStructureTree:
        if is_remote(path) or uproot.__version__ != SUPPORTED_UPROOT:
            return SameStructureTree(path, None, None, None, open_tree(path))
        f = open_file(path)
        try:
            key = tree_key(f, path)
            record = _record(key)
        except TaumlError:
            f.close()
            raise
        except Exception as err:
            f.close()
            raise read_error(path, err) from err
        for template in self._templates:
            if template.matches(record):
                return SameStructureTree(path, f, template, record)
        return self._new_template(path, f, key, record)

    def _new_template(self, path, f, key, record) -> SameStructureTree:
        try:
            with _recording() as spans:
                tree = key.get()
        except Exception as err:
            f.close()
            raise read_error(path, err) from err
        try:
            template = _Template(tree, record, spans)
        except _Unsupported:
            return SameStructureTree(path, f, None, None, tree)
        self._templates = [template, *self._templates][:MAX_TEMPLATES]
        return SameStructureTree(path, f, template, record)
