"""A recording stand-in for the HTCondor schedd, for tests of profiles/htcondor without a pool.

With this directory on PYTHONPATH and TAUML_SCHEDD_RECORD=<file.jsonl>, Python replaces
``htcondor2.Schedd`` (the only object the HTCondor executor plugin submits through) before Snakemake
starts. Each submission is

1. expanded by HTCondor's own submit-language code (``htcondor.Submit.jobs``), which rejects what
   condor_submit would reject (a non-boolean use_x509userproxy, an unreadable proxy, ...);
2. recorded: the submit description and the job ClassAd it yields, one JSON line per cluster;
3. run here, as an execute point with the submit node's filesystem would: ``Cmd`` with ``Args``
   (old syntax: split at blanks) in ``Iwd``, stdout/stderr to ``Out``/``Err``, with the ``Environment``
   HTCondor built (the submitter's whole environment with ``getenv``);
4. reported in the user log the plugin reads (submit, execute, terminated events).
"""
import os

if os.environ.get("TAUML_SCHEDD_RECORD"):
    import datetime
    import itertools
    import json
    import shlex
    import subprocess
    import warnings

    warnings.filterwarnings("ignore", module="htcondor2?")
    import htcondor  # the version-1 bindings still expand submit descriptions offline
    import htcondor2

    _RECORD = os.environ.pop("TAUML_SCHEDD_RECORD")
    _CLUSTERS = itertools.count(int(os.environ.get("TAUML_SCHEDD_FIRST_CLUSTER", "1001")))
    _AD_KEYS = ("Cmd", "Args", "Iwd", "Out", "Err", "UserLog", "RequestCpus", "RequestMemory", "RequestDisk",
                "RequestGPUs", "JobFlavour", "x509userproxy", "Environment", "JobBatchName")

    def _event(number: int, cluster: int, text: str, body: str = "") -> str:
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        return f"{number:03d} ({cluster:03d}.000.000) {stamp} {text}\n{body}...\n"

    def _terminated(cluster: int, code: int) -> str:
        usage = "".join(f"\t\tUsr 0 00:00:00, Sys 0 00:00:00  -  {w} Usage\n"
                        for w in ("Run Remote", "Run Local", "Total Remote", "Total Local"))
        sizes = "".join(f"\t0  -  {w} By Job\n" for w in ("Run Bytes Sent", "Run Bytes Received",
                                                           "Total Bytes Sent", "Total Bytes Received"))
        return _event(5, cluster, "Job terminated.", f"\t(1) Normal termination (return value {code})\n"
                      + usage + sizes)

    def _job_environment(ad) -> dict:
        """A bare execute-node environment plus the job's ``Environment`` (all of the submitter's with getenv)."""
        env = {"PATH": "/usr/bin:/bin"}
        for assignment in shlex.split(ad.get("Environment") or ""):
            name, _, value = assignment.partition("=")
            env[name] = value
        return env

    class _Result:
        def __init__(self, cluster):
            self._cluster = cluster

        def cluster(self):
            return self._cluster

    class RecordingSchedd:
        def __init__(self, *args, **kwargs):
            pass

        def submit(self, description, count=1, spool=False, itemdata=None):
            submit = {k: str(v) for k, v in dict(description).items()}
            cluster = next(_CLUSTERS)
            ad = next(iter(htcondor.Submit(submit).jobs(count=1, clusterid=cluster)))
            job_ad = {k: ad.get(k) for k in _AD_KEYS if ad.get(k) is not None}
            with open(submit["log"], "a") as log:
                log.write(_event(0, cluster, "Job submitted from host: <127.0.0.1:9618>"))
                log.write(_event(1, cluster, "Job executing on host: <127.0.0.1:9618>"))
            with open(ad["Out"], "w") as out, open(ad["Err"], "w") as err:
                code = subprocess.call([ad["Cmd"], *ad.get("Args", "").split()], cwd=ad["Iwd"],
                                       env=_job_environment(ad), stdout=out, stderr=err)
            with open(_RECORD, "a") as record:
                record.write(json.dumps({"cluster": cluster, "submit": submit, "ad": job_ad,
                                         "exit_code": code}) + "\n")
            with open(submit["log"], "a") as log:
                log.write(_terminated(cluster, code))
            return _Result(cluster)

        def query(self, *args, **kwargs):
            return []

        def history(self, *args, **kwargs):
            return []

        def act(self, *args, **kwargs):
            return None

    htcondor2.Schedd = RecordingSchedd
