"""root_to_hdf: flat ROOT trees -> HDF5, one group per tree, one chunked gzip dataset per branch, streamed.

The one-entry ``cells_setup`` tree of a TrainingTuple (its grid configuration) becomes attributes of the file,
so that the DataLoader can check HDF5 tuples like ROOT ones.
"""
from __future__ import annotations

import h5py
import numpy as np
from tqdm import tqdm

from ..core.errors import TaumlError
from ..core.io import atomic_path, open_file
from ..features.sources import SETUP_TREE

DEFAULT_TREES = ("taus", "inner_cells", "outer_cells")
GZIP_LEVEL = 1  # the original wrote zlib level 1


def _flat_branches(tree, path) -> list[str]:
    names = []
    for name in tree.keys(recursive=False):
        branch = tree[name]
        if branch.count_branch is not None or getattr(branch.interpretation, "content", None) is not None:
            raise TaumlError(f"{path}: tree '{tree.name}' branch '{name}' is not a flat column")
        names.append(name)
    return names


def root_to_hdf(input_path, output_path, trees=DEFAULT_TREES, chunk_size: int = 100_000) -> dict[str, int]:
    """Convert ``trees`` of ``input_path``; returns entries per tree."""
    if chunk_size < 1:
        raise TaumlError(f"--chunk-size must be positive, got {chunk_size}")
    f = open_file(input_path)
    keys = set(f.keys(cycle=False))
    missing = [t for t in trees if t not in keys]
    if missing:
        raise TaumlError(f"{input_path}: has no tree(s) {', '.join(missing)}")
    counts = {}
    try:
        with atomic_path(output_path) as tmp, h5py.File(tmp, "w") as h5:
            if SETUP_TREE in keys:
                for k, v in f[SETUP_TREE].arrays(library="np").items():
                    h5.attrs[k] = float(v[0])
            for name in trees:
                tree = f[name]
                branches = _flat_branches(tree, input_path)
                group = h5.create_group(name)
                n = int(tree.num_entries)
                counts[name] = n
                chunk_rows = max(1, min(chunk_size, n))
                datasets = {}
                with tqdm(total=n, unit="entries", desc=f"root_to_hdf {name}", disable=None) as bar:
                    for start in range(0, max(n, 1), chunk_size):
                        stop = min(start + chunk_size, n)
                        arrays = tree.arrays(branches, entry_start=start, entry_stop=stop, library="np")
                        for b in branches:
                            values = arrays[b]
                            if values.dtype == np.bool_:
                                values = values.astype(np.int32)  # as the original
                            if b not in datasets:
                                datasets[b] = group.create_dataset(
                                    b, shape=(n,), maxshape=(None,), dtype=values.dtype, chunks=(chunk_rows,),
                                    compression="gzip", compression_opts=GZIP_LEVEL, track_times=False)
                            datasets[b][start:stop] = values
                        bar.update(stop - start)
    except OSError as err:
        raise TaumlError(f"{output_path}: cannot write ({err})") from err
    return counts
