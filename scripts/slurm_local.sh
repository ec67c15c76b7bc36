#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the sweep tests and for trying hydra/launcher=slurm.
#
#   scripts/slurm_local.sh install   apt-get the daemons (root; Debian's slurmctld, slurmd, munge)
#   scripts/slurm_local.sh up        start munged, slurmctld and slurmd; print `export SLURM_CONF=...`
#   scripts/slurm_local.sh down      stop them by pid and remove the state folder
#   scripts/slurm_local.sh status    sinfo
#
# Everything lives in $NST_SLURM_DIR (default /tmp/nst-slurm): slurm.conf, a munge key, state, logs and
# pids; nothing under /etc is touched. One node (this host, all its CPUs), one partition "local".
# Clients find the cluster through SLURM_CONF=$NST_SLURM_DIR/slurm.conf.
set -euo pipefail
DIR=${NST_SLURM_DIR:-/tmp/nst-slurm}
PACKAGES="slurmctld slurmd slurm-client munge"

die() { echo "slurm_local: $*" >&2; exit 1; }

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
        && command -v munged >/dev/null; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "installing $PACKAGES needs root (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
}

alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

write_conf() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys OMP_NUM_THREADS otherwise
    mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    mkdir -p "$DIR"/{state,spool,log}
    cat >"$DIR/slurm.conf" <<EOF
# written by scripts/slurm_local.sh: one node, one partition, everything under $DIR
ClusterName=nstlocal
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge.socket,cred_expire=5
SlurmctldPort=${NST_SLURM_PORT:-16817}
SlurmdPort=$(( ${NST_SLURM_PORT:-16817} + 1 ))
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.daemon.pid
SlurmdPidFile=$DIR/slurmd.daemon.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
MessageTimeout=30
KillWait=10
InactiveLimit=0
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

up() {
    install
    if alive slurmctld && alive slurmd && alive munged; then
        echo "export SLURM_CONF=$DIR/slurm.conf"
        return 0
    fi
    down >/dev/null 2>&1 || true
    write_conf
    # munge: a fresh key readable by root only, its own socket (AuthInfo above points slurm at it)
    dd if=/dev/urandom of="$DIR/munge.key" bs=1 count=1024 status=none
    chmod 600 "$DIR/munge.key"
    chmod 700 "$DIR"
    munged --foreground --force --key-file="$DIR/munge.key" --socket="$DIR/munge.socket" \
        --pid-file="$DIR/munged.daemon.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge.seed" \
        >>"$DIR/log/munged.out" 2>&1 &
    echo $! >"$DIR/munged.pid"
    for _ in $(seq 50); do [ -S "$DIR/munge.socket" ] && break; sleep 0.1; done
    [ -S "$DIR/munge.socket" ] || die "munged did not start: $(tail -3 "$DIR/log/munged.log" 2>/dev/null)"
    export SLURM_CONF=$DIR/slurm.conf
    slurmctld -D -i -f "$SLURM_CONF" >>"$DIR/log/slurmctld.out" 2>&1 &
    echo $! >"$DIR/slurmctld.pid"
    slurmd -D -f "$SLURM_CONF" >>"$DIR/log/slurmd.out" 2>&1 &
    echo $! >"$DIR/slurmd.pid"
    for _ in $(seq 100); do
        state=$(sinfo -h -o %t 2>/dev/null | head -1 || true)
        case "$state" in idle | mix | alloc) break ;; esac
        sleep 0.2
    done
    case "$state" in
        idle | mix | alloc) ;;
        *) die "the node did not come up (state '${state:-none}'); logs in $DIR/log" ;;
    esac
    echo "export SLURM_CONF=$DIR/slurm.conf"
}

down() {
    local name pid environ
    unset SLURM_CONF  # this script and its children must not look like the cluster's processes
    for name in slurmd slurmctld munged; do
        if [ -f "$DIR/$name.pid" ]; then
            pid=$(cat "$DIR/$name.pid")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    # What ran on the cluster (slurmstepd renames itself, so match on the environment every job
    # process inherits): job steps and their programs go with the daemons.
    local keep=" $$ " ancestor=$$
    while [ "$ancestor" -gt 1 ] 2>/dev/null; do  # never this script or what started it
        ancestor=$(awk '{print $4}' "/proc/$ancestor/stat" 2>/dev/null || echo 1)
        keep="$keep$ancestor "
    done
    for environ in /proc/[0-9]*/environ; do
        pid=${environ#/proc/}
        pid=${pid%/environ}
        case "$keep" in *" $pid "*) continue ;; esac
        if tr '\0' '\n' <"$environ" 2>/dev/null | grep -qxF "SLURM_CONF=$DIR/slurm.conf"; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$DIR"
    echo "slurm_local: stopped"
}

case "${1:-}" in
    install) install ;;
    up) up ;;
    down) down ;;
    status) SLURM_CONF=$DIR/slurm.conf sinfo ;;
    *) die "usage: $0 install|up|down|status" ;;
esac
