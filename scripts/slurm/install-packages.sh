#!/usr/bin/env bash
# install-packages.sh [EXTRA_PACKAGE...]: install the Debian packages of the local SLURM cluster
# (munge, slurmctld, slurmd, slurm-client, slurmdbd, mariadb-server; without their recommends) and
# any extra ones given (the ordinary way), whichever are missing, after one apt-get update.
# A temporary policy-rc.d keeps postinst scripts from starting daemons the cluster scripts would
# not own.
# Exit status: 0 done (or nothing to do), 2 not root, 3 apt-get missing or failed.
set -euo pipefail
SCRIPT=install-packages
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ $EUID -eq 0 ]] || { log "ERROR: run as root (apt-get installs system packages); try: sudo $0"; exit 2; }
installed() { [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]; }
slurm=()
extra=()
for pkg in "${PKGS[@]}"; do installed "$pkg" || slurm+=("$pkg"); done
for pkg in "$@"; do installed "$pkg" || extra+=("$pkg"); done
missing=("${slurm[@]}" "${extra[@]}")
((${#missing[@]})) || exit 0
command -v apt-get >/dev/null || { log "ERROR: apt-get not found; install ${missing[*]} with this system's package manager"; exit 3; }

policy=/usr/sbin/policy-rc.d
saved=""
if [[ -e $policy ]]; then saved="$(mktemp)"; cp -p "$policy" "$saved"; fi
restore() { if [[ -n $saved ]]; then mv "$saved" "$policy"; else rm -f "$policy"; fi; }
trap restore EXIT
printf '#!/bin/sh\nexit 101\n' >"$policy"
chmod 755 "$policy"

mkdir -p "$RUN_DIR"
apt_log="$RUN_DIR/apt.log"
log "installing ${missing[*]} (apt-get output in $apt_log)"
started=$EPOCHREALTIME
export DEBIAN_FRONTEND=noninteractive
if ! {
    apt-get update -qq &&
        { ((!${#slurm[@]})) || apt-get install -y -qq --no-install-recommends "${slurm[@]}"; } &&
        { ((!${#extra[@]})) || apt-get install -y -qq "${extra[@]}"; }
} >"$apt_log" 2>&1; then
    log "ERROR: apt-get could not install ${missing[*]}; its last lines:"
    tail -n 15 "$apt_log"
    log "fix the package source or network, then rerun $0"
    exit 3
fi
log "installed in $(since "$started") s"
