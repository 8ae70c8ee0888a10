"""Inputs of ShuffleMergeSpectral: the mixed file list, data groups, and each job's entry ranges."""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..core.cfgfile import read_cfg
from ..core.errors import TaumlError
from ..core.io import atomic_path
from ..core.schema import TauType


@dataclass(frozen=True)
class ListedFile:
    dataset: str  # last directory component: the dataset name and the spectrum file's name
    name: str
    entries: int

    def path(self, prefix: str) -> str:
        rel = f"{self.dataset}/{self.name}"
        if not prefix:
            return rel
        return prefix + rel if prefix.endswith("/") else f"{prefix}/{rel}"


def parse_file_line(line: str, where: str) -> ListedFile:
    """``<anything>/<dataset_dir>/<file>.root <n_entries>``; the number follows the last space."""
    path, _, count = line.strip().rpartition(" ")
    parts = path.strip().replace("\\", "/").split("/")
    try:
        entries = int(count)
    except ValueError:
        entries = -1
    if entries < 0 or len(parts) < 2 or not parts[-1] or not parts[-2]:
        raise TaumlError(f"{where}: expected '<dataset_dir>/<file>.root <n_entries>', got '{line.strip()}'")
    return ListedFile(parts[-2], parts[-1], entries)


def read_file_list(path: str | os.PathLike) -> list[ListedFile]:
    try:
        text = open(path).read()
    except OSError as err:
        raise TaumlError(f"{path}: cannot read input list ({err.strerror})") from err
    files = [parse_file_line(line, f"{path}:{i}") for i, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not files:
        raise TaumlError(f"{path}: input list is empty")
    return files


def write_mixed_file_list(entry_lists: Sequence[str | os.PathLike], output: str | os.PathLike, seed: int) -> int:
    """``cat <spec>/*.txt | shuf``, reproducibly: lines become ``<dataset_dir>/<file> <n>``, shuffled by seed."""
    files = [f for p in entry_lists for f in read_file_list(p)]
    order = np.random.default_rng(seed).permutation(len(files))
    with atomic_path(output) as tmp:
        tmp.write_text("".join(f"{files[i].dataset}/{files[i].name} {files[i].entries}\n" for i in order))
    return len(files)


@dataclass
class DataGroup:
    name: str
    types: tuple[int, ...]
    files: list[ListedFile] = field(default_factory=list)

    @property
    def datasets(self) -> list[str]:
        return sorted({f.dataset for f in self.files})

    @property
    def entries(self) -> int:
        return sum(f.entries for f in self.files)


def read_groups(cfg: str | os.PathLike, files: Sequence[ListedFile]) -> list[DataGroup]:
    """Data groups ``name: dir=<regex> file=<regex> types=<t1,t2>`` with the listed files they match."""
    groups = []
    for name, props in read_cfg(cfg, allowed_keys=("dir", "file", "types"), required_keys=("dir", "file", "types")).items():
        try:
            dir_re, file_re = re.compile(props["dir"]), re.compile(props["file"])
        except re.error as err:
            raise TaumlError(f"{cfg}: group '{name}': bad regex ({err})") from err
        types = []
        for t in props["types"].replace(",", " ").split():
            if t not in TauType.__members__:
                raise TaumlError(f"{cfg}: group '{name}': unknown tau type '{t}' "
                                 f"(choose from {', '.join(TauType.__members__)})")
            types.append(int(TauType[t]))
        matched = [f for f in files if dir_re.fullmatch(f.dataset) and file_re.fullmatch(f.name)]
        if not matched:
            raise TaumlError(f"{cfg}: group '{name}' (dir={props['dir']} file={props['file']}) matches no file "
                             "of the input list")
        groups.append(DataGroup(name, tuple(dict.fromkeys(types)), matched))
    _warn_overlaps(groups)
    return groups


def _warn_overlaps(groups: Sequence[DataGroup]) -> None:
    """A file in two groups is read by both (as in the original); say so when they share a type."""
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            shared = set(a.types) & set(b.types)
            if shared and set(a.files) & set(b.files):
                print(f"warning: groups '{a.name}' and '{b.name}' share files and types "
                      f"{', '.join(TauType(t).name for t in sorted(shared))}; those entries can appear twice",
                      file=sys.stderr)


@dataclass(frozen=True)
class Segment:
    file: ListedFile
    start: int
    stop: int


def job_range(total: int, job_idx: int, n_jobs: int) -> tuple[int, int]:
    """Global entry range ``[start, stop)`` of a job: disjoint, covering all entries, sizes differ by <= 1."""
    if n_jobs < 1 or not 0 <= job_idx < n_jobs:
        raise TaumlError(f"--job-idx {job_idx} must lie in [0, --n-jobs={n_jobs})")
    return total * job_idx // n_jobs, total * (job_idx + 1) // n_jobs


def job_segments(files: Sequence[ListedFile], job_idx: int, n_jobs: int) -> list[Segment]:
    """The job's share of a group's entries as (file, local start, local stop) pieces, in list order."""
    start, stop = job_range(sum(f.entries for f in files), job_idx, n_jobs)
    segments, offset = [], 0
    for f in files:
        lo, hi = max(start, offset), min(stop, offset + f.entries)
        if lo < hi:
            segments.append(Segment(f, lo - offset, hi - offset))
        offset += f.entries
    return segments
