"""A tree's entry count from its TTree header, without building its branches.

uproot's ``file[tree].num_entries`` deserialises every TBranch first (~0.25 s for the 552 branches of a
TauTuple); ``fEntries`` follows the TTree's TNamed and TAtt* bases, so it is read from there directly.
"""
from __future__ import annotations

import os
import struct

import uproot.deserialization
from uproot.models.TAtt import Model_TAttFill_v2, Model_TAttLine_v2, Model_TAttMarker_v2
from uproot.models.TNamed import Model_TNamed

from .io import open_file, read_error
from .schema import TREE

_HEADER_BASES = (Model_TNamed, Model_TAttLine_v2, Model_TAttFill_v2, Model_TAttMarker_v2)
_INT64 = struct.Struct(">q")


def _header_entries(f, key) -> int:
    chunk, cursor = key.get_uncompressed_chunk_cursor()
    context = {"breadcrumbs": (), "TKey": key}
    uproot.deserialization.numbytes_version(chunk, cursor, context)
    for base in _HEADER_BASES:
        base.read(chunk, cursor, context, f.file, f.file.detached, None)
    return int(cursor.field(chunk, _INT64, context))


def tree_entries(path: str | os.PathLike, tree: str = TREE) -> int | None:
    """Entries of ``tree`` in the ROOT file ``path``; None if the file has no such tree."""
    with open_file(path) as f:
        try:
            key = f.key(tree)
        except KeyError:
            return None
        if key.fClassName != "TTree":
            return None
        try:
            entries = _header_entries(f, key)
        except Exception:  # a header layout this reader does not know: let uproot build the tree
            entries = -1
        if entries >= 0:
            return entries
        try:
            return f[tree].num_entries
        except Exception as err:
            raise read_error(path, err, f"read tree '{tree}'") from err
