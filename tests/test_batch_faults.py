"""Faults on a batch system: a job killed while writing, and a transient failure, through the real workflow."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "services"))
import tiny_chain  # noqa: E402

QCD = {"QCD": {"process": "QCD", "events_per_job": 150, "jobs": 1, "seed": 21}}
TARGET = "results/raw/QCD/eventTuple_0.root"


def _kill_while_writing(workdir: Path) -> list[Path]:
    """Starts the production job and SIGKILLs Snakemake and the job once the job's temporary output appears,
    as a batch system does at a memory or time limit. Returns the temporary files left behind."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(tiny_chain.REPO / "Snakefile"), "--directory",
           str(workdir), "--configfile", str(workdir / "tiny.yaml"), "--cores", "1", TARGET]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    out_dir = workdir / "results" / "raw" / "QCD"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            temporary = list(out_dir.glob(".eventTuple_0.root.tmp*")) if out_dir.exists() else []
            if temporary:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert temporary, "the job finished before it could be killed while writing"
    return temporary


def test_killed_job_leaves_no_output_and_rerun_incomplete_recovers(tmp_path):
    workdir = tiny_chain.make_workdir(tmp_path / "killed", QCD)
    leftovers = _kill_while_writing(workdir)
    assert not (workdir / TARGET).exists()
    assert all(p.name.startswith(".") for p in leftovers)  # hidden temporary names, never an output
    tiny_chain.snakemake(workdir, "--unlock", TARGET)  # the killed Snakemake left its lock
    plan = tiny_chain.snakemake(workdir, "--dry-run", "--cores", "1", TARGET)
    assert "produce" in plan.stdout  # Snakemake sees the job as still to do
    tiny_chain.snakemake(workdir, "--cores", "1", "--rerun-incomplete", TARGET)
    clean = tiny_chain.make_workdir(tmp_path / "clean", QCD)
    tiny_chain.snakemake(clean, "--cores", "1", TARGET)
    tiny_chain.assert_same_outputs(workdir, clean)


def _flaky_producer(bin_dir: Path, marker: Path) -> dict[str, str]:
    """A PATH entry whose TauTupleProducer fails once (as after a flaky EOS read), then runs the real one."""
    real = subprocess.run(["which", "TauTupleProducer"], capture_output=True, text=True, check=True).stdout.strip()
    bin_dir.mkdir()
    script = bin_dir / "TauTupleProducer"
    script.write_text(f"#!/bin/sh\nif [ ! -e {marker} ]; then touch {marker}; echo 'transient failure' >&2; "
                      f"exit 3; fi\nexec {real} \"$@\"\n")
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_retries_recover_a_transient_failure(tmp_path):
    qcd = {"QCD": {**QCD["QCD"], "events_per_job": 40}}
    without = tiny_chain.make_workdir(tmp_path / "no_retry", qcd)
    env = _flaky_producer(tmp_path / "bin1", tmp_path / "failed1")
    proc = tiny_chain.snakemake(without, "--cores", "1", "--retries", "0", TARGET, env=env, check=False)
    assert proc.returncode != 0 and not (without / TARGET).exists()

    workdir = tiny_chain.make_workdir(tmp_path / "retry", qcd)
    env = _flaky_producer(tmp_path / "bin2", tmp_path / "failed2")
    proc = tiny_chain.snakemake(workdir, "--cores", "1", "--retries", "1", TARGET, env=env)
    assert (tmp_path / "failed2").exists() and "Trying to restart job" in proc.stderr
    clean = tiny_chain.make_workdir(tmp_path / "clean", qcd)
    tiny_chain.snakemake(clean, "--cores", "1", TARGET)
    tiny_chain.assert_same_outputs(workdir, clean)
