"""Shared fixtures."""
from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tauml.production import produce

# events per process for `produced_tuples`: a few hundred candidates each, ~30 s of CPU for all of them
PRODUCED_EVENTS = {"DYtautau": 300, "DYee": 200, "DYmumu": 200, "WJets": 200, "TT": 80, "QCD": 150,
                   "ZprimeTauTau": 150, "ZprimeEE": 100}
PRODUCED_SEED = 20260
STALE_LOCK_SECONDS = 600
# With --strict-skips (`make test`), a skip whose reason matches none of these fails the run: a missing
# dependency of the project itself (ROOT, a test file) must not pass silently as a skip.
ALLOWED_SKIP_REASONS = (
    r"no Slurm here",                         # tests/services/slurm.sh needs root to start slurmctld
    r"xrootd-server is not installed",        # tests/services/install-system-deps.sh needs root and apt-get
    r"openssl is needed",                     # stand-in grid proxy of the HTCondor profile test
)


class ProducedTuples(Mapping):
    """{process: Path} of small TauTuples made by the embedded producer, each on first use.

    The files live in a directory shared by all pytest-xdist workers; a lock file makes sure each is produced
    once, so workers can make different processes in parallel.
    """

    def __init__(self, directory: Path):
        self._dir = directory

    def __getitem__(self, process: str) -> Path:
        if process not in PRODUCED_EVENTS:
            raise KeyError(process)
        path = self._dir / f"{process}.root"
        lock = self._dir / f"{process}.lock"
        while not path.exists():
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    if time.time() - lock.stat().st_mtime > STALE_LOCK_SECONDS:  # its worker died
                        lock.unlink(missing_ok=True)
                except FileNotFoundError:
                    continue
                time.sleep(0.2)
                continue
            os.close(fd)
            try:
                if not path.exists():
                    produce(process, PRODUCED_EVENTS[process], PRODUCED_SEED, path)
            finally:
                lock.unlink()
        return path

    def __iter__(self) -> Iterator[str]:
        return iter(PRODUCED_EVENTS)

    def __len__(self) -> int:
        return len(PRODUCED_EVENTS)


@pytest.fixture(scope="session")
def produced_tuples(tmp_path_factory) -> ProducedTuples:
    """Small TauTuples of every embedded process (see ``PRODUCED_EVENTS``), shared by all tests and workers."""
    base = tmp_path_factory.getbasetemp()
    # under pytest-xdist each worker has its own base directory inside the run's directory
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "produced_tuples"
    shared.mkdir(exist_ok=True)
    return ProducedTuples(shared)


def pytest_addoption(parser):
    parser.addoption("--strict-skips", action="store_true",
                     help="fail the run when a test is skipped for a reason not in conftest.ALLOWED_SKIP_REASONS")


_UNLISTED_SKIPS: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail") and isinstance(report.longrepr, tuple):
        reason = report.longrepr[2]
        if not any(re.search(allowed, reason) for allowed in ALLOWED_SKIP_REASONS):
            _UNLISTED_SKIPS.append(f"{report.nodeid}: {reason}")


def pytest_terminal_summary(terminalreporter, config):
    if config.getoption("strict_skips") and _UNLISTED_SKIPS:
        terminalreporter.section("skips without a listed reason (--strict-skips)")
        for line in _UNLISTED_SKIPS:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session):
    if session.config.getoption("strict_skips") and _UNLISTED_SKIPS and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
