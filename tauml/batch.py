"""Batch-system requests derived from a rule's generic resources (used by rules/batch.smk).

Rules state ``threads``, ``mem_mb``, ``disk_mb``, ``runtime`` (minutes) and optionally ``gpu``; the
HTCondor executor plugin (0.3.0) maps only ``threads``, so the HTCondor names are derived here.
"""
from __future__ import annotations

from .errors import TaumlError

# CERN HTCondor job flavours and their wall-time limits in minutes.
JOB_FLAVOURS = {
    "espresso": 20,
    "microcentury": 60,
    "longlunch": 120,
    "workday": 8 * 60,
    "tomorrow": 24 * 60,
    "testmatch": 3 * 24 * 60,
    "nextweek": 7 * 24 * 60,
}


def job_flavour(runtime_min: float) -> str:
    """The shortest flavour whose limit covers ``runtime_min`` minutes."""
    for name, limit in JOB_FLAVOURS.items():
        if runtime_min <= limit:
            return name
    raise TaumlError(f"runtime {runtime_min} min exceeds the longest HTCondor job flavour "
                     f"(nextweek, {JOB_FLAVOURS['nextweek']} min): split the job or lower its runtime")


def htcondor_derivations() -> dict[str, tuple[str, object]]:
    """``{HTCondor resource: (generic resource, convert(value, group components))}``. The plugin turns
    ``htcondor_request_mem_mb`` into ``request_memory``, ``htcondor_request_disk_mb`` into ``request_disk``
    (KiB), ``classad_JobFlavour`` into ``+JobFlavour``; ``request_gpus`` passes as is. Snakemake sums memory
    and disk over a group's parallel jobs itself; a group of n jobs gets the flavour of n times one job's
    runtime, an upper bound whether the jobs run in parallel or one after the other."""
    return {
        "htcondor_request_mem_mb": ("mem_mb", lambda mb, n: int(mb)),
        "htcondor_request_disk_mb": ("disk_mb", lambda mb, n: int(mb)),
        "classad_JobFlavour": ("runtime", lambda minutes, n: job_flavour(minutes * n)),
        "request_gpus": ("gpu", lambda gpus, n: int(gpus)),
    }
