"""Writing bin files: ``BinSink`` buffers and spills entries so that every bin file gets few, large
baskets; ``ProcessSinks`` spreads the bins over writer processes."""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import shutil
from pathlib import Path

import numpy as np
import uproot

from ..core import columns, uproot_speedup
from ..core.children import die_with_parent
from ..core.errors import TaumlError
from ..core.io import DEFAULT_BASKET_CAPACITY, TreeWriter, atomic_path, codec


DEFAULT_COMPRESSION = ("LZ4", 4)
BUFFER_BYTES = 256 << 20  # entries waiting in memory, over all writer processes
FLUSH_BYTES = 32 << 20  # a bin with this much waiting is written


@contextlib.contextmanager
def _bin_file(final: Path, compression):
    """An uproot file on a WriteBackFile (far fewer system calls), renamed to ``final`` when complete."""
    with atomic_path(final) as tmp:
        target = uproot_speedup.WriteBackFile(tmp)
        try:
            with uproot.recreate(target, compression=codec(*compression)) as f:
                yield f
        finally:
            target.close()


class BinSink:
    """Writes the bin files it is given entries for, so that every file gets few, large baskets.

    ``grid.file_name(index)`` names the file of bin ``index``. Each uproot ``extend`` of a 552-branch tree
    costs ~0.1 s whatever its size, so entries wait until a bin has ``flush_bytes``. Waiting entries stay in
    memory (views of the received chunks) until those chunks add up to ``budget_bytes``; then they are
    appended to per-bin spill files (raw buffers, read back once when the bin is written). Memory is bounded
    by the budget, the spill by bins × ``flush_bytes``. Empty bins never create a file.
    """

    def __init__(self, directory: Path, grid, compression=DEFAULT_COMPRESSION,
                 flush_bytes: int = FLUSH_BYTES, budget_bytes: int = BUFFER_BYTES):
        self._dir, self._grid, self.compression = Path(directory), grid, compression
        self._flush_bytes, self._budget_bytes = flush_bytes, budget_bytes
        self._spill_dir = self._dir / f".spill{os.getpid()}"
        self._pending: dict[int, list[columns.Chunk]] = {}
        self._waiting_bytes: dict[int, int] = {}  # in memory and spilled
        self._spilled: set[int] = set()
        self._held_bytes = 0  # of the chunks received since the last spill
        self._layout = None
        self._writers: dict[int, TreeWriter] = {}
        self._files = contextlib.ExitStack()

    def add(self, bins: np.ndarray, bounds: np.ndarray, chunk: columns.Chunk) -> None:
        """Entries ``bounds[i]:bounds[i+1]`` of ``chunk`` belong to bin ``bins[i]``."""
        if self._layout is None:
            self._layout = columns.signature(chunk)
        self._held_bytes += columns.chunk_nbytes(chunk)
        for index, start, stop in zip(bins.tolist(), bounds[:-1].tolist(), bounds[1:].tolist()):
            part = columns.slice_view(chunk, start, stop)
            self._pending.setdefault(index, []).append(part)
            self._waiting_bytes[index] = self._waiting_bytes.get(index, 0) + columns.chunk_nbytes(part)
            if self._waiting_bytes[index] >= self._flush_bytes:
                self._flush(index)
        if self._held_bytes > self._budget_bytes:
            self._spill()

    def _spill(self) -> None:
        self._spill_dir.mkdir(exist_ok=True)
        for index, parts in self._pending.items():
            with open(self._spill_dir / str(index), "ab") as sink:
                for part in parts:
                    columns.write_record(sink, part)
            self._spilled.add(index)
        self._pending.clear()
        self._held_bytes = 0

    def _flush(self, index: int, last: bool = False) -> None:
        parts = self._pending.pop(index, [])
        if index in self._spilled:
            path = self._spill_dir / str(index)
            parts = columns.read_records(path.read_bytes(), self._layout) + parts
            path.unlink()
            self._spilled.discard(index)
        del self._waiting_bytes[index]
        if index not in self._writers:  # a bin first written at the end is written in one extend
            path = self._dir / self._grid.file_name(index)
            self._writers[index] = TreeWriter(self._files.enter_context(_bin_file(path, self.compression)),
                                              basket_capacity=2 if last else DEFAULT_BASKET_CAPACITY)
        self._writers[index].extend(columns.to_writer_arrays(columns.concatenate(parts)))

    def close(self) -> dict[str, int]:
        """Write what is left; entries per file name."""
        with self._files:
            for index in sorted(self._waiting_bytes):
                self._flush(index, last=True)
        shutil.rmtree(self._spill_dir, ignore_errors=True)
        return {self._grid.file_name(i): w.entries for i, w in self._writers.items()}

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._files.__exit__(RuntimeError, RuntimeError("aborted"), None)
        shutil.rmtree(self._spill_dir, ignore_errors=True)


def _sink_main(inbox, outbox, args) -> None:
    die_with_parent()
    sink = BinSink(*args)
    try:
        while (message := inbox.get()) is not None:
            sink.add(*message)
        outbox.put(("ok", sink.close()))
    except BaseException as err:  # reported to the reader, which raises it
        sink.abort()
        outbox.put(("error", str(err) if isinstance(err, TaumlError) else f"{type(err).__name__}: {err}"))


class ProcessSinks:
    """``n`` BinSinks in child processes; each bin is owned by one of them, assigned at first sight to the
    one with the fewest entries so far (deterministic, and the output does not depend on it)."""

    def __init__(self, n: int, args):
        ctx = multiprocessing.get_context("fork")
        self._outbox = ctx.Queue()
        self._inboxes = [ctx.Queue(maxsize=2) for _ in range(n)]
        self._procs = [ctx.Process(target=_sink_main, args=(q, self._outbox, args), daemon=True)
                       for q in self._inboxes]
        for p in self._procs:
            p.start()
        self._owner: dict[int, int] = {}
        self._load = [0] * n

    def add(self, bins: np.ndarray, bounds: np.ndarray, chunk: columns.Chunk) -> None:
        counts = np.diff(bounds)
        for index, count in zip(bins.tolist(), counts.tolist()):
            if index not in self._owner:
                self._owner[index] = int(np.argmin(self._load))
            self._load[self._owner[index]] += count
        owner = np.array([self._owner[i] for i in bins.tolist()], np.intp)
        entry_owner = np.repeat(owner, counts)
        for w, inbox in enumerate(self._inboxes):
            mine = owner == w
            if not mine.any():
                continue
            sub_bounds = np.concatenate([[0], np.cumsum(counts[mine])])
            self._send(w, (bins[mine], sub_bounds, columns.take(chunk, np.flatnonzero(entry_owner == w))))

    def _send(self, w: int, message) -> None:
        while True:
            self._raise_reported(wait=False)
            try:
                self._inboxes[w].put(message, timeout=1)
                return
            except queue.Full:
                if not self._procs[w].is_alive():
                    self._raise_reported(wait=True)
                    raise TaumlError("a writer process died") from None

    def _raise_reported(self, wait: bool) -> None:
        """Raise the error a writer reported (before ``close`` a writer only ever reports errors)."""
        try:
            status, value = self._outbox.get(timeout=1) if wait else self._outbox.get_nowait()
        except queue.Empty:
            return
        raise TaumlError(value if status == "error" else "a writer process stopped early")

    def close(self) -> dict[str, int]:
        for w in range(len(self._inboxes)):
            self._send(w, None)
        counts: dict[str, int] = {}
        for _ in self._procs:
            while True:
                try:
                    status, value = self._outbox.get(timeout=5)
                    break
                except queue.Empty:
                    if not any(p.is_alive() for p in self._procs):
                        raise TaumlError("a writer process died") from None
            if status == "error":
                raise TaumlError(value)
            counts.update(value)
        for p in self._procs:
            p.join()
        return counts

    def abort(self) -> None:
        for inbox in self._inboxes:  # its feeder thread may be stuck writing to a dead writer: exit without it
            inbox.cancel_join_thread()
        for p in self._procs:
            if p.is_alive():
                p.kill()
            p.join()
