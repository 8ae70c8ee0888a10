"""Speed-ups for writing (and opening) TTrees with many branches through uproot (5.7.7).

They patch uproot internals, so they are guarded: a patch is applied only under the uproot version pinned in
pyproject.toml (``SUPPORTED_UPROOT``) and only when the source of the function it recompiles is the one it
was written against (sha256 in ``_BUILD_OUT_SHA256``, or the expected shape for 3). Otherwise tauml warns once
and uses stock uproot: slower, the same data (1-4 give the same bytes as stock uproot, 5 the same values). Nothing
is patched on import; the writers install the patches (``tauml.core.io.TreeWriter`` calls ``install()``,
``root_writer`` enters ``compression_threads``).

1. ``install()`` removes a quadratic cost from uproot's TTree writer, and reuses the metadata of a new, empty
   tree when an identical one was built before (a dataset's ~480 bin files all start alike).

``uproot.writing._cascadetree.Tree._build_out`` serialises the TTree metadata into a list of byte
chunks and, for every branch, recomputes the total length of the whole list so far. With 552 branches
that is ~0.8 s per ``mktree`` (and again whenever the basket arrays are relocated); splitting one
dataset into ~480 bin files spent minutes on it. ``install()`` recompiles that one function with the
list replaced by one that keeps the running totals, so the bytes written are identical
(``tests/test_uproot_speedup.py`` compares whole files written both ways: an empty tree, a tree with
baskets, and a tree whose metadata comes from the cache).

2. ``WriteBackFile`` is a file object for ``uproot.recreate``: uproot seeks twice before every small write
(~20 per branch and basket), and a buffered file flushes on every seek; this file only moves a position
and writes contiguous runs with one ``pwrite``.

3. ``compression_threads(n)``: inside it, ``Tree.extend`` compresses the baskets of one extend (one per
branch) in ``n`` threads ahead of uproot's sequential basket writer (zlib, xz, zstd release the GIL; LZ4 is
left inline, faster than the queue). ``extend`` and the three basket writers are recompiled, as in 1, so that
each basket takes its bytes from the queue of compressed baskets when the queue's head was made from the same
uncompressed bytes (length and 128-bit hash) with the same algorithm; otherwise it compresses as uproot does.
The file is the same byte for byte.

4. ``install_reading()`` (called by ``tauml.core.io.open_file``) memoises ``uproot.model.classname_regularize``, a
pure function of a class name that uproot recomputes with regular expressions for every object it reads: ~20 %
of opening a 552-branch tree written by ROOT (0.16 -> 0.12 s per file).

5. ``install()`` also replaces ``uproot.compression.LZMA.compress``: the same XZ stream (the level's preset) with
a dictionary no larger than the basket. uproot compresses every basket with the level's full dictionary (64 MiB
at level 9), and setting up that dictionary costs more than compressing a small basket: 22x faster for the
~1.4 kB baskets of a bin file, 2.3x for 400 kB ones (stdlib lzma against uproot's cramjam, preset 9), with the
same compressed sizes (a dictionary larger than its input finds no more matches). Readers (uproot, ROOT) decode
it as any XZ stream, with less memory.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import inspect
import lzma
import os
import re
import textwrap
import threading
import warnings
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import uproot
import uproot.writing._cascadetree as _cascadetree
import xxhash

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
SUPPORTED_UPROOT = "5.7.7"
_BUILD_OUT_SHA256 = "18fc1c4101e78774a5cb13bf3732b721e55e8c496a963be7954e1bc1ac467842"
_warned: set[str] = set()


def fall_back(what: str, reason: str) -> bool:
    """Warn once per speed-up that it is not applied; returns False (the caller goes on with stock uproot)."""
    if what not in _warned:
        _warned.add(what)
        warnings.warn(f"tauml: uproot {what} speed-up not applied ({reason}); using stock uproot "
                      "(slower, same results)", RuntimeWarning, stacklevel=3)
    return False


def unsupported_uproot() -> str | None:
    """Why the installed uproot may not be patched, or None."""
    if uproot.__version__ != SUPPORTED_UPROOT:
        return f"uproot {uproot.__version__} is installed, the patches are checked against {SUPPORTED_UPROOT}"
    return None


def _patched_source() -> str | None:
    source = textwrap.dedent(inspect.getsource(ORIGINAL_BUILD_OUT))
    if hashlib.sha256(source.encode()).hexdigest() != _BUILD_OUT_SHA256:
        return None
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


ORIGINAL_LZMA_COMPRESS = uproot.compression.LZMA.compress
_LZMA_PRESET_DICT = (1 << 18, 1 << 20, 1 << 21, 1 << 22, 1 << 22, 1 << 23, 1 << 23, 1 << 24, 1 << 25, 1 << 26)  # xz(1)


def _lzma_compress(self, data) -> bytes:
    """XZ at this level's preset with a dictionary no larger than ``data`` (item 5)."""
    size = max(4096, min(len(data), _LZMA_PRESET_DICT[self._level]))
    return lzma.compress(data, filters=[{"id": lzma.FILTER_LZMA2, "preset": self._level, "dict_size": size}])


def install() -> bool:
    """Patch ``Tree._build_out`` and LZMA basket compression once; True if the fast versions are in place (else
    one warning, stock uproot)."""
    if _cascadetree.Tree._build_out is not ORIGINAL_BUILD_OUT:
        return True
    reason = unsupported_uproot()
    if reason:
        return fall_back("TTree metadata", reason)
    uproot.compression.LZMA.compress = _lzma_compress
    source = _patched_source()
    if source is None:
        return fall_back("TTree metadata", "Tree._build_out is not the source the patch was written for")
    namespace: dict = {}
    scope = dict(vars(_cascadetree), _TallyList=TallyList)
    exec(compile(source, _cascadetree.__file__, "exec"), scope, namespace)  # noqa: S102 - uproot's own code
    _cascadetree.Tree._build_out = _caching(namespace["_build_out"])
    return True


_ORIGINAL_REGULARIZE = uproot.model.classname_regularize


def install_reading() -> bool:
    """Memoise ``classname_regularize`` once (item 4 above); True if in place."""
    if uproot.model.classname_regularize is not _ORIGINAL_REGULARIZE:
        return True
    reason = unsupported_uproot()
    if reason:
        return fall_back("class-name", reason)
    uproot.model.classname_regularize = functools.lru_cache(maxsize=4096)(_ORIGINAL_REGULARIZE)
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


# 3. Basket compression in threads.
_BASKET_LOOP = re.compile(r"^(?P<indent> *)for branch_name, compression, big_endian, big_endian_offsets in tofill:$",
                          re.MULTILINE)
_COMPRESS_CALL = "uproot.compression.compress(uncompressed_data, compression)"
_BASKET_WRITERS = ("write_np_basket", "write_jagged_basket", "write_string_basket")
ORIGINAL_EXTEND = _cascadetree.Tree.extend
ORIGINAL_BASKET_WRITERS = {name: getattr(_cascadetree.Tree, name) for name in _BASKET_WRITERS}
_POOL: contextvars.ContextVar[ThreadPoolExecutor | None] = contextvars.ContextVar("tauml_compression_pool",
                                                                                   default=None)
_AHEAD_BYTES = 64 << 20  # uncompressed bytes in flight beyond the basket being written
_queue = threading.local()


def _fingerprint_bytes(data) -> tuple[int, bytes]:
    return len(data), xxhash.xxh3_128_digest(data)


def _compress_task(data, compression):
    return _fingerprint_bytes(data), compression, uproot.compression.compress(data, compression)


def _basket_bytes(tree, branch_name, big_endian, big_endian_offsets) -> bytes | None:
    """The uncompressed bytes that uproot's basket writer will build for one ``tofill`` item (None: strings)."""
    if big_endian.dtype == np.dtype(">U0"):
        return None
    if big_endian_offsets is None:
        return big_endian.tobytes()
    keylen = (uproot.reading._key_format_big.size + len(uproot.serialization.string("TBasket"))
              + len(uproot.serialization.string(branch_name)) + len(uproot.serialization.string(tree._name))
              + uproot.models.TBasket._tbasket_format2.size + 1)
    itemsize = big_endian.dtype.itemsize * int(np.prod(big_endian.shape[1:], dtype=np.int64))
    offsets = big_endian_offsets.copy()
    offsets *= itemsize
    offsets += keylen
    return big_endian.tobytes() + _cascadetree._tbasket_offsets_length.pack(len(offsets)) + offsets.tobytes()


class _BasketQueue:
    """Compressions of one extend's baskets, submitted in basket order a bounded amount ahead."""

    def __init__(self, pool: ThreadPoolExecutor, tree, tofill):
        self._pool, self._tree = pool, tree
        self._todo = iter(tofill)
        self._futures: deque = deque()
        self._in_flight = 0
        self._fill()

    def _fill(self) -> None:
        while self._in_flight < _AHEAD_BYTES:
            item = next(self._todo, None)
            if item is None:
                return
            branch_name, compression, big_endian, big_endian_offsets = item
            data = _basket_bytes(self._tree, branch_name, big_endian, big_endian_offsets)
            if data is None:
                self._futures.append((0, None))
                continue
            self._futures.append((len(data), self._pool.submit(_compress_task, data, compression)))
            self._in_flight += len(data)

    def compressed(self, data, compression):
        """The compressed bytes of ``data`` if the next basket in the queue was made from it, else None."""
        if not self._futures:
            return None
        size, future = self._futures.popleft()
        self._in_flight -= size
        self._fill()
        if future is None:
            return None
        fingerprint, algo, out = future.result()
        if algo is compression and fingerprint == _fingerprint_bytes(data):
            return out
        self.cancel()  # out of step with uproot's writer: compress the rest of this extend as uproot does
        return None

    def cancel(self) -> None:
        for _, future in self._futures:
            if future is not None:
                future.cancel()
        self._futures.clear()
        self._todo = iter(())


def _start_baskets(tree, tofill) -> None:
    old = getattr(_queue, "current", None)
    if old is not None:
        old.cancel()
    pool = _POOL.get()
    # LZ4 compresses at GB/s: the queue's extra copy and hash of each basket would cost more than it saves
    threaded = pool is not None and len(tofill) > 1 and not isinstance(tofill[0][1], uproot.compression.LZ4)
    _queue.current = _BasketQueue(pool, tree, tofill) if threaded else None


def _compress(data, compression):
    queue = getattr(_queue, "current", None)
    out = queue.compressed(data, compression) if queue is not None else None
    return uproot.compression.compress(data, compression) if out is None else out


def _recompiled(function, edit) -> object | None:
    source = textwrap.dedent(inspect.getsource(function))
    edited = edit(source)
    if edited is None:
        return None
    namespace: dict = {}
    # the module's own globals (plus the two hooks), so that the recompiled writers see what uproot's see
    _cascadetree._tauml_start_baskets, _cascadetree._tauml_compress = _start_baskets, _compress
    exec(compile(edited, _cascadetree.__file__, "exec"), vars(_cascadetree), namespace)  # noqa: S102
    return namespace[function.__name__]


def _edit_extend(source: str) -> str | None:
    if len(_BASKET_LOOP.findall(source)) != 1:
        return None
    return _BASKET_LOOP.sub(lambda m: f"{m['indent']}_tauml_start_baskets(self, tofill)\n{m[0]}", source)


def _edit_basket_writer(source: str) -> str | None:
    if source.count(_COMPRESS_CALL) != 1:
        return None
    return source.replace(_COMPRESS_CALL, "_tauml_compress(uncompressed_data, compression)")


def _apply_threaded_compression() -> bool:
    if _cascadetree.Tree.extend is not ORIGINAL_EXTEND:
        return True
    reason = unsupported_uproot()
    if reason:
        return fall_back("basket compression", reason)
    patched = {"extend": _recompiled(ORIGINAL_EXTEND, _edit_extend)}
    patched |= {name: _recompiled(f, _edit_basket_writer) for name, f in ORIGINAL_BASKET_WRITERS.items()}
    if any(f is None for f in patched.values()):
        return fall_back("basket compression", "Tree.extend or a basket writer is not the expected source")
    for name, f in patched.items():
        setattr(_cascadetree.Tree, name, f)
    return True


@contextlib.contextmanager
def compression_threads(n: int):
    """Within the block, TTree baskets written in this thread are compressed by ``n`` threads (1: as uproot)."""
    if n <= 1 or not _apply_threaded_compression():
        yield
        return
    with ThreadPoolExecutor(n, thread_name_prefix="tauml-compress") as pool:
        token = _POOL.set(pool)
        try:
            yield
        finally:
            _POOL.reset(token)
            current = getattr(_queue, "current", None)
            if current is not None:
                current.cancel()
                _queue.current = None
