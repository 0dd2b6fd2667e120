# shellcheck shell=bash disable=SC2034
# Shared by the local-cluster scripts (sourced, not run; they use its variables): fixed paths and
# ports, logging, and the checks that tell a daemon these scripts started from anything else.
# One such cluster per machine: the ports, /etc/slurm and /var/spool/slurm* are fixed.

PKGS=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)   # start order; stop goes in reverse
RUN_DIR=/run/pie-slurm               # <daemon>.pid of every daemon the start script launched, <daemon>.out
CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
DB_DIR=/var/lib/pie-slurm/mysql      # private MariaDB datadir (the packaged /var/lib/mysql stays untouched)
DB_RUN=$RUN_DIR/mysql                # its socket and pidfile
DB_PORT=3307                         # not 3306, so a packaged MariaDB can run alongside
DB_PASS=slurm-local
WAIT_S=60

log() { printf '[%s %(%H:%M:%S)T] %s\n' "$SCRIPT" -1 "$*"; }

# since START: seconds elapsed since START (an $EPOCHREALTIME), to a tenth
since() {
    local us=$((${EPOCHREALTIME//[.,]/} - ${1//[.,]/}))
    printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000))
}

# alive PID: the process exists and has not exited (a zombie awaiting init's reaping counts as dead)
alive() {
    local state
    state="$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)"
    [[ -n $state && $state != Z && $state != X ]]
}

# recorded_pid NAME: print the PID recorded for NAME when it still runs NAME (never a recycled PID)
recorded_pid() {
    local file="$RUN_DIR/$1.pid" pid
    [[ -s $file ]] || return 1
    pid="$(<"$file")"
    alive "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$1"* ]] && echo "$pid"
}

# port_of NAME: the TCP port NAME listens on (munged uses a socket: none)
port_of() {
    case $1 in
        mariadbd) echo "$DB_PORT" ;; slurmdbd) echo 6819 ;; slurmctld) echo 6817 ;; slurmd) echo 6818 ;;
    esac
}

# port_busy PORT: something accepts connections on 127.0.0.1:PORT
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# log_of NAME: the daemon's own log file
log_of() {
    case $1 in
        munged) echo /var/log/munge/munged.log ;; mariadbd) echo "$DB_DIR/mariadb.err" ;;
        *) echo "$LOG_DIR/$1.log" ;;
    esac
}

# show_logs NAME: the last lines of what NAME printed at start-up and of its log file
show_logs() {
    local file
    for file in "$RUN_DIR/$1.out" "$(log_of "$1")"; do
        [[ -s $file ]] || continue
        echo "---- last lines of $file"
        tail -n 15 "$file"
    done
}
