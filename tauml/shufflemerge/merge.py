"""ShuffleMerge, the command: check the options, plan every output before reading any entry, then write each
output in two passes (``stream.py``). A failure leaves no output of this run behind."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ..core.binfiles import SIZE_LIST, read_size_list
from ..core.errors import TaumlError
from ..core.io import open_tree, payload_branches
from ..core.schema import branches
from ..core.seeds import DEFAULT_SEED
from .plan import Grid, match_files, plan_merge, read_merge_cfg
from .stream import entry_bytes, write_plan

DEFAULT_BUFFER_MB = 1024
MODES = ("MergeAll", "MergePerEntry")
MAX_SHARDS = 512  # open shard files in pass 1


def stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def shuffle_merge(cfg, input_dir, output, pt_bins, eta_bins, mode: str = "MergeAll", calc_weights: bool = False,
                  ensure_uniformity: bool = False, max_bin_occupancy: int | None = None,
                  disabled_branches: Iterable[str] = (), seed: int = DEFAULT_SEED, n_threads: int = 1,
                  buffer_mb: float = DEFAULT_BUFFER_MB, progress: bool = True,
                  log: Callable[[str], None] = stderr_log) -> dict[str, int]:
    """Run ShuffleMerge; returns ``{output file: entries written}``.

    MergeAll writes every cfg item into the file ``output``; MergePerEntry writes one file
    ``<output>/<item>.root`` per item. ``buffer_mb`` bounds the memory of the entries in flight: a shard of
    the output takes a third of it, the read chunks a quarter, an output block a twelfth. ``n_threads``
    processes read the inputs (pass 1), as many threads compress the output's baskets (pass 2).
    """
    if mode not in MODES:
        raise TaumlError(f"--mode must be one of {', '.join(MODES)}, got '{mode}'")
    if not 0 <= seed < 2**64:
        raise TaumlError(f"--seed must be in [0, 2^64), got {seed}")
    if max_bin_occupancy is not None and max_bin_occupancy < 1:
        raise TaumlError(f"--max-bin-occupancy must be positive, got {max_bin_occupancy}")
    if n_threads < 1:
        raise TaumlError(f"--n-threads must be >= 1, got {n_threads}")
    if not buffer_mb > 0:
        raise TaumlError(f"--buffer-mb must be positive, got {buffer_mb}")
    entries = read_merge_cfg(cfg)
    grid = Grid(pt_bins, eta_bins)
    files = match_files(entries, read_size_list(Path(input_dir) / SIZE_LIST), input_dir)
    if mode == "MergeAll":
        jobs = [(Path(output), entries)]
    else:
        for e in entries:
            if "/" in e.name or e.name.startswith("."):
                raise TaumlError(f"{cfg}: item name '{e.name}' cannot be a file name (MergePerEntry)")
        jobs = [(Path(output) / f"{e.name}.root", [e]) for e in entries]
    plans = []
    for salt, (path, job_entries) in enumerate(jobs):
        log(f"planning {path}")
        plans.append(plan_merge(job_entries, files, grid, max_bin_occupancy, calc_weights, ensure_uniformity,
                                seed, salt, log))
    first_file, first_size = plans[0].streams[0].source.files[0]
    out_names, read_names = _branch_names(first_file, calc_weights, list(disabled_branches))
    disabled = {b for b in disabled_branches if b not in read_names and b != "sampleType"
                and not (calc_weights and b == "trainingWeight")}
    budget = buffer_mb * 2**20
    per_entry = entry_bytes(first_file, first_size, read_names)
    chunk = int(np.clip(budget / (4 * n_threads * per_entry), 64, 100_000))  # per reading process
    block = int(np.clip(budget / (12 * per_entry), 256, 20_000))
    written: dict[str, int] = {}
    try:
        for salt, ((path, _), plan) in enumerate(zip(jobs, plans)):
            shard = max(int(budget / (3 * per_entry)), block, -(-plan.total // MAX_SHARDS))
            log(f"writing {path}: {plan.total} entries from {len(plan.streams)} streams in {len(plan.bins)} "
                f"bins (read chunks of {chunk}, shards of {shard}, blocks of {block} entries, "
                f"~{per_entry / 1024:.1f} KiB/entry; the shards take ~{plan.total * per_entry / 2**30:.2f} GiB "
                f"of disk beside the output)")
            written[str(path)] = write_plan(plan, path, read_names, out_names, calc_weights, disabled, chunk, block,
                                            shard, seed, salt, n_threads, progress)
    except BaseException:
        for path in written:
            Path(path).unlink(missing_ok=True)
        raise
    return written


def _branch_names(path: str, calc_weights: bool, disabled: list[str]) -> tuple[list[str], list[str]]:
    """(output branches, branches read from the inputs).

    The output carries every branch of the inputs in their order; ``sampleType`` (and ``trainingWeight``
    with weights) come from the plan; disabled branches are not read and get the schema default.
    """
    tree = open_tree(path)
    payload = payload_branches(tree)
    tree.file.close()
    unknown = [b for b in disabled if b not in branches()]
    if unknown:
        raise TaumlError(f"--disabled-branches: {', '.join(unknown)} not TauTuple branch(es), no default known")
    from_plan = ["sampleType"] + (["trainingWeight"] if calc_weights else [])
    out_names = list(dict.fromkeys(payload + from_plan + disabled))
    read_names = [b for b in payload if b not in from_plan and b not in disabled]
    return out_names, read_names
