"""CreateTupleSizeList: ``<path relative to INPUT> <entries of tree taus>`` for every ROOT file below INPUT.

Counts come from the TTree header (``tauml.core.entries``). A hidden cache in INPUT
(``.size_list_cache.json``: relative path -> size, mtime, entries) lets a rerun skip files that did not
change; ``--prev-output`` counts are reused by path without looking at the file, as the original.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from tqdm import tqdm

from ..core.binfiles import read_size_list
from ..core.entries import tree_entries
from ..core.errors import TaumlError
from ..core.io import atomic_path
from ..core.schema import TREE

CACHE_FILE = ".size_list_cache.json"


def _root_files(top: Path, filter_regex: str | None) -> list[str]:
    """Relative paths of the visible ``*.root`` files below ``top``; with a filter, only those inside a
    sub-directory of ``top`` whose name matches it (re.search), as CreateBinnedTuples --filter."""
    try:
        regex = re.compile(filter_regex) if filter_regex else None
    except re.error as err:
        raise TaumlError(f"--filter '{filter_regex}': {err}") from err
    found = []
    for root, dirs, names in os.walk(top):
        at_top = Path(root) == top
        dirs[:] = [d for d in dirs if not d.startswith(".") and not (at_top and regex and not regex.search(d))]
        if at_top and regex:
            continue
        found += [Path(root, n).relative_to(top).as_posix() for n in names
                  if n.endswith(".root") and not n.startswith(".")]
    return sorted(found)


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, cache: dict) -> None:
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(cache, sort_keys=True))
    except OSError as err:
        print(f"CreateTupleSizeList: {path}: cache not written ({err.strerror or err})", file=sys.stderr)


def tuple_sizes(input_dir, prev_output=None, filter_regex: str | None = None, use_cache: bool = True,
                progress: bool = True) -> list[tuple[str, int]]:
    """Entries of tree ``taus`` of every ROOT file below ``input_dir``, by relative path, sorted. Files without
    ``taus`` (``summary.root``) and hidden temporary outputs are skipped."""
    top = Path(input_dir)
    if not top.is_dir():
        raise TaumlError(f"{top}: input directory does not exist")
    previous = dict(read_size_list(prev_output)) if prev_output else {}
    cache_path = top / CACHE_FILE
    cache = _read_cache(cache_path) if use_cache else {}
    fresh, rows = {}, []
    files = _root_files(top, filter_regex)
    for rel in tqdm(files, desc="CreateTupleSizeList", unit=" files", file=sys.stderr,
                    disable=not progress or None, mininterval=1):
        if rel in previous:
            rows.append((rel, previous[rel]))
            continue
        st = (top / rel).stat()
        stamp = [st.st_size, st.st_mtime_ns]
        known = cache.get(rel)
        if isinstance(known, list) and len(known) == 3 and known[:2] == stamp:
            entries = known[2]
        else:
            entries = tree_entries(top / rel)
        fresh[rel] = [*stamp, entries]
        if entries is None:
            tqdm.write(f"CreateTupleSizeList: {rel}: no tree '{TREE}', skipped", file=sys.stderr)
            continue
        rows.append((rel, entries))
    if use_cache and fresh != cache:
        _write_cache(cache_path, fresh)
    return sorted(rows)
