#!/usr/bin/env bash
# stop-local-cluster.sh [--purge] [DAEMON...]: stop the daemons start-local-cluster.sh started.
#   DAEMON...  only these (munged mariadbd slurmdbd slurmctld slurmd); default: all of them
#   --purge    then wipe job state and the accounting database (the next start begins at job 1)
# Cancels every job left on the cluster first when slurmctld or slurmd is stopped. Stops only PIDs
# recorded in /run/pie-slurm that still run that daemon (SIGTERM, SIGKILL after 30 s); never kills
# by name. Packages, /etc/slurm and the logs stay.
set -uo pipefail
SCRIPT=stop-local-cluster
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
T0=$EPOCHREALTIME

purge=0
names=()
for arg; do
    case $arg in
        --purge) purge=1 ;;
        munged | mariadbd | slurmdbd | slurmctld | slurmd) names+=("$arg") ;;
        *) log "ERROR: unknown argument '$arg'; usage: $0 [--purge] [${DAEMONS[*]}]"; exit 2 ;;
    esac
done
[[ $EUID -eq 0 ]] || { log "ERROR: run as root (the daemons run as root); try: sudo $0"; exit 2; }
if ((purge && ${#names[@]})); then log "ERROR: --purge wipes the whole cluster; give no daemon names with it"; exit 2; fi
((${#names[@]})) || names=("${DAEMONS[@]}")
stopping() { [[ " ${names[*]} " == *" $1 "* ]]; }
ours() { stopping "$1" && recorded_pid "$1" >/dev/null; }   # asked to stop, and started by us

# jobs first, so that no job step outlives the slurmd that ran it
if { ours slurmctld || ours slurmd; } && scontrol ping >/dev/null 2>&1; then
    mapfile -t jobs < <(squeue -h -o %A 2>/dev/null | sort -u)
    if ((${#jobs[@]})); then
        log "cancelling jobs ${jobs[*]}"
        scancel "${jobs[@]}" 2>/dev/null
        for ((i = 0; i < 150; i++)); do
            [[ -z "$(squeue -h -o %A 2>/dev/null)" ]] && break
            sleep 0.2
        done
    fi
fi

failed=0
for ((k = ${#DAEMONS[@]} - 1; k >= 0; k--)); do
    name=${DAEMONS[k]}
    stopping "$name" || continue
    if ! pid="$(recorded_pid "$name")"; then
        rm -f "$RUN_DIR/$name.pid"
        continue
    fi
    log "stopping $name (pid $pid)"
    kill -TERM "$pid"
    for ((i = 0; i < 300; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        log "$name (pid $pid) ignored SIGTERM for 30 s: SIGKILL"
        kill -KILL "$pid"
        sleep 0.5
        alive "$pid" && { log "ERROR: $name (pid $pid) survived SIGKILL"; failed=1; }
    fi
    rm -f "$RUN_DIR/$name.pid"
done

left="$(ps -eo pid=,stat=,comm= | awk '$2 !~ /^Z/ && $3 ~ /^(slurm|munged|mariadbd)/ {print $3 "(" $1 ")"}' | xargs)"
[[ -n $left ]] && log "still running, not started by these scripts or not asked to stop: $left"

if ((purge)); then
    for name in "${DAEMONS[@]}"; do
        port="$(port_of "$name")"
        if [[ -n $port ]] && port_busy "$port"; then
            log "ERROR: not purging: port $port ($name) is still in use"
            exit 1
        fi
    done
    log "purging /var/spool/slurmctld, /var/spool/slurmd and ${DB_DIR%/*}"
    rm -rf /var/spool/slurmctld/* /var/spool/slurmd/* "${DB_DIR%/*}"
fi
log "done in $(since "$T0") s"
exit "$failed"
