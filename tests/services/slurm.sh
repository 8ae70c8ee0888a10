#!/usr/bin/env bash
# A single-node Slurm on this machine, for tests/test_batch_slurm.py (Debian slurm-wlm + munge, run as root).
#   slurm.sh start   write /etc/slurm/slurm.conf, start munged (as munge), slurmctld and slurmd; wait until
#                    the node is idle. Exits 0 with "started" (or "already running"), 2 where Slurm cannot
#                    run here (not root, not installed), 1 with the reason when starting failed.
#   slurm.sh stop    stop the three daemons (by their pid files) that `start` started
# The configuration lives at the default path because the executor plugin's job step drops SLURM_CONF.
# Accounting is off (no slurmdbd): Snakemake needs --slurm-no-account and --slurm-status-command squeue,
# and MinJobAge keeps finished jobs visible to squeue.
set -euo pipefail
STATE=/run/tauml-slurm
mkdir -p "$STATE"

stop() {
  for d in slurmd slurmctld munged; do
    if [ -s "$STATE/$d.pid" ]; then
      kill "$(cat "$STATE/$d.pid")" 2>/dev/null || true
      rm -f "$STATE/$d.pid"
    fi
  done
}

start() {
  [ "$(id -u)" -eq 0 ] || { echo "needs root (slurmctld/slurmd)" >&2; exit 2; }
  for b in munged slurmctld slurmd sbatch squeue scontrol; do
    command -v "$b" >/dev/null || { echo "$b not installed (tests/services/install-system-deps.sh)" >&2; exit 2; }
  done
  if scontrol ping >/dev/null 2>&1 && sinfo -h -o %t 2>/dev/null | grep -qE "idle|mix|alloc"; then
    echo "already running"; return
  fi
  stop
  local host node
  host=$(hostname -s)
  # slurmd -C describes this machine (CPUs, sockets, memory) as a NodeName line
  node=$(slurmd -C | head -1 | sed -E "s/^NodeName=[^ ]+/NodeName=$host NodeAddr=127.0.0.1/")
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
  cat > /etc/slurm/slurm.conf <<EOF
ClusterName=tauml
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
SlurmUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=3600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
$node
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  # munged refuses a key or directories that others can read, and to run as root
  [ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  chmod 0700 /etc/munge; chmod 0400 /etc/munge/munge.key; chmod 0755 /run/munge
  runuser -u munge -- munged --pid-file=/run/munge/munged.pid
  cp /run/munge/munged.pid "$STATE/munged.pid"
  slurmctld
  slurmd
  for _ in $(seq 60); do
    if sinfo -h -o %t 2>/dev/null | grep -q idle; then echo started; return; fi
    sleep 0.5
  done
  echo "slurm node did not become idle: $(sinfo 2>&1 | tail -2); see /var/log/slurm/" >&2
  exit 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
