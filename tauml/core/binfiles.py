"""The files CreateBinnedTuples writes and CreateTupleSizeList / ShuffleMerge read: their names and the size list.

A bin file is ``<tauType>_pt_<ptLow>_eta_<etaLow>.root`` with pt written with 0 decimals and |eta| with 3, as
the original names them; candidates outside every bin go to ``other.root``, the input summaries to
``summary.root``. The size list holds one ``<path relative to its directory> <entries>`` line per file.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import TaumlError
from .schema import TauType

OTHER_FILE = "other.root"
SUMMARY_FILE = "summary.root"
SIZE_LIST = "size_list.txt"
# loose on the numbers, so that hand-made names like tau_pt_20.5_eta_0.5 still parse
_BIN_STEM = re.compile(r"(?P<type>[a-z_]+?)_pt_(?P<pt>[-+0-9.eE]+)_eta_(?P<eta>[-+0-9.eE]+)")


def cell_name(pt_low: float, eta_low: float) -> str:
    """``pt_20_eta_0.000``: the grid-cell part of a bin file name."""
    return f"pt_{pt_low:.0f}_eta_{eta_low:.3f}"


def bin_name(tau_type: TauType | int | str, pt_low: float, eta_low: float) -> str:
    """``tau_pt_20_eta_0.000``: the bin file name without ``.root`` (tau type as TauType, its value or name)."""
    name = tau_type if isinstance(tau_type, str) else TauType(tau_type).name
    return f"{name}_{cell_name(pt_low, eta_low)}"


def bin_file_name(tau_type: TauType | int | str, pt_low: float, eta_low: float) -> str:
    return bin_name(tau_type, pt_low, eta_low) + ".root"


def parse_bin_name(stem: str) -> tuple[TauType, float, float]:
    """``emb_tau_pt_20_eta_0.000`` -> (TauType.emb_tau, 20.0, 0.0); ValueError if it is not a bin name."""
    m = _BIN_STEM.fullmatch(stem)
    if not m or m.group("type") not in TauType.__members__:
        raise ValueError(f"'{stem}' is not '<tauType>_pt_<ptLow>_eta_<etaLow>'")
    try:
        return TauType[m.group("type")], float(m.group("pt")), float(m.group("eta"))
    except ValueError:
        raise ValueError(f"'{stem}' has a non-numeric pt or eta edge") from None


def is_bin_file(name: str) -> bool:
    if not name.endswith(".root"):
        return False
    try:
        parse_bin_name(name.removesuffix(".root"))
    except ValueError:
        return False
    return True


def read_size_list(path: str | os.PathLike) -> list[tuple[str, int]]:
    """``(relative path, entries)`` per line of a CreateTupleSizeList output, in file order."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as err:
        raise TaumlError(f"{path}: cannot read size list ({err.strerror})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit():
            raise TaumlError(f"{path}:{number}: expected '<relative path> <entries>', got '{line}'")
        rows.append((fields[0], int(fields[1])))
    return rows


def format_size_list(rows: list[tuple[str, int]]) -> str:
    return "".join(f"{path} {n}\n" for path, n in rows)
