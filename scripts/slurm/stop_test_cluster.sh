#!/usr/bin/env bash
# Stop the single-node test cluster started by scripts/slurm/start_test_cluster.sh.
#
#   sudo scripts/slurm/stop_test_cluster.sh
#
# Stops exactly the daemons whose PID files the start script left in the state dir (checking each PID
# still names the same program), cancels the cluster's jobs first so no job step outlives slurmd,
# restores the backed-up /etc/slurm/slurm.conf (or removes ours), and deletes the state dir.
# Installed packages and the munge key stay. Running it when nothing is running is harmless.
set -euo pipefail

STATE_DIR="${JOINTDIFF_SLURM_STATE_DIR:-/var/tmp/jointdiff-slurm}"
CONF=/etc/slurm/slurm.conf

log() { echo "stop_test_cluster: $*"; }

[[ "$(id -u)" == 0 ]] || { echo "stop_test_cluster: must run as root" >&2; exit 1; }
if [[ ! -d "$STATE_DIR" ]]; then
    log "nothing to stop ($STATE_DIR does not exist)"
    exit 0
fi

# PID is a running (not zombie) process; with COMM, also named COMM. Zombies matter here: PID 1 in
# some containers reaps late, so a stopped daemon stays in /proc (and answers kill -0) for a while.
running() {  # running PID [COMM]
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ -z "${2:-}" || "$(cat "/proc/$1/comm" 2>/dev/null)" == "$2" ]] || return 1
    [[ "$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' <<<"$stat")" != Z ]]
}

# The PID in a PID file, if it is running and still the expected program; empty otherwise.
live_pid() {  # live_pid PIDFILE COMM
    local pid
    [[ -s "$1" ]] || return 0
    pid="$(tr -dc '0-9' < "$1")"
    if [[ -n "$pid" ]] && running "$pid" "$2"; then echo "$pid"; fi
    return 0
}

# TERM all given PIDs at once, wait up to 10 s for all, then KILL the rest.
stop_pids() {  # stop_pids NAME:PID ...
    local entry pid left
    for entry in "$@"; do
        pid="${entry#*:}"
        [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null || true
    done
    for _ in $(seq 100); do
        left=0
        for entry in "$@"; do
            pid="${entry#*:}"
            [[ -n "$pid" ]] && running "$pid" && left=1
        done
        (( left )) || break
        sleep 0.1
    done
    for entry in "$@"; do
        pid="${entry#*:}"
        [[ -n "$pid" ]] || continue
        if running "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
            log "killed ${entry%%:*} ($pid) after 10 s"
        else
            log "stopped ${entry%%:*} ($pid)"
        fi
    done
}

ctld_pid="$(live_pid "$STATE_DIR/slurmctld.pid" slurmctld)"
slurmd_pids=()
for f in "$STATE_DIR"/slurmd-*.pid; do
    [[ -e "$f" ]] || continue
    pid="$(live_pid "$f" slurmd)"
    [[ -n "$pid" ]] && slurmd_pids+=("slurmd:$pid")
done
munged_pid="$(live_pid "$STATE_DIR/munge/munged.pid" munged)"

# 1. Cancel this cluster's jobs while slurmctld still runs, and wait for their job steps to end.
if [[ -n "$ctld_pid" && ${#slurmd_pids[@]} -gt 0 ]]; then
    if [[ -n "$(squeue -h -t PD,R,CG,S -o %i 2>/dev/null)" ]]; then
        log "cancelling running jobs"
        squeue -h -t PD,R,CG,S -o %i | xargs -r scancel 2>/dev/null || true
        for _ in $(seq 40); do
            [[ -z "$(squeue -h -t PD,R,CG,S -o %i 2>/dev/null)" ]] && break
            sleep 0.5
        done
    fi
fi

# 2. Daemons: slurmd and slurmctld together, then munged (they authenticate through it while stopping).
stop_pids "${slurmd_pids[@]}" "slurmctld:$ctld_pid"
stop_pids "munged:$munged_pid"

# 3. slurm.conf: put back what was there, or remove ours.
if [[ -f "$STATE_DIR/backup/slurm.conf" ]]; then
    cp -a "$STATE_DIR/backup/slurm.conf" "$CONF"
    log "restored $CONF"
elif [[ -f "$CONF" ]] && grep -q '^# Written by jointdiff scripts/slurm/start_test_cluster.sh' "$CONF"; then
    rm -f "$CONF"
    log "removed our $CONF"
fi

# 4. State dir (PID files, logs, spool, backup).
rm -rf "$STATE_DIR"
log "done"
