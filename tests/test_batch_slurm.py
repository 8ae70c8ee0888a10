"""profiles/slurm on a real single-node Slurm (tests/services/slurm.sh): the tiny chain gives the local outputs."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "services"))
import tiny_chain  # noqa: E402

SLURM_SH = tiny_chain.REPO / "tests" / "services" / "slurm.sh"
PROFILE = str(tiny_chain.REPO / "profiles" / "slurm")


@pytest.fixture(scope="module")
def slurm():
    proc = subprocess.run(["bash", str(SLURM_SH), "start"], capture_output=True, text=True, timeout=120)
    if proc.returncode == 2:
        pytest.skip(f"no Slurm here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    yield
    if proc.stdout.strip() == "started":
        subprocess.run(["bash", str(SLURM_SH), "stop"], check=True, timeout=60)


def _slurm_jobs(workdir: Path) -> dict[str, dict[str, str]]:
    """``{comment: job record}`` of the Slurm jobs that ran in ``workdir`` (kept visible by MinJobAge)."""
    ids = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%i"], capture_output=True, text=True,
                         check=True).stdout.split()
    jobs = {}
    for job in ids:
        text = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout
        record = dict(re.findall(r"(\w+)=(\S*)", text))
        if record.get("WorkDir") == str(workdir):
            jobs[record["Comment"]] = record
    return jobs


def _comment(key: str, job: dict[str, str]) -> str:
    """The comment the Slurm plugin gives a single job: rule_<rule>[_wildcards_<value>...]."""
    _, _, wildcards = key.partition(":")
    return f"rule_{job['rule']}" + "".join(f"_wildcards_{w.split('=')[1]}" for w in wildcards.split(",") if w)


def _minutes(limit: str) -> int:
    hours, minutes, _ = (int(x) for x in limit.split(":"))
    return 60 * hours + minutes


@pytest.mark.slow
def test_chain_through_slurm_gives_the_local_outputs(slurm, tmp_path):
    workdir = tiny_chain.make_workdir(tmp_path / "slurm")
    # --cores 2: the node has 2 CPUs, so the group of 3 produce jobs runs in layers of 2
    proc = tiny_chain.snakemake(workdir, "--profile", PROFILE, "--cores", "2", "--latency-wait", "5",
                                *tiny_chain.TARGETS)
    planned = tiny_chain.job_resources(proc.stdout + proc.stderr)
    ran = _slurm_jobs(workdir)
    single = {_comment(key, job): job for key, job in planned.items() if job["rule"] != "produce"}
    assert set(ran) == {"rule_produce_produce", *single} and len(single) == 3  # one group, 3 single jobs
    for comment, record in ran.items():
        assert record["JobState"] == "COMPLETED", record
        if comment == "rule_produce_produce":  # 3 jobs in layers of 2 + 1
            produce = [r for key, r in planned.items() if key.startswith("produce:")]
            assert len(produce) == 3
            assert int(record["NumCPUs"]) == 2
            assert record["MinMemoryNode"] == f"{2 * int(produce[0]['mem_mb'])}M"
            assert _minutes(record["TimeLimit"]) == 2 * int(produce[0]["runtime"])
            continue
        job = single[comment]
        assert int(record["NumCPUs"]) == int(job["threads"])
        assert record["MinMemoryNode"] == f"{job['mem_mb']}M"
        assert _minutes(record["TimeLimit"]) == int(job["runtime"])
    local = tiny_chain.make_workdir(tmp_path / "local")
    tiny_chain.snakemake(local, "--cores", "2", *tiny_chain.TARGETS)
    tiny_chain.assert_same_outputs(workdir, local)
