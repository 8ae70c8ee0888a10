"""The DataLoader: batches of scaled model inputs from TauTuples or flat TrainingTuples.

Work items are (file, entry range) chunks. An epoch's order comes from ``(seed, epoch)`` alone: the file order
and the chunk order within each file are shuffled, and so are the taus within a chunk. Threads read and build
the chunks (the kernels release the GIL) while one more assembles batches into a bounded queue; results are
taken in item order, so the batches do not depend on thread timing.
"""
from __future__ import annotations

import os
import queue
import threading
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..core.errors import TaumlError
from .batches import inputs, one_hot
from .config import tau_type_classes
from .raw import RawTaus
from .scaling import Scaling
from .sources import open_source
from .weights import SpectrumWeights

DEFAULT_CHUNK = 5000  # entries per work item: ~100 MB of cell rows with production-like taus


def split_files(files: Sequence[str | os.PathLike], validation_split: float) -> tuple[list[str], list[str]]:
    """(training, validation) files: the sorted list, the last ``round(n * validation_split)`` for validation."""
    ordered = sorted(str(f) for f in files)
    n_val = int(round(len(ordered) * validation_split))
    n_val = min(n_val, max(len(ordered) - 1, 0))
    return ordered[: len(ordered) - n_val], ordered[len(ordered) - n_val:]


def as_scaling(scaling, cfg: dict) -> Scaling:
    if isinstance(scaling, Scaling):
        return scaling
    if isinstance(scaling, dict):
        return Scaling(scaling, cfg)
    return Scaling.from_file(scaling, cfg)


def select_training_taus(raw: RawTaus, cfg: dict) -> np.ndarray:
    """Rows of the taus that train: a reco tau whose type is a label class."""
    return np.flatnonzero(raw.has_reco_tau & np.isin(raw.tau_type, tau_type_classes(cfg)))


class DataLoader:
    """Batches ``(x, y, w)``: x maps INPUT_NAMES (+ the sparse cell indices) to float32 arrays, y is (B, 4) one-hot
    [e, mu, tau, jet], w is (B,) float32 spectrum weights or None."""

    def __init__(self, training_cfg: dict, files: Sequence[str | os.PathLike], scaling, *,
                 batch_size: int | None = None, seed: int = 0, sparse: bool = False, weights: bool = False,
                 n_workers: int | None = None, drop_last: bool = False, n_batches: int | None = None,
                 chunk_size: int = DEFAULT_CHUNK, max_queue_size: int | None = None):
        self.cfg = training_cfg
        self.files = sorted(str(f) for f in files)
        if not self.files:
            raise TaumlError("DataLoader: no input files")
        self.scaling = as_scaling(scaling, training_cfg)
        self.batch_size = int(batch_size or training_cfg["Setup"]["n_tau"])
        self.seed, self.sparse, self.drop_last, self.n_batches = seed, sparse, drop_last, n_batches
        nn = training_cfg.get("SetupNN", {})
        self.n_workers = max(1, int(n_workers if n_workers is not None else nn.get("n_load_workers", 1)))
        self.max_queue_size = max(1, int(max_queue_size or nn.get("max_queue_size", 10)))
        self.chunk_size = max(1, int(chunk_size))
        self.weights = SpectrumWeights.from_setup(training_cfg) if weights else None
        # opened sources kept across epochs (opening a TauTuple reads the metadata of all its branches), each used
        # by one thread at a time
        self._lock = threading.Lock()
        self._free = {f: [open_source(f, training_cfg)] for f in self.files}
        self._entries = {f: self._free[f][0].n_entries for f in self.files}

    def _items(self, rng: np.random.Generator) -> list[tuple[str, int, int]]:
        items = []
        for f in rng.permutation(self.files):
            n = self._entries[str(f)]
            chunks = [(str(f), s, min(s + self.chunk_size, n)) for s in range(0, n, self.chunk_size)]
            items += [chunks[i] for i in rng.permutation(len(chunks))]
        return items

    def _read(self, item, rng_seed) -> RawTaus:
        path, start, stop = item
        with self._lock:
            source = self._free[path].pop() if self._free[path] else None
        source = source or open_source(path, self.cfg)
        try:
            raw = source.read(start, stop)
        finally:
            with self._lock:
                self._free[path].append(source)
        rows = select_training_taus(raw, self.cfg)
        return raw.take(np.random.default_rng(rng_seed).permutation(rows))

    def _chunks(self, pool: ThreadPoolExecutor, rng: np.random.Generator) -> Iterator[RawTaus]:
        """The selected, shuffled taus of each work item, in item order, read ahead by the worker threads."""
        items = self._items(rng)
        seeds = rng.integers(0, 2**63, len(items))
        futures: deque = deque()
        for item, s in zip(items, seeds):
            futures.append(pool.submit(self._read, item, int(s)))
            if len(futures) > self.n_workers:
                yield futures.popleft().result()
        while futures:
            yield futures.popleft().result()

    def _raw_batches(self, epoch: int) -> Iterator[RawTaus]:
        rng = np.random.default_rng([self.seed, epoch])
        produced, cycling = 0, False
        buf, pos = None, 0
        with ThreadPoolExecutor(self.n_workers, thread_name_prefix="tauml-read") as pool:
            while True:
                got_any = False
                for raw in self._chunks(pool, rng):
                    got_any |= len(raw) > 0
                    buf = raw if buf is None else RawTaus.concat([buf.take(np.arange(pos, len(buf))), raw])
                    pos = 0
                    while len(buf) - pos >= self.batch_size:
                        yield buf.take(np.arange(pos, pos + self.batch_size))
                        pos += self.batch_size
                        produced += 1
                        if self.n_batches is not None and produced >= self.n_batches:
                            return
                if self.n_batches is None:
                    break
                if not got_any:
                    raise TaumlError(f"{self.files[0]}: no training taus in the input files")
                if not cycling:
                    cycling = True
                    warnings.warn(f"{len(self.files)} input file(s) hold {produced} batches of {self.batch_size} "
                                  f"taus; they are read again until n_batches = {self.n_batches} (SetupNN.n_batches "
                                  "and n_batches_val bound an epoch)", stacklevel=2)
        if buf is not None and len(buf) > pos and not self.drop_last:
            yield buf.take(np.arange(pos, len(buf)))

    def _assemble(self, raw: RawTaus):
        x = inputs(raw, self.cfg, self.scaling, self.sparse)
        y = one_hot(raw.tau_type, self.cfg)
        w = self.weights(raw) if self.weights is not None else None
        return x, y, w

    def epoch(self, i: int = 0) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray | None]]:
        """The batches of epoch ``i``; assembled in a background thread into a queue of ``max_queue_size``."""
        return prefetch((self._assemble(raw) for raw in self._raw_batches(i)), self.max_queue_size)

    __iter__ = epoch


def prefetch(items: Iterable, depth: int) -> Iterator:
    """Iterate ``items`` in a background thread, at most ``depth`` ahead; its errors re-raise in the consumer,
    and a consumer that stops early stops the thread."""
    out: queue.Queue = queue.Queue(max(1, depth))
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        """Queue ``item`` unless the consumer has gone; False once it has."""
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as err:  # handed to the consumer
            put(err)

    thread = threading.Thread(target=produce, name="tauml-prefetch", daemon=True)
    thread.start()
    try:
        while (item := out.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def iterate_taus(path: str | os.PathLike, training_cfg: dict, scaling, batch_size: int | None = None,
                 sparse: bool = False, chunk_size: int = DEFAULT_CHUNK) -> Iterator[dict[str, np.ndarray]]:
    """x of every tau of a file in file order, no selection; the last batch may be shorter."""
    scaling = as_scaling(scaling, training_cfg)
    batch_size = int(batch_size or training_cfg["Setup"]["n_tau"])
    source = open_source(path, training_cfg)
    step = max(batch_size, chunk_size // batch_size * batch_size)
    for start in range(0, source.n_entries, step):
        raw = source.read(start, min(start + step, source.n_entries))
        for b in range(0, len(raw), batch_size):
            yield inputs(raw.take(np.arange(b, min(b + batch_size, len(raw)))), training_cfg, scaling, sparse)
