#!/usr/bin/env bash
# A development check, not part of the test suite: the hydra/launcher=slurm preset on a real,
# one-node SLURM. Installs SLURM and munge from the Debian packages (root, apt-get), starts them
# on this machine with one CPU partition, runs a two-job experiment=smoke sweep through the
# preset, and checks that both jobs wrote metrics.json and that the summary reads them.
#
#   bash scripts/slurm_check.sh [OUT]     (as root, from the repository root, after make install)
#
# The daemons keep running afterwards; `pkill slurmd; pkill slurmctld; pkill munged` stops them.
set -euo pipefail

OUT=${1:-/tmp/slurm_check}
PYTHON=${PYTHON:-.venv/bin/python}
HOST=$(hostname -s)

if ! command -v slurmctld >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge
fi

# munge authenticates slurmctld, slurmd and the client commands to each other
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge && chown munge:munge /run/munge
pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged

# one node, this machine, all its CPUs in a partition `cpu`; no cgroups (containers lack them)
MEMORY=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
cat > /etc/slurm/slurm.conf <<EOF
ClusterName=local
SlurmctldHost=${HOST}
AuthType=auth/munge
SlurmUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
NodeName=${HOST} CPUs=$(nproc) RealMemory=${MEMORY} State=UNKNOWN
PartitionName=cpu Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
EOF
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 30); do
    sinfo -h -o %T 2>/dev/null | grep -qx idle && break
    sleep 1
done
sinfo

# two smoke jobs through the preset: one CPU each, no GPU, on the `cpu` partition
rm -rf "$OUT"
"$PYTHON" train.py -m experiment=smoke model.pretrained=none seed=1,2 \
    hydra/launcher=slurm hydra.launcher.partition=cpu hydra.launcher.gpus_per_node=0 \
    hydra.launcher.cpus_per_task=1 hydra.launcher.mem_gb=4 hydra.launcher.timeout_min=30 \
    threads=1 hydra.sweep.dir="$OUT"

found=$(find "$OUT" -name metrics.json | wc -l)
echo "jobs with metrics.json: $found of 2"
[ "$found" -eq 2 ]
"$PYTHON" -m thermal_icas.cli summarize "$OUT" | head -20
echo "slurm check: OK"
