"""ROOT input and output: chunked reading of either jagged form, TauTuple writing, atomic outputs.

Real CMS TauTuples hold ``std::vector`` branches; uproot cannot write those, so tauml writes each
collection (``pfCand``, ``ele`` ...) as a counter ``n<collection>`` plus counted arrays. Reading through
uproot gives the same jagged arrays for both forms, and ROOT reads both.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from . import uproot_speedup
from .errors import TaumlError
from .schema import TREE, branches, collections

DEFAULT_STEP = "100 MB"
# uproot's TTree metadata writer is quadratic in the number of branches (seconds per 552-branch tree);
# every tauml writer goes through this module, so the byte-identical fast version is installed here once.
uproot_speedup.apply()

COMPRESSION = {"ZLIB": uproot.ZLIB, "LZMA": uproot.LZMA, "LZ4": uproot.LZ4, "ZSTD": uproot.ZSTD}


def is_remote(path: str | os.PathLike) -> bool:
    return str(path).startswith(("root://", "http://", "https://"))


class _XRootDSource(uproot.source.fsspec.FSSpecSource):
    """uproot's fsspec source for root:// URLs with plain-int offsets: uproot 5.7.7 passes numpy integers
    (basket seeks), which fsspec-xrootd 0.5.5 hands to the XRootD client, which rejects them."""

    def chunk(self, start, stop):
        return super().chunk(int(start), int(stop))


def open_file(path: str | os.PathLike):
    """Open a ROOT file, turning uproot's failures into a message naming the file."""
    options = {"handler": _XRootDSource} if str(path).startswith("root://") else {}
    try:
        return uproot.open(path, **options)
    except FileNotFoundError as err:
        raise TaumlError(f"{path}: no such file") from err
    except Exception as err:  # uproot raises many types for non-ROOT or truncated files
        raise TaumlError(f"{path}: not a readable ROOT file ({err})") from err


def open_tree(path: str | os.PathLike, tree: str = TREE):
    f = open_file(path)
    try:
        return f[tree]
    except Exception as err:
        raise TaumlError(f"{path}: has no tree '{tree}'") from err


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
            entry_start: int | None = None, entry_stop: int | None = None) -> Iterator[ak.Array]:
    """Chunks of ``names`` from one file, as awkward arrays; memory is bounded by ``step_size``."""
    t = open_tree(path, tree)
    require_branches(t, path, names)
    try:
        yield from t.iterate(names, step_size=step_size, library="ak",
                             entry_start=entry_start, entry_stop=entry_stop)
    except TaumlError:
        raise
    except Exception as err:
        raise TaumlError(f"{path}: cannot read tree '{tree}' ({err})") from err


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
    """Writes tree ``taus`` (or another) chunk by chunk; jagged branches share their collection's counter."""

    def __init__(self, file, tree: str = TREE):
        self._file = file
        self._tree_name = tree
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
            self._tree = self._file.mktree(self._tree_name, types)
        n = len(next(iter(data.values()))) if data else 0
        if n:
            self._tree.extend(data)
            self.entries += n


def codec(algo: str, level: int):
    try:
        return COMPRESSION[algo.upper()](level)
    except KeyError as err:
        raise TaumlError(f"unknown compression algorithm '{algo}' (choose from {', '.join(COMPRESSION)})") from err


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """A temporary sibling of ``final`` that becomes ``final`` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def root_writer(final: str | os.PathLike, algo: str = "LZ4", level: int = 4) -> Iterator[uproot.WritableDirectory]:
    """An uproot file written under a temporary name and renamed to ``final`` at the end."""
    with atomic_path(final) as tmp:
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
    "TaumlError", "TreeWriter", "atomic_path", "codec", "collection_layout", "collections", "counter_branches",
    "is_remote", "iterate", "open_file", "open_tree", "payload_branches", "require_branches", "root_writer",
    "schema_defaults", "write_tree",
]
