"""Batch-system requests derived from a rule's generic resources (applied by rules/batch.smk).

Rules state ``threads``, ``mem_mb``, ``disk_mb``, ``runtime`` (minutes) and optionally ``gpu``; the
HTCondor executor plugin (0.3.0) maps only ``threads``, and a profile's resource expressions cannot read
another resource, so each rule gets the HTCondor names as resources computed from its own.
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
    """``{HTCondor resource: (generic resource, conversion)}``. The plugin turns ``htcondor_request_mem_mb``
    into ``request_memory``, ``htcondor_request_disk_mb`` into ``request_disk`` (KiB), ``classad_JobFlavour``
    into ``+JobFlavour``; ``request_gpus`` passes as is."""
    return {
        "htcondor_request_mem_mb": ("mem_mb", int),
        "htcondor_request_disk_mb": ("disk_mb", int),
        "classad_JobFlavour": ("runtime", job_flavour),
        "request_gpus": ("gpu", int),
    }


def add_htcondor_requests(workflow) -> None:
    """Give every rule of a parsed Snakemake workflow the resources of ``htcondor_derivations``, evaluated
    per job from the rule's own; a value the rule or a profile sets wins. Other executors ignore them.

    Snakemake adds up numbers over the jobs of a group (memory, disk) but requires strings to agree, so the
    flavour of a grouped rule cannot follow each job's runtime: it is left out here, for the profile to set
    (set-resources; without it the pool's default flavour applies)."""
    from snakemake.common.tbdstring import TBDString

    def derived(rule, source, convert):
        def evaluate(wildcards, **aux):
            value = source.evaluate(wildcards, **aux).value if source.is_evaluable() else source.value
            if value is None or isinstance(value, TBDString):
                return value
            converted = convert(value)
            if isinstance(converted, str) and rule.group:  # --groups is known only at execution
                return None  # left to the profile
            return converted

        return evaluate

    for rule in workflow.rules:
        for name, (source, convert) in htcondor_derivations().items():
            if name not in rule.resources and source in rule.resources:
                rule.resources[name] = derived(rule, rule.resources[source], convert)
