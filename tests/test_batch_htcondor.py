"""profiles/htcondor: the plan, and the submit descriptions the HTCondor plugin hands to the schedd.

The contract test replaces only ``htcondor2.Schedd`` (tests/services/htcondor_standin): HTCondor's own
submit-language code expands every description into a job ClassAd, and the job then runs here, so the
tiny production + binning chain completes through the real plugin.
"""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent / "services"))
import tiny_chain  # noqa: E402

from tauml.core.batch import JOB_FLAVOURS, job_flavour  # noqa: E402
from tauml.core.errors import TaumlError  # noqa: E402

PROFILE = str(tiny_chain.REPO / "profiles" / "htcondor")
STANDIN = str(tiny_chain.REPO / "tests" / "services" / "htcondor_standin")
_SETTINGS = yaml.safe_load((Path(PROFILE) / "config.yaml").read_text())
GROUPS = dict(item.split("=") for item in _SETTINGS["groups"])


def test_job_flavour_is_the_shortest_that_covers_the_runtime():
    assert [job_flavour(m) for m in (1, 20, 21, 60, 61, 120, 121, 480, 481, 1440, 1441, 4320, 4321, 10080)] == [
        "espresso", "espresso", "microcentury", "microcentury", "longlunch", "longlunch", "workday", "workday",
        "tomorrow", "tomorrow", "testmatch", "testmatch", "nextweek", "nextweek"]
    assert list(JOB_FLAVOURS.values()) == sorted(JOB_FLAVOURS.values())
    with pytest.raises(TaumlError, match="exceeds the longest HTCondor job flavour"):
        job_flavour(10081)


def test_no_storage_plugin_is_installed():
    # The plugin auto-deploys every installed storage plugin with a `pip install ... &&` in front of each
    # job's command, which it then cannot split into executable and arguments (docs/batch.md).
    from snakemake_interface_storage_plugins.registry import StoragePluginRegistry

    assert StoragePluginRegistry().get_registered_plugins() == []


def _members(args: str) -> list[str]:
    """The Snakemake jobs one cluster runs, from --target-jobs in its arguments."""
    targets = re.search(r"--target-jobs (.*?) --", args)[1].split()
    return [t.rstrip(":") for t in targets]


def test_dry_run_plans_the_default_chain():
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--profile", PROFILE, "--dry-run"],
                          cwd=tiny_chain.REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = proc.stdout + proc.stderr
    assert re.search(r"produce\s+\d+", plan)
    assert "htcondor_request_mem_mb=" in plan and "classad_JobFlavour=" in plan


def _through_standin(tmp_path: Path, targets: list[str]):
    """Runs ``targets`` with the profile; returns (workdir, proxy, {job: resources}, recorded clusters)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a stand-in proxy certificate")
    workdir = tiny_chain.make_workdir(tmp_path / "condor")
    key, cert, proxy = tmp_path / "key.pem", tmp_path / "cert.pem", tmp_path / "x509up_test"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=tauml test proxy", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    proxy.write_bytes(cert.read_bytes() + key.read_bytes())
    record = tmp_path / "submitted.jsonl"
    proc = tiny_chain.snakemake(workdir, "--profile", PROFILE, "--seconds-between-status-checks", "1",
                                "--latency-wait", "5", *targets,
                                env={"PYTHONPATH": STANDIN, "TAUML_SCHEDD_RECORD": str(record),
                                     "X509_USER_PROXY": str(proxy)})
    jobs = tiny_chain.job_resources(proc.stdout + proc.stderr)
    clusters = [json.loads(line) for line in record.read_text().splitlines()]
    submitted = [m for c in clusters for m in _members(c["submit"]["arguments"])]
    assert sorted(submitted) == sorted(jobs)  # every job went through the schedd, once
    for c in clusters:
        _check_cluster(c, [jobs[m] for m in _members(c["submit"]["arguments"])], workdir, proxy)
    return workdir, clusters


def _check_cluster(cluster: dict, members: list[dict[str, str]], workdir: Path, proxy: Path) -> None:
    """The job ClassAd HTCondor made of one submit description agrees with its jobs' resources."""
    ad = cluster["ad"]
    assert cluster["exit_code"] == 0
    # Snakemake runs a group's jobs side by side (here within the profile's 8 cores): requests add up
    assert ad["RequestCpus"] == sum(int(m["threads"]) for m in members) <= 8
    assert ad["RequestMemory"] == sum(int(m["mem_mb"]) for m in members)
    assert ad["RequestDisk"] == 1024 * sum(int(m["disk_mb"]) for m in members)  # KiB
    runtimes = [int(m["runtime"]) for m in members]
    grouped = {m["rule"] for m in members} & set(GROUPS)
    if grouped:  # the profile's flavour for the group, long enough to run its jobs one after the other
        (rule,) = grouped
        assert ad["JobFlavour"] == _SETTINGS["set-resources"][rule]["classad_JobFlavour"].strip("'")
        assert JOB_FLAVOURS[ad["JobFlavour"]] >= sum(runtimes)
    else:
        assert ad["JobFlavour"] == job_flavour(runtimes[0])
    assert "RequestGPUs" not in ad  # no rule of this chain asks for a GPU
    assert ad["x509userproxy"] == str(proxy)
    assert ad["Cmd"] == sys.executable and ad["Args"].startswith("-m snakemake ")
    assert "--mode remote" in ad["Args"] and "--configfiles " + str(workdir / "tiny.yaml") in ad["Args"]
    assert ad["Iwd"] == str(workdir)
    assert "X509_USER_PROXY=" + str(proxy) in ad["Environment"]  # getenv


def test_submit_description_of_a_production_job(tmp_path):
    workdir, clusters = _through_standin(tmp_path, ["results/raw/QCD/eventTuple_0.root"])
    assert len(clusters) == 1
    assert clusters[0]["ad"]["JobFlavour"] == "workday"  # the profile's, for groups of up to 20 produce jobs
    assert tiny_chain.root_outputs(workdir) == ["raw/QCD/eventTuple_0.root"]


@pytest.mark.slow
def test_chain_through_the_plugin_gives_the_local_outputs(tmp_path):
    workdir, clusters = _through_standin(tmp_path, tiny_chain.TARGETS)
    produce = [c for c in clusters if "produce:" in c["submit"]["arguments"]]
    assert len(produce) == 1 and len(_members(produce[0]["submit"]["arguments"])) == 3  # one group
    assert produce[0]["ad"]["RequestCpus"] == 3
    local = tiny_chain.make_workdir(tmp_path / "local")
    tiny_chain.snakemake(local, "--cores", "2", *tiny_chain.TARGETS)
    tiny_chain.assert_same_outputs(workdir, local)


@pytest.mark.slow
def test_production_size_plan(tmp_path):
    """config/full.yaml (>= 80 datasets, 500 spectral jobs, the README's bins) plans through the profile; the
    time is in docs/performance.md."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--profile", PROFILE, "--configfile",
                           "config/full.yaml", "--dry-run"], cwd=tiny_chain.REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", proc.stdout.split("Job stats:")[1], re.M)}
    assert counts["shuffle_merge_spectral"] == 500 and counts["produce"] >= 80
    assert max(n for rule, n in counts.items() if rule not in ("produce", "total")) >= 80  # one job per dataset
