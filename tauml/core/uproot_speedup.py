"""Two speed-ups for writing TTrees with many branches through uproot (5.7).

1. ``apply()`` removes a quadratic cost from uproot's TTree writer, and reuses the metadata of a new, empty
   tree when an identical one was built before (a dataset's ~480 bin files all start alike).

``uproot.writing._cascadetree.Tree._build_out`` serialises the TTree metadata into a list of byte
chunks and, for every branch, recomputes the total length of the whole list so far. With 552 branches
that is ~0.8 s per ``mktree`` (and again whenever the basket arrays are relocated); splitting one
dataset into ~480 bin files spent minutes on it. ``apply()`` recompiles that one function with the
list replaced by one that keeps the running totals, so the bytes written are identical
(``tests/test_binning.py`` compares both). If uproot's source no longer has the expected shape, nothing
is patched and uproot behaves as shipped.

2. ``WriteBackFile`` is a file object for ``uproot.recreate``: uproot seeks twice before every small write
(~20 per branch and basket), and a buffered file flushes on every seek; this file only moves a position
and writes contiguous runs with one ``pwrite``.
"""
from __future__ import annotations

import inspect
import os
import re
import textwrap

import uproot.writing._cascadetree as _cascadetree

_NONES = re.compile(r"sum\(1 if x is None else 0 for x in out\)")
_NBYTES = re.compile(r"sum\(\s*len\(x\) for x in out if x is not None\s*\)")
_START = "out = [None]"


class TallyList(list):
    """A list of ``bytes`` or ``None`` that knows its total byte length and its number of ``None``."""

    def __init__(self, items=()):
        super().__init__(items)
        self.nones = self.count(None)
        self.nbytes = sum(len(x) for x in self if x is not None)

    def _tally(self, item, sign: int) -> None:
        if item is None:
            self.nones += sign
        else:
            self.nbytes += sign * len(item)

    def append(self, item) -> None:
        self._tally(item, 1)
        super().append(item)

    def insert(self, index, item) -> None:
        self._tally(item, 1)
        super().insert(index, item)

    def __setitem__(self, index, item) -> None:
        if not isinstance(index, int):
            raise TypeError("TallyList supports integer item assignment only")
        self._tally(self[index], -1)
        self._tally(item, 1)
        super().__setitem__(index, item)

    def _unsupported(self, *args, **kwargs):
        raise TypeError("TallyList supports append, insert and item assignment only")

    extend = __iadd__ = __delitem__ = pop = remove = clear = _unsupported


ORIGINAL_BUILD_OUT = _cascadetree.Tree._build_out


def _patched_source() -> str | None:
    source = textwrap.dedent(inspect.getsource(ORIGINAL_BUILD_OUT))
    if source.count(_START) != 1 or not _NONES.search(source) or not _NBYTES.search(source):
        return None
    source = source.replace(_START, "out = _TallyList([None])")
    source = _NONES.sub("out.nones", source)
    return _NBYTES.sub("out.nbytes", source)


# What _build_out reads of each branch (besides the basket arrays) and what it records in it.
_DATUM_INPUTS = ("kind", "fName", "fTitle", "dtype", "shape", "fBasketSize", "fEntryOffsetLen", "fFirstEntry",
                 "fOffset", "fSplitLevel", "fTotBytes", "fZipBytes")
_DATUM_OUTPUTS = ("metadata_start", "basket_metadata_start", "tleaf_reference_number", "tleaf_special_struct")
_EMPTY_TREES: dict = {}


def _fingerprint(tree) -> tuple:
    rows = []
    for d in tree._branch_data:
        counter = d.get("counter")
        rows.append((tuple(repr(d.get(k)) for k in _DATUM_INPUTS), None if counter is None else counter["fName"],
                     *(d[k].tobytes() if k in d else None for k in ("fBasketBytes", "fBasketEntry", "fBasketSeek"))))
    return (tree._name, tree._title, repr(sorted(tree._metadata.items())), tree._basket_capacity, tuple(rows))


def _caching(build_out):
    """``build_out`` that reuses the result for a tree without entries identical to one built before."""

    def _build_out(self):
        if self._num_entries or self._num_baskets:
            return build_out(self)
        key = _fingerprint(self)
        if key not in _EMPTY_TREES:
            out = build_out(self)
            outputs = [{k: d[k] for k in _DATUM_OUTPUTS if k in d} for d in self._branch_data]
            if len(_EMPTY_TREES) >= 8:
                _EMPTY_TREES.clear()
            _EMPTY_TREES[key] = (tuple(out), outputs, self._metadata_start)
            return out
        out, outputs, metadata_start = _EMPTY_TREES[key]
        for d, recorded in zip(self._branch_data, outputs):
            d.update(recorded)
        self._metadata_start = metadata_start
        return list(out)

    return _build_out


def apply() -> bool:
    """Patch ``Tree._build_out`` once; True if the fast version is in place."""
    if _cascadetree.Tree._build_out is not ORIGINAL_BUILD_OUT:
        return True
    source = _patched_source()
    if source is None:
        return False
    namespace: dict = {}
    scope = dict(vars(_cascadetree), _TallyList=TallyList)
    exec(compile(source, _cascadetree.__file__, "exec"), scope, namespace)  # noqa: S102 - uproot's own code
    _cascadetree.Tree._build_out = _caching(namespace["_build_out"])
    return True


class WriteBackFile:
    """A write-mostly file for uproot: appends are collected in one buffer, rewrites of earlier bytes (file
    header, directory, tree metadata: the same few places again and again) are kept as patches; both go to
    disk with ``pwrite`` when the buffer is full, on ``flush`` or on ``close``."""

    MAX_PATCHES = 64

    def __init__(self, path, flush_bytes: int = 8 << 20):
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self._pos = self._start = self._size = 0
        self._buffer = bytearray()
        self._patches: dict[tuple[int, int], bytes] = {}  # (offset, length) -> bytes, all before the buffer
        self._flush_bytes = flush_bytes

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            self._pos = offset
        elif whence == os.SEEK_CUR:
            self._pos += offset
        else:
            self._pos = max(self._size, self._start + len(self._buffer)) + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        pos, n = self._pos, len(view)
        end = self._start + len(self._buffer)
        if self._start <= pos and pos + n <= end:
            self._buffer[pos - self._start:pos - self._start + n] = view
        elif pos == end and len(self._buffer) < self._flush_bytes:
            self._buffer += view
        elif pos + n <= self._start and self._can_patch(pos, n):
            self._patches[pos, n] = bytes(view)
        else:
            self.flush()
            self._start = pos
            self._buffer += view
        self._pos = pos + n
        return n

    def _can_patch(self, pos: int, n: int) -> bool:
        if (pos, n) in self._patches:
            return True
        return len(self._patches) < self.MAX_PATCHES and all(pos + n <= q or q + m <= pos for q, m in self._patches)

    def flush(self) -> None:
        if self._buffer:
            os.pwrite(self._fd, self._buffer, self._start)
            self._size = max(self._size, self._start + len(self._buffer))
            self._start += len(self._buffer)
            self._buffer.clear()
        for (pos, n), data in self._patches.items():
            os.pwrite(self._fd, data, pos)
            self._size = max(self._size, pos + n)
        self._patches.clear()

    def read(self, size: int = -1) -> bytes:
        self.flush()
        if size < 0:
            size = max(0, self._size - self._pos)
        data = os.pread(self._fd, size, self._pos)
        self._pos += len(data)
        return data

    def close(self) -> None:
        if self._fd >= 0:
            try:
                self.flush()
            finally:
                os.close(self._fd)
                self._fd = -1

    @property
    def closed(self) -> bool:
        return self._fd < 0
