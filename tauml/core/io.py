"""ROOT input and output: chunked reading of either jagged form, TauTuple writing, atomic outputs.

Real CMS TauTuples hold ``std::vector`` branches; uproot cannot write those, so tauml writes each
collection (``pfCand``, ``ele`` ...) as a counter ``n<collection>`` plus counted arrays. Reading through
uproot gives the same jagged arrays for both forms, and ROOT reads both.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from . import uproot_speedup
from .errors import OutputError, TaumlError
from .schema import TREE, branches, collections

DEFAULT_STEP = "100 MB"
DEFAULT_BASKET_CAPACITY = 10  # uproot's initial_basket_capacity

COMPRESSION = {"ZLIB": uproot.ZLIB, "LZMA": uproot.LZMA, "LZ4": uproot.LZ4, "ZSTD": uproot.ZSTD}


def is_remote(path: str | os.PathLike) -> bool:
    return str(path).startswith(("root://", "http://", "https://"))


def check_xrootd_loadable(path: str | os.PathLike) -> None:
    """A clear error instead of a crash: the XRootD client segfaults when it is loaded after TensorFlow (see
    ``tauml/__init__.py``, which loads it first whenever it can)."""
    if str(path).startswith("root://") and "XRootD.client" not in sys.modules and "tensorflow" in sys.modules:
        raise TaumlError(f"{path}: cannot read root:// URLs in a process that loaded TensorFlow before the XRootD "
                         "client (it would crash); import tauml before tensorflow")


class _XRootDSource(uproot.source.fsspec.FSSpecSource):
    """uproot's fsspec source for root:// URLs with plain-int offsets: uproot 5.7.7 passes numpy integers
    (basket seeks), which fsspec-xrootd 0.5.5 hands to the XRootD client, which rejects them."""

    def chunk(self, start, stop):
        return super().chunk(int(start), int(stop))


_HEADER = 20  # "root", fVersion, fBEGIN, fEND (4 bytes, or 8 from version 1000000 on)
_BEGIN = 100  # fBEGIN of every ROOT file: where its first record starts


def check_complete(path: str | os.PathLike) -> None:
    """Raise a TaumlError unless the local file ``path`` starts like a ROOT file and holds all the bytes its
    header announces (fEND): uproot opens a truncated file without complaint, the baskets are simply missing.
    Reads 20 bytes; remote files are checked by ``open_file`` from uproot's copy of the header."""
    if is_remote(path):
        return
    try:
        with open(path, "rb") as fh:
            head, size = fh.read(_HEADER), os.fstat(fh.fileno()).st_size
    except FileNotFoundError as err:
        raise TaumlError(f"{path}: no such file") from err
    except OSError as err:
        raise TaumlError(f"{path}: cannot read ({err.strerror or err})") from err
    if not b"root".startswith(head[:4]) or len(head) == _HEADER and int.from_bytes(head[8:12], "big") != _BEGIN:
        raise TaumlError(f"{path}: not a readable ROOT file (no ROOT file header)")
    if len(head) < _HEADER:
        raise TaumlError(f"{path}: truncated or corrupt: {size} bytes, shorter than a ROOT file header")
    wide = int.from_bytes(head[4:8], "big") >= 1000000
    _require_size(path, int.from_bytes(head[12:20] if wide else head[12:16], "big"), size)


def _require_size(path, expected: int, present: int) -> None:
    if present < expected:
        raise TaumlError(f"{path}: truncated or corrupt: expected {expected} bytes, found {present}")


def read_error(path, err: Exception, what: str = f"read tree '{TREE}'") -> TaumlError:
    """The error to raise when uproot fails on a file that is complete (``check_complete``): uproot's own
    reason (first line), not a guess at the cause."""
    lines = str(err).strip().splitlines()
    return TaumlError(f"{path}: corrupt or unreadable: cannot {what} ({type(err).__name__}"
                      + (f": {lines[0]})" if lines else ")"))


def open_file(path: str | os.PathLike):
    """Open a ROOT file, turning uproot's failures into a message naming the file; a truncated file is
    named as such (``check_complete``)."""
    options = {"handler": _XRootDSource} if str(path).startswith("root://") else {}
    uproot_speedup.install_reading()
    check_xrootd_loadable(path)
    check_complete(path)
    try:
        f = uproot.open(path, **options)
    except FileNotFoundError as err:
        raise TaumlError(f"{path}: no such file") from err
    except Exception as err:  # uproot raises many types for a damaged file
        raise read_error(path, err, "open it as a ROOT file") from err
    if is_remote(path):
        _require_size(path, f.file.fEND, f.file.source.num_bytes)
    return f


def tree_key(f, path, tree: str = TREE):
    """The key of ``tree`` in the open file ``f`` (an error naming ``path`` unless it is a TTree)."""
    try:
        key = f.key(tree)
    except uproot.KeyInFileError as err:
        raise TaumlError(f"{path}: has no tree '{tree}'") from err
    except Exception as err:
        raise read_error(path, err, f"read tree '{tree}'") from err
    if key.fClassName not in ("TTree", "TNtuple", "TNtupleD"):
        raise TaumlError(f"{path}: '{tree}' is a {key.fClassName}, not a tree")
    return key


def open_tree(path: str | os.PathLike, tree: str = TREE):
    f = open_file(path)
    key = tree_key(f, path, tree)
    try:
        return key.get()
    except Exception as err:
        raise read_error(path, err, f"read tree '{tree}'") from err


def counter_branches(tree) -> set[str]:
    """Names of branches that only count the entries of others (written back implicitly)."""
    counters = set()
    for b in tree.branches:
        cb = getattr(b, "count_branch", None)
        if cb is not None:
            counters.add(cb.name)
    return counters


def payload_branches(tree) -> list[str]:
    """All data branches of a tree, in file order, without counter branches."""
    counters = counter_branches(tree)
    return [name for name in tree.keys(recursive=False) if name not in counters]


def require_branches(tree, path, names: Iterable[str]) -> None:
    have = set(tree.keys(recursive=False))
    missing = [n for n in names if n not in have]
    if missing:
        raise TaumlError(f"{path}: tree '{tree.name}' lacks required branch(es): {', '.join(missing)}")


def iterate(path, names: list[str], step_size=DEFAULT_STEP, tree: str = TREE,
            entry_start: int | None = None, entry_stop: int | None = None,
            finite: Iterable[str] = ()) -> Iterator[ak.Array]:
    """Chunks of ``names`` from one file, as awkward arrays; memory is bounded by ``step_size``.
    Branches in ``finite`` must hold finite values only (``check_finite``)."""
    t = open_tree(path, tree)
    require_branches(t, path, names)
    finite = list(finite)
    try:
        for chunk, report in t.iterate(names, step_size=step_size, library="ak", report=True,
                                       entry_start=entry_start, entry_stop=entry_stop):
            check_finite(chunk, finite, path, report.tree_entry_start, tree)
            yield chunk
    except TaumlError:
        raise
    except Exception as err:
        raise read_error(path, err, f"read tree '{tree}'") from err


def _non_finite_entries(values) -> np.ndarray | None:
    """Per entry, whether it holds a NaN or an infinity (any element, for a list branch); None for integers."""
    if isinstance(values, ak.Array) and values.ndim > 1:
        if not np.issubdtype(ak.flatten(values, axis=None).to_numpy().dtype, np.floating):
            return None
        return ak.to_numpy(ak.any(~np.isfinite(values), axis=-1))
    values = np.asarray(values)
    return ~np.isfinite(values) if np.issubdtype(values.dtype, np.floating) else None


def finite_entries(arrays, names: Iterable[str]) -> np.ndarray:
    """Mask of the entries whose ``names`` branches (floating ones; integers are always finite) are all finite;
    for a stage that skips such entries behind an explicit option, counting and reporting what it skips."""
    names = list(names)
    good = np.ones(len(arrays[names[0]]), bool)
    for name in names:
        bad = _non_finite_entries(arrays[name])
        if bad is not None:
            good &= ~bad
    return good


def check_finite(arrays, names: Iterable[str], path, first_entry: int = 0, tree: str = TREE) -> None:
    """Raise a TaumlError naming the file, the first entry and the branch where ``names`` hold NaN or +-inf;
    ``arrays`` (branch name -> values) are entries ``first_entry ...`` of ``tree``. Integer branches pass."""
    for name in names:
        bad = _non_finite_entries(arrays[name])
        if bad is None or not bad.any():
            continue
        i = int(np.argmax(bad))
        value = arrays[name][i]
        value = ak.to_list(value) if isinstance(value, ak.Array) else value
        more = f"; {int(bad.sum())} such entries in {first_entry}-{first_entry + len(bad) - 1}" if bad.sum() > 1 else ""
        raise TaumlError(f"{path}: tree '{tree}' entry {first_entry + i}: branch '{name}' is {value}, not a "
                         f"finite number{more}")


def collection_layout(names: Iterable[str], jagged: set[str]) -> dict[str, list[str] | None]:
    """Output layout: ``{collection: [branch, ...]}`` for jagged groups, ``{branch: None}`` for scalars."""
    schema = branches()
    layout: dict[str, list[str] | None] = {}
    for name in names:
        if name not in jagged:
            layout[name] = None
            continue
        known = schema.get(name)
        coll = known.collection if known and known.collection else name
        layout.setdefault(coll, []).append(name)
    return layout


def _as_write_array(values):
    if isinstance(values, ak.Array):
        return values
    return np.asarray(values)


class TreeWriter:
    """Writes tree ``taus`` (or another) chunk by chunk; jagged branches share their collection's counter.
    Every TTree tauml writes is made here, so this is where the byte-identical metadata speed-up (quadratic in
    the number of branches in stock uproot) is installed. ``basket_capacity``: the baskets per branch the tree's
    metadata has room for before uproot relocates it (uproot's default; 2 for a tree written in one extend
    saves ~90 kB of uncompressed metadata per 552-branch file)."""

    def __init__(self, file, tree: str = TREE, basket_capacity: int = DEFAULT_BASKET_CAPACITY):
        uproot_speedup.install()
        self._file = file
        self._tree_name = tree
        self._basket_capacity = basket_capacity
        self._tree = None
        self._layout: dict[str, list[str] | None] = {}
        self.entries = 0

    def extend(self, arrays: Mapping[str, object]) -> None:
        arrays = {k: _as_write_array(v) for k, v in arrays.items()}
        if self._tree is None:
            jagged = {k for k, v in arrays.items() if isinstance(v, ak.Array) and v.ndim > 1}
            self._layout = collection_layout(arrays, jagged)
        data = {}
        for key, members in self._layout.items():
            if members is None:
                data[key] = arrays[key]
            else:
                prefix = key + "_"
                fields = {m[len(prefix):] if m.startswith(prefix) else m: arrays[m] for m in members}
                data[key] = ak.zip(fields) if len(members) > 1 or key != members[0] else arrays[key]
        if self._tree is None:
            types = {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in data.items()}
            types = {k: (t.content if isinstance(t, ak.types.ArrayType) else t) for k, t in types.items()}
            self._tree = self._file.mktree(self._tree_name, types, initial_basket_capacity=self._basket_capacity)
        n = len(next(iter(data.values()))) if data else 0
        if n:
            self._tree.extend(data)
            self.entries += n


def codec(algo: str, level: int):
    try:
        return COMPRESSION[algo.upper()](level)
    except KeyError as err:
        raise TaumlError(f"unknown compression algorithm '{algo}' (choose from {', '.join(COMPRESSION)})") from err


def output_error(path, err: OSError) -> OutputError:
    """One line for a failed write: the path and the system's reason (not a directory, permission, disk full)."""
    path = Path(path)
    blocker = next((p for p in reversed(path.parents) if p.exists() and not p.is_dir()), None)
    reason = f"{blocker} is not a directory" if blocker else err.strerror or str(err)
    return OutputError(f"{path}: cannot write output ({reason})")


def temporary_path(final: str | os.PathLike, kind: str = "tmp") -> Path:
    """``.<name>.<kind><pid>`` beside ``final``: a temporary of this process that a rerun removes once the
    process is dead (``remove_stale_temporaries``); ``kind`` is lower-case letters (``tmp``, ``shards``)."""
    final = Path(final)
    return final.with_name(f".{final.name}.{kind}{os.getpid()}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(final: str | os.PathLike) -> list[Path]:
    """Remove the temporaries of ``final`` left by killed runs (``temporary_path`` names of a pid no longer
    alive on this machine); returns what was removed. ``atomic_path`` calls it before writing."""
    final = Path(final)
    pattern = re.compile(rf"\.{re.escape(final.name)}\.[a-z]+(\d+)")
    removed = []
    try:
        names = os.listdir(final.parent)
    except OSError:
        return removed
    for name in names:
        m = pattern.fullmatch(name)
        if not m or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        stale = final.parent / name
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
        removed.append(stale)
    return removed


@contextlib.contextmanager
def scratch_dir(final: str | os.PathLike, kind: str) -> Iterator[Path]:
    """A private working directory beside ``final`` (``temporary_path(final, kind)``, e.g. spill files),
    removed at the end whatever happens, and by a rerun if this process is killed; an ``OSError`` inside
    becomes an ``OutputError`` naming ``final``."""
    final = Path(final)
    path = temporary_path(final, kind)
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(final)
            path.mkdir()
            yield path
        except OSError as err:
            raise output_error(final, err) from err
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """A temporary sibling of ``final`` that becomes ``final`` only if the block succeeds.

    Stale temporaries of killed runs are removed first. Any ``OSError`` of the block or of the final rename
    becomes an ``OutputError`` naming ``final``; messages naming the temporary name ``final`` instead.
    """
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise output_error(final, err) from err
    remove_stale_temporaries(final)
    tmp = temporary_path(final)
    try:
        try:
            yield tmp
            os.replace(tmp, final)
        except TaumlError as err:
            if str(tmp) not in str(err):
                raise
            raise type(err)(str(err).replace(str(tmp), str(final))) from err
        except OSError as err:
            raise output_error(final, err) from err
    except BaseException:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def root_writer(final: str | os.PathLike, algo: str = "LZ4", level: int = 4,
                n_threads: int = 1) -> Iterator[uproot.WritableDirectory]:
    """An uproot file written under a temporary name and renamed to ``final`` at the end; ``n_threads`` > 1
    compresses the baskets of each extend in that many threads (same bytes)."""
    with atomic_path(final) as tmp, uproot_speedup.compression_threads(n_threads):
        with uproot.recreate(tmp, compression=codec(algo, level)) as f:
            yield f


def write_tree(final, arrays: Mapping[str, object], tree: str = TREE, algo: str = "LZ4", level: int = 4,
               extra_trees: Mapping[str, Mapping[str, object]] | None = None) -> None:
    """Write one or more small trees at once (tests, summaries)."""
    with root_writer(final, algo, level) as f:
        TreeWriter(f, tree).extend(arrays)
        for name, data in (extra_trees or {}).items():
            TreeWriter(f, name).extend(data)


def schema_defaults(n: int) -> dict[str, object]:
    """Arrays of ``n`` entries holding every schema branch's default (empty collections for jagged ones)."""
    out: dict[str, object] = {}
    empty_offsets = np.zeros(n + 1, np.int64)
    for b in branches().values():
        if b.jagged:
            content = ak.contents.NumpyArray(np.empty(0, b.dtype))
            out[b.name] = ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(empty_offsets), content))
        else:
            out[b.name] = np.full(n, b.default, b.dtype)
    return out


__all__ = [
    "DEFAULT_BASKET_CAPACITY", "OutputError", "TaumlError", "TreeWriter", "atomic_path", "check_complete",
    "check_finite", "codec",
    "collection_layout", "collections", "counter_branches", "finite_entries", "is_remote", "iterate", "open_file",
    "open_tree", "output_error", "payload_branches", "read_error", "remove_stale_temporaries", "require_branches",
    "root_writer", "schema_defaults", "scratch_dir", "temporary_path", "tree_key", "write_tree",
]
