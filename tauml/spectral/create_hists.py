"""CreateSpectralHists: per-dataset (|eta|, pt) spectra of each tau type, plus the per-file entries list."""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..core import remote
from ..core.children import die_with_parent
from ..core.errors import TaumlError
from ..core.io import atomic_path, iterate, root_writer
from ..core.schema import TAU_TYPE_BRANCHES, TauType, tau_type
from .histograms import Axis, Hist2D, not_valid_hist

HIST_PREFIX = "eta_pt_hist_"
SPECTRUM_BRANCHES = sorted(set(TAU_TYPE_BRANCHES) | {"tau_index"})
# the original dataset loop (CreateSpectralHists.py) hard-codes 1 GeV x 0.1 bins
FINE_PT = "4990, 10, 5000"
FINE_ETA = "25, 0, 2.5"
READ_STEP = 200_000  # entries per chunk; ~11 light branches -> a few MB


def parse_hist_axis(text: str, what: str) -> Axis:
    """``"n, min, max"`` -> uniform axis (the original's --pt-hist / --eta-hist)."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        if len(parts) != 3:
            raise ValueError
        n, lo, hi = int(parts[0]), float(parts[1]), float(parts[2])
    except ValueError:
        raise TaumlError(f"{what} '{text}': expected 'n, min, max'") from None
    try:
        return Axis.regular(n, lo, hi)
    except TaumlError as err:
        raise TaumlError(f"{what}: {err}") from None


@dataclass
class FileSpectrum:
    path: str
    entries: int
    hists: dict[int, Hist2D]
    not_valid: int


def file_spectrum(path: str, eta_axis: Axis, pt_axis: Axis) -> FileSpectrum:
    """Spectra of one file: typed entries with a reco tau go to their type's histogram."""
    total = 0
    hists: dict[int, Hist2D] = {}
    not_valid = 0
    for chunk in iterate(path, SPECTRUM_BRANCHES, step_size=READ_STEP, finite=SPECTRUM_BRANCHES):
        total += len(chunk)
        a = {k: chunk[k].to_numpy() for k in SPECTRUM_BRANCHES}
        types = np.where(a["tau_index"] >= 0, tau_type(a), -1)
        not_valid += int(np.count_nonzero(types < 0))
        for t in np.unique(types[types >= 0]):
            sel = types == t
            h = hists.setdefault(int(t), Hist2D(eta_axis, pt_axis))
            h.fill(np.abs(a["tau_eta"][sel]), a["tau_pt"][sel])
    return FileSpectrum(path, total, hists, not_valid)


def _worker(job):
    return file_spectrum(*job)


def create_spectral_hists(files: Sequence[str], output: str | os.PathLike, output_entries: str | os.PathLike,
                          pt_axis: Axis, eta_axis: Axis, n_threads: int = 1, progress: bool = True) -> dict:
    """Fill ``eta_pt_hist_<type>`` and ``not_valid`` over ``files`` into ``output``; list entries per file."""
    hists: dict[int, Hist2D] = {}
    not_valid = 0
    lines = []
    jobs = [(f, eta_axis, pt_axis) for f in files]
    bar = tqdm(total=len(jobs), desc=f"spectrum {Path(output).name}", unit="file", file=sys.stderr,
               disable=not progress or None)
    with _pool(n_threads) as pool:
        results = pool.imap(_worker, jobs) if pool else map(_worker, jobs)
        for spec in results:
            lines.append(f"{spec.path} {spec.entries}\n")
            not_valid += spec.not_valid
            for t, h in spec.hists.items():
                hists.setdefault(t, Hist2D(eta_axis, pt_axis)).add(h)
            bar.update()
    bar.close()
    write_spectrum_file(output, hists, not_valid)
    with atomic_path(output_entries) as tmp:
        tmp.write_text("".join(lines))
    return hists


def write_spectrum_file(path, hists: dict[int, Hist2D], not_valid: int) -> None:
    with root_writer(path, "ZLIB", 4) as f:
        for t in sorted(hists):
            name = HIST_PREFIX + TauType(t).name
            f[name] = hists[t].to_root(name, name)
        f["not_valid"] = not_valid_hist(not_valid)


@contextlib.contextmanager
def _pool(n: int):
    """A process pool over files for n > 1, None otherwise."""
    if n <= 1:
        yield None
        return
    pool = multiprocessing.get_context("fork").Pool(n, initializer=die_with_parent)
    try:
        yield pool
    finally:
        pool.terminate()
        pool.join()


def create_dataset_spectra(raw: str, output: str, filter_regex: str | None = None, rewrite: bool = False,
                           n_threads: int = 1, progress: bool = True) -> list[str]:
    """The original dataset loop: one ``<output>/<DS>.root`` + ``.txt`` per sub-directory of ``raw`` (a local
    path or a root:// URL); ``crab_`` is dropped from the dataset name."""
    if not remote.isdir(raw):
        raise TaumlError(f"{raw}: input directory does not exist")
    pt_axis, eta_axis = parse_hist_axis(FINE_PT, "pt"), parse_hist_axis(FINE_ETA, "eta")
    subs = [(name, remote.join(raw, name)) for name in remote.subdirs(raw)
            if not name.startswith(".") and not (filter_regex and not re.search(filter_regex, name))]
    if not subs:
        raise TaumlError(f"{raw}: no dataset sub-directory" + (f" matches --filter '{filter_regex}'"
                                                               if filter_regex else " found"))
    done = []
    for name, sub in subs:
        ds = name.removeprefix("crab_")
        root_out, txt_out = os.path.join(output, ds + ".root"), os.path.join(output, ds + ".txt")
        if not rewrite and os.path.exists(root_out) and os.path.exists(txt_out):
            print(f"{ds}: spectrum exists, skipped (use --rewrite)", file=sys.stderr)
            continue
        create_spectral_hists(remote.find_root_files([sub]), root_out, txt_out, pt_axis, eta_axis, n_threads, progress)
        done.append(ds)
    return done
