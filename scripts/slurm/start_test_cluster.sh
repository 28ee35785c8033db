#!/usr/bin/env bash
# Start a real single-node SLURM cluster on this machine, for tests only.
#
#   sudo scripts/slurm/start_test_cluster.sh        # then: sinfo, sbatch, snakemake --executor slurm ...
#   sudo scripts/slurm/stop_test_cluster.sh         # stops exactly what this started, restores /etc/slurm
#
# What it does (each step is skipped when already done, so running it twice is harmless):
#   1. installs Debian's slurm-wlm (slurmctld + slurmd + client) and munge with apt-get, only if missing;
#   2. creates /etc/munge/munge.key if missing;
#   3. backs up /etc/slurm/slurm.conf (if any) and writes a config there for two nodes on this host:
#      partitions 'debug' (default, node 1), 'urgent' (node 1; pre-empts 'debug' jobs, for pre-emption
#      tests) and 'multi' (both nodes, for multi-node tests). It must be the default path:
#      the SLURM executor plugin's job step drops SLURM_CONF, so a config elsewhere is not seen inside jobs;
#   4. starts munged (unless one already answers), slurmctld and two slurmd as root, directly (no systemd);
#   5. waits until `sinfo` shows the nodes idle, or fails printing the daemons' log tails.
# PIDs, logs, spool dirs and the backup live in $JOINTDIFF_SLURM_STATE_DIR (default /var/tmp/jointdiff-slurm),
# which the stop script reads and then deletes.
#
# Exit status: 0 up (or already up), 3 packages could not be installed, 1 anything else.
#
# Environment:
#   JOINTDIFF_SLURM_STATE_DIR   state directory (default /var/tmp/jointdiff-slurm)
#   JOINTDIFF_SLURM_WAIT_S      seconds to wait for the node to become idle (default 60)
set -euo pipefail

STATE_DIR="${JOINTDIFF_SLURM_STATE_DIR:-/var/tmp/jointdiff-slurm}"
WAIT_S="${JOINTDIFF_SLURM_WAIT_S:-60}"
CONF=/etc/slurm/slurm.conf
MUNGE_KEY=/etc/munge/munge.key
MUNGE_RUN=/run/munge
CONF_HEADER="# Written by jointdiff scripts/slurm/start_test_cluster.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

CLEANUP_ON_FAIL=0
# On failure after step 3 began, undo what was done (stop daemons, restore slurm.conf).
die() {
    echo "start_test_cluster: $*" >&2
    if (( CLEANUP_ON_FAIL )); then
        JOINTDIFF_SLURM_STATE_DIR="$STATE_DIR" "$HERE/stop_test_cluster.sh" >&2 || true
    fi
    exit 1
}
log() { echo "start_test_cluster: $*"; }

# PID is a running (not zombie) process named COMM. Zombies matter here: PID 1 in some containers
# reaps late, so a dead daemon keeps its name in /proc for a while.
running() {  # running PID COMM
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ "$(cat "/proc/$1/comm" 2>/dev/null)" == "$2" ]] || return 1
    [[ "$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' <<<"$stat")" != Z ]]
}

# A PID file names a running process with the expected command name.
alive() {  # alive PIDFILE COMM
    [[ -s "$1" ]] && running "$(tr -dc '0-9' < "$1")" "$2"
}

# The states of all nodes, deduplicated ("idle" when all are idle).
node_state() { sinfo -h -N -o '%t' 2>/dev/null | sort -u | paste -sd, -; }

[[ "$(id -u)" == 0 ]] || die "must run as root (it installs packages and starts slurmctld/slurmd)"

#--------------------------------------------------------------------------------------------------
# Already running? Then there is nothing to do.
if [[ -f "$STATE_DIR/started" ]] && alive "$STATE_DIR/slurmctld.pid" slurmctld \
        && alive "$STATE_DIR/slurmd-$(hostname -s).pid" slurmd && alive "$STATE_DIR/slurmd-$(hostname -s)-2.pid" slurmd \
        && [[ "$(node_state)" =~ ^((idle|mix|alloc|comp)[*~#]?,?)+$ ]]; then
    log "already running (state in $STATE_DIR)"
    exit 0
fi
# A half-started cluster from an earlier, interrupted run: clean it up first.
if [[ -d "$STATE_DIR" ]]; then
    log "found stale state in $STATE_DIR; stopping it first"
    JOINTDIFF_SLURM_STATE_DIR="$STATE_DIR" "$HERE/stop_test_cluster.sh"
fi

#--------------------------------------------------------------------------------------------------
# 1. Packages, only if missing. --no-install-recommends keeps it to ~9 packages instead of ~43.
missing=()
for cmd_pkg in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
    command -v "${cmd_pkg%%:*}" >/dev/null 2>&1 || missing+=("${cmd_pkg##*:}")
done
if (( ${#missing[@]} )); then
    log "installing ${missing[*]} with apt-get"
    # Keep the packages' init scripts from starting daemons during the install: we start our own below.
    # Only add a policy-rc.d when none exists, and remove only the one we added.
    added_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt_log="$(mktemp)"
    rc=0
    { apt-get install -y -q --no-install-recommends slurm-wlm munge >"$apt_log" 2>&1 \
        || { apt-get update -q >>"$apt_log" 2>&1 && \
             apt-get install -y -q --no-install-recommends slurm-wlm munge >>"$apt_log" 2>&1; }; } || rc=$?
    (( added_policy )) && rm -f /usr/sbin/policy-rc.d
    if (( rc != 0 )); then
        # Exit code 3 = "cannot install" (no network or mirror), so tests can skip rather than fail.
        echo "start_test_cluster: apt-get could not install slurm-wlm and munge (exit $rc):" >&2
        tail -n 5 "$apt_log" >&2
        rm -f "$apt_log"
        exit 3
    fi
    rm -f "$apt_log"
fi

#--------------------------------------------------------------------------------------------------
# 2. Munge key (shared secret for authenticating SLURM messages), owned by the munge user.
if [[ ! -s "$MUNGE_KEY" ]]; then
    log "creating $MUNGE_KEY"
    install -d -o munge -g munge -m 0700 /etc/munge
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile="$MUNGE_KEY" --force
    else
        dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none
    fi
    chown munge:munge "$MUNGE_KEY"
    chmod 0400 "$MUNGE_KEY"
fi

#--------------------------------------------------------------------------------------------------
# 3. State dir and slurm.conf (backing up whatever is there).
mkdir -p "$STATE_DIR"/{ctld,backup}
CLEANUP_ON_FAIL=1
chmod 0755 "$STATE_DIR"
mkdir -p /etc/slurm
# A config with our header is a leftover of ours (state dir lost), not the site's: no backup then.
if [[ -e "$CONF" ]] && ! grep -q "^$CONF_HEADER" "$CONF"; then
    cp -a "$CONF" "$STATE_DIR/backup/slurm.conf"
    log "backed up existing $CONF"
fi

node="$(hostname -s)"
# slurmd -C measures this machine the way slurmd will check it at registration, so the node is not
# drained for "Low RealMemory" or a CPU mismatch. Leave a little memory unclaimed for the daemons.
hw="$(slurmd -C 2>/dev/null | head -n1 || true)"
cpus="$(grep -oP '(?<=CPUs=)\d+' <<<"$hw" || nproc)"
mem="$(grep -oP '(?<=RealMemory=)\d+' <<<"$hw" || awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)"
mem=$(( mem > 1024 ? mem - 512 : mem ))

# Two SLURM nodes on this one host (two slurmd, distinct ports; Debian builds SLURM with
# --enable-multiple-slurmd), so multi-node jobs can be tested: '$node' and '$node2'.
node2="${node}-2"

cat > "$CONF" <<EOF
$CONF_HEADER for a one-host TEST cluster.
# The stop script restores the previous file (backup in $STATE_DIR/backup/).
ClusterName=jointdiff-test
SlurmctldHost=${node}(127.0.0.1)
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
StateSaveLocation=$STATE_DIR/ctld
# %n = node name, one set of files per slurmd.
SlurmdSpoolDir=$STATE_DIR/spool-%n
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd-%n.pid
SlurmctldLogFile=$STATE_DIR/slurmctld.log
SlurmdLogFile=$STATE_DIR/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in containers: track processes by parent PID, no CPU binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
# cons_tres is the selector that understands --gpus/--cpus-per-gpu (the plugin emits them).
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
# No slurmdbd: sacct does not work, use the plugin's --slurm-status-command squeue.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# A plain-text history of finished jobs (tests read it to prove jobs ran through SLURM).
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE_DIR/jobcomp.log
# squeue keeps finished jobs visible this long; the plugin's squeue status check needs >= 120 s.
MinJobAge=600
ReturnToService=2
# Fast scancel in tests (SIGTERM -> SIGKILL after KillWait seconds).
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
SchedulerType=sched/backfill
# Real pre-emption for tests: a job in 'urgent' (higher PriorityTier) requeues a running 'debug' job
# that is in its way, as a site's pre-emptible partition does. Jobs that only use 'debug' never see this.
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
# Both nodes claim the whole host (CPUs and memory are oversubscribed 2x; fine for tests).
NodeName=${node} NodeHostname=${node} NodeAddr=127.0.0.1 Port=6818 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
NodeName=${node2} NodeHostname=${node} NodeAddr=127.0.0.1 Port=6819 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
# debug: the default, one node, so single-node tests behave like one machine.
PartitionName=debug Nodes=${node} Default=YES MaxTime=7-00:00:00 State=UP PriorityTier=1
# urgent: pre-empts debug jobs on the same node.
PartitionName=urgent Nodes=${node} Default=NO MaxTime=1:00:00 State=UP PriorityTier=2
# multi: both nodes, for multi-node (one torchrun per node) tests.
PartitionName=multi Nodes=${node},${node2} Default=NO MaxTime=1:00:00 State=UP PriorityTier=1
EOF
chmod 0644 "$CONF"

#--------------------------------------------------------------------------------------------------
# 4. Daemons.
# munged: reuse one that already answers (e.g. started by the system); otherwise start our own as the
# munge user, which is how Debian runs it and what munged's key-permission checks expect.
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged already running; reusing it"
else
    install -d -o munge -g munge -m 0755 "$MUNGE_RUN" "$STATE_DIR/munge"
    runuser -u munge -- munged --pid-file="$STATE_DIR/munge/munged.pid" \
        --log-file="$STATE_DIR/munge/munged.log" 2>"$STATE_DIR/munge/munged.err" \
        || die "munged did not start: $(cat "$STATE_DIR/munge/munged.err")"
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null || die "munged started but does not answer"
fi

# A slurmctld/slurmd we did not start (a real site's, or a leftover without state) would hold the ports.
for comm in slurmctld slurmd; do
    for d in /proc/[0-9]*; do
        if running "${d#/proc/}" "$comm"; then
            die "a $comm not started by this script is running (pid ${d#/proc/}); stop it first"
        fi
    done
done
slurmctld -i || die "slurmctld did not start; log: $(tail -n 20 "$STATE_DIR/slurmctld.log" 2>/dev/null)"
for n in "$node" "$node2"; do
    slurmd -N "$n" || die "slurmd -N $n did not start; log: $(tail -n 20 "$STATE_DIR/slurmd-$n.log" 2>/dev/null)"
done

#--------------------------------------------------------------------------------------------------
# 5. Wait (bounded) for the node to be idle.
deadline=$(( $(date +%s) + WAIT_S ))
state=""
while (( $(date +%s) < deadline )); do
    state="$(node_state)"
    [[ "$state" == idle ]] && break
    sleep 0.5
done
if [[ "$state" != idle ]]; then
    {
        echo "start_test_cluster: nodes not idle after ${WAIT_S}s (states: '${state:-none}')"
        echo "--- sinfo"; sinfo -N -l 2>&1 || true
        echo "--- slurmctld.log (tail)"; tail -n 30 "$STATE_DIR/slurmctld.log" 2>/dev/null || true
        for n in "$node" "$node2"; do
            echo "--- slurmd-$n.log (tail)"; tail -n 30 "$STATE_DIR/slurmd-$n.log" 2>/dev/null || true
        done
    } >&2
    die "giving up; see the logs above"
fi
date +%s > "$STATE_DIR/started"
log "cluster up: nodes $node, $node2 ($cpus CPUs, ${mem} MB each); partitions debug (default, $node), urgent ($node), multi (both); state in $STATE_DIR"
