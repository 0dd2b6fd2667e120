#!/usr/bin/env bash
# start-local-cluster.sh: bring up a real one-node SLURM 22.05 cluster on this Debian host, as root,
# without systemd: munged, a private MariaDB (127.0.0.1:3307, datadir /var/lib/pie-slurm/mysql),
# slurmdbd (so sacct works), slurmctld and slurmd; then wait until the node is idle.
# Installs missing packages first. Idempotent: daemons it started before and that still run are
# kept. The PID of every daemon it starts is recorded in /run/pie-slurm/<daemon>.pid, and only those
# are stopped by stop-local-cluster.sh. The last line names the daemons this call started, also when
# it fails (it does not stop them: a rerun continues where it stopped):
#   started daemons: munged mariadbd slurmdbd slurmctld slurmd      (or: started daemons: none)
# Exit status: 0 cluster up, 1 it did not come up (the failing daemon's log is shown),
# 2 not root, 3 packages could not be installed.
set -Eeuo pipefail
SCRIPT=start-local-cluster
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
source "$HERE/common.sh"
T0=$EPOCHREALTIME
STARTED=()

die() { log "ERROR: $*"; exit 1; }
trap 'die "line $LINENO: \"$BASH_COMMAND\" failed"' ERR
trap 'echo "started daemons: ${STARTED[*]:-none}"' EXIT

# fail NAME WHY: NAME did not come up; show its logs and how to clean up
fail() {
    log "ERROR: $1 $2"
    show_logs "$1"
    log "fix the cause above and rerun $0; $HERE/stop-local-cluster.sh stops what did start"
    exit 1
}

# launch NAME PIDFILE CMD...: run CMD (it daemonizes) unless NAME already runs from an earlier call,
# then record the PID the daemon writes to PIDFILE
launch() {
    local name=$1 pidfile=$2 pid port i
    shift 2
    if pid="$(recorded_pid "$name")"; then
        log "$name already running (pid $pid)"
        return 0
    fi
    port="$(port_of "$name")"
    if [[ -n $port ]] && port_busy "$port"; then
        die "port $port is taken by a process this script did not start (another $name?); stop it and rerun $0"
    fi
    rm -f "$pidfile"
    "$@" </dev/null >"$RUN_DIR/$name.out" 2>&1 || fail "$name" "exited with status $? at start-up"
    for ((i = 0; i < WAIT_S * 10; i++)); do
        if [[ -s $pidfile ]] && alive "$(<"$pidfile")"; then
            cp "$pidfile" "$RUN_DIR/$name.pid"
            STARTED+=("$name")
            log "$name started (pid $(<"$pidfile"))"
            return 0
        fi
        sleep 0.1
    done
    fail "$name" "wrote no live PID to $pidfile within $WAIT_S s"
}

# wait_until NAME WHAT CMD...: poll CMD until it succeeds; fail early when NAME has exited
wait_until() {
    local name=$1 what=$2 i
    shift 2
    for ((i = 0; i < WAIT_S * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        if [[ -e $RUN_DIR/$name.pid ]] && ! recorded_pid "$name" >/dev/null; then fail "$name" "exited"; fi
        sleep 0.2
    done
    fail "$name" "is running but $what did not happen within $WAIT_S s"
}

munge_works() { munge -n </dev/null | unmunge; }
sql() { mariadb --no-defaults -S "$DB_RUN/mysqld.sock" -u root -e "$1"; }

[[ $EUID -eq 0 ]] || { log "ERROR: run as root (it installs packages and starts system daemons); try: sudo $0"; exit 2; }
"$HERE/install-packages.sh" || exit $?
mkdir -p "$RUN_DIR" "$CONF_DIR" "$LOG_DIR" /run/slurm /var/spool/slurmctld /var/spool/slurmd
old_conf="$(cat "$CONF_DIR/slurm.conf" 2>/dev/null || true)"
"$HERE/write-config.sh"

if ! recorded_pid munged >/dev/null && munge_works >/dev/null 2>&1; then
    log "munged: reusing one this script did not start (the stop script leaves it alone)"
else
    if [[ ! -s /etc/munge/munge.key ]]; then
        mungekey --create --keyfile=/etc/munge/munge.key
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    install -d -o munge -g munge -m 755 /run/munge
    launch munged /run/munge/munged.pid runuser -u munge -- /usr/sbin/munged
    wait_until munged "decoding a munge credential" munge_works
fi

install -d -o mysql -g mysql "$DB_RUN"
if [[ ! -d $DB_DIR/mysql ]]; then
    log "creating the accounting database in $DB_DIR"
    install -d -o mysql -g mysql "$DB_DIR"
    mariadb-install-db --no-defaults --user=mysql --datadir="$DB_DIR" --auth-root-authentication-method=socket \
        >"$RUN_DIR/mariadb-install-db.out" 2>&1 \
        || { rm -rf "$DB_DIR"; tail -n 15 "$RUN_DIR/mariadb-install-db.out"; die "mariadb-install-db failed (output above)"; }
fi
launch mariadbd "$DB_RUN/mysqld.pid" setsid -f /usr/sbin/mariadbd --no-defaults --user=mysql \
    --datadir="$DB_DIR" --socket="$DB_RUN/mysqld.sock" --pid-file="$DB_RUN/mysqld.pid" \
    --bind-address=127.0.0.1 --port="$DB_PORT" --log-error="$(log_of mariadbd)" \
    --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900
wait_until mariadbd "accepting connections" sql 'SELECT 1'
sql "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
     CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
     CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
     GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
     GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"

launch slurmdbd /run/slurm/slurmdbd.pid slurmdbd
wait_until slurmdbd "answering sacctmgr" sacctmgr -n show cluster

# slurmctld keeps its state (no -c): job ids keep growing across restarts, so `sacct -j ID`, which
# submitit relies on, never matches an older job with the same id.
if recorded_pid slurmctld >/dev/null && [[ "$(<"$CONF_DIR/slurm.conf")" != "$old_conf" ]]; then
    log "slurm.conf changed: scontrol reconfigure"
    scontrol reconfigure
fi
launch slurmctld /run/slurm/slurmctld.pid slurmctld -i
wait_until slurmctld "answering scontrol ping" scontrol ping
launch slurmd /run/slurm/slurmd.pid slurmd

host="$(hostname -s)"
for ((i = 0; ; i++)); do
    state="$(sinfo -h -n "$host" -o %T 2>/dev/null | head -n 1)"
    case $state in idle | mixed | allocated | completing) break ;; esac
    recorded_pid slurmd >/dev/null || [[ ! -e $RUN_DIR/slurmd.pid ]] || fail slurmd "exited"
    ((i < WAIT_S * 5)) || fail slurmd "node $host is '$state', not idle ($(sinfo -h -R -o %E | head -n 1))"
    # a node left down by an earlier unclean stop returns once resumed
    if [[ $state == down* || $state == drain* ]] && ((i % 25 == 10)); then
        scontrol update nodename="$host" state=resume 2>/dev/null || true
    fi
    sleep 0.2
done

log "cluster up in $(since "$T0") s: partition debug, node $host; logs in $LOG_DIR, PIDs in $RUN_DIR"
sinfo
