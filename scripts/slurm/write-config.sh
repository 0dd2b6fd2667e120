#!/usr/bin/env bash
# write-config.sh: write /etc/slurm/slurm.conf and slurmdbd.conf for a one-node test cluster on
# this host: node = `hostname -s` at 127.0.0.1 with the CPUs and memory `slurmd -C` reports, one
# partition "debug", accounting through slurmdbd (submitit reads job states with sacct).
set -euo pipefail
SCRIPT=write-config
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

host="$(hostname -s)"
hardware="$(slurmd -C | head -n 1)"
cpus="$(grep -o 'CPUs=.* RealMemory=[0-9]*' <<<"$hardware")" \
    || { log "ERROR: cannot read CPUs and RealMemory from 'slurmd -C': $hardware"; exit 1; }

conf="$CONF_DIR/slurm.conf"
cat >"$conf.new" <<EOF
# Written by scripts/slurm/write-config.sh: a one-node test cluster, not for production.
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No systemd or cgroup delegation here: /proc based process tracking, memory is not enforced.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobCompType=jobcomp/none
SwitchType=switch/none
SchedulerType=sched/backfill
# The defaults (2 s minimum interval, 3 s batch delay) leave seconds idle between array-task waves.
SchedulerParameters=sched_min_interval=100000,batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 $cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
mv "$conf.new" "$conf"

# slurmdbd refuses a world-readable config (it holds the database password).
(umask 077 && cat >"$CONF_DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
LogFile=$LOG_DIR/slurmdbd.log
PidFile=/run/slurm/slurmdbd.pid
EOF
)
chmod 600 "$CONF_DIR/slurmdbd.conf"
