"""libstdc++'s ``std::hash<std::string>`` and the hash JSON files of ShuffleMergeSpectral.

The original writes ``dataset_id``/``dataset_group_id`` as ``std::hash`` of the dataset directory and data
group names (g++ on 64-bit: ``_Hash_bytes`` with seed 0xc70f6907, a MurmurHash64A variant), and stores
``{name: "hash"}`` JSON files with string values. tauml reproduces both so files stay comparable.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping

from .documents import read_json
from .errors import TaumlError
from .io import atomic_path

_MASK = (1 << 64) - 1
_MUL = 0xC6A4A7935BD1E995
_SEED = 0xC70F6907


def _shift_mix(v: int) -> int:
    return v ^ (v >> 47)


def std_hash(text: str) -> int:
    """``std::hash<std::string>{}(text)`` of 64-bit libstdc++ (UTF-8 bytes)."""
    data = text.encode()
    n = len(data)
    h = (_SEED ^ (n * _MUL)) & _MASK
    full = n - n % 8
    for i in range(0, full, 8):
        word = int.from_bytes(data[i:i + 8], "little")
        h ^= (_shift_mix((word * _MUL) & _MASK) * _MUL) & _MASK
        h = (h * _MUL) & _MASK
    if n % 8:
        h ^= int.from_bytes(data[full:], "little")
        h = (h * _MUL) & _MASK
    h = (_shift_mix(h) * _MUL) & _MASK
    return _shift_mix(h)


def read_hash_json(path: str | os.PathLike) -> dict[str, str]:
    """``{name: "hash"}`` of a hash file, hashes as decimal strings."""
    data = read_json(path, "hash JSON file")
    # the original wrote decimal strings (and its validation needed them); plain numbers are accepted too
    if not isinstance(data, dict) or not all(
            (isinstance(v, str) and v.isdigit()) or (isinstance(v, int) and v >= 0) for v in data.values()):
        raise TaumlError(f"{path}: expected an object {{name: \"hash\"}} with decimal string values")
    return {name: str(value) for name, value in data.items()}


def merge_hashes(*tables: Mapping[str, str]) -> dict[str, str]:
    """Union of hash tables; the same name with two different hashes is an error."""
    merged: dict[str, str] = {}
    for table in tables:
        for name, value in table.items():
            if merged.setdefault(name, value) != value:
                raise TaumlError(f"hash tables disagree on '{name}': {merged[name]} vs {value}")
    return dict(sorted(merged.items()))


def write_hash_json(path: str | os.PathLike, names, merge_existing: bool = True) -> dict[str, str]:
    """Write ``{name: str(std_hash(name))}``, merged with what ``path`` already holds (as the original)."""
    table = {name: str(std_hash(name)) for name in names}
    if merge_existing and os.path.exists(path):
        table = merge_hashes(read_hash_json(path), table)
    write_hash_table(path, table)
    return table


def write_hash_table(path: str | os.PathLike, table: Mapping[str, str]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(dict(sorted(table.items())), indent=4) + "\n")
