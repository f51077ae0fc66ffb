#!/usr/bin/env bash
# A one-node Slurm on this machine, from Debian's packages (as root:
#   apt-get install --no-install-recommends slurmctld slurmd slurm-client munge):
# munged, slurmctld and slurmd, with every file (config, key, state, logs, sockets) in one folder.
#
#   scripts/slurm_one_node.sh start DIR    start the daemons; then `export SLURM_CONF=DIR/slurm.conf`
#   scripts/slurm_one_node.sh stop DIR     cancel every job, stop the daemons, leave no process behind
#   scripts/slurm_one_node.sh run CMD ...  start in a temporary folder, run CMD with SLURM_CONF set,
#                                          stop on exit (also on Ctrl-C), and exit with CMD's status
#
# Accounting: no slurmdbd (it needs a MariaDB server), so `sacct` has no data here. Finished jobs
# stay in slurmctld's memory for MinJobAge (1 h), where `squeue -t all` / `scontrol show job` see
# them, and JobCompType=jobcomp/filetxt logs each finished job to DIR/jobcomp.txt.
set -euo pipefail

die() { echo "slurm_one_node: $*" >&2; exit 2; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND until it succeeds
    local deadline=$((SECONDS + $1)) what=$2
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

gone() {  # process $1 has exited (a zombie whose parent has not reaped it counts as gone)
    local state
    state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 0
    [ -z "$state" ] || [ "$state" = Z ]
}

node_idle() { [ "$(sinfo -h -N -o %t 2>/dev/null)" = "idle" ]; }

start() {
    local dir=$1
    [ "$(id -u)" -eq 0 ] || die "start needs root (munged, slurmctld and slurmd run as root here)"
    for tool in munged slurmctld slurmd sbatch; do
        command -v "$tool" >/dev/null || die "$tool not found: apt-get install --no-install-recommends slurmctld slurmd slurm-client munge"
    done
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    chmod 755 "$dir"  # users other than root reach the config and munged's socket (munged refuses a folder others may write)
    mkdir -p "$dir/state" "$dir/spool"
    local node cpus memory
    node=$(hostname -s)
    cpus=$(nproc)
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
    cat >"$dir/slurm.conf" <<EOF
ClusterName=vlpbench
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job waits this long before it may start again (default 120 s)
AuthInfo=socket=$dir/munge.socket,cred_expire=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=bf_interval=1
MinJobAge=3600
KillWait=5
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
    head -c 1024 /dev/urandom >"$dir/munge.key"
    chmod 400 "$dir/munge.key"
    munged --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" --pid-file="$dir/munged.pid" \
        --log-file="$dir/munged.log" --seed-file="$dir/munged.seed"
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -f "$SLURM_CONF" -i
    slurmd -f "$SLURM_CONF"
    wait_for 60 "node idle" node_idle || {
        tail -n 20 "$dir"/*.log >&2 || true
        stop "$dir"
        die "the node did not become idle within 60 s (logs above, in $dir)"
    }
    echo "one-node Slurm up: export SLURM_CONF=$dir/slurm.conf"
}

ours() {  # the processes holding a file under $1 open (daemons, job steps), and their descendants
    local dir=$1 fd
    for fd in /proc/[0-9]*/fd/*; do
        case $(readlink "$fd" 2>/dev/null) in "$dir"/*) fd=${fd#/proc/}; echo "${fd%%/*}" ;; esac
    done | sort -u | while read -r pid; do descendants "$pid"; done | sort -u
}

descendants() {  # $1 and every process below it
    local child
    echo "$1"
    for child in $(pgrep -P "$1"); do descendants "$child"; done
}

stop() {
    local dir
    dir=$(cd "$1" && pwd) || die "no folder $1"
    export SLURM_CONF=$dir/slurm.conf
    if [ -f "$dir/slurmctld.pid" ]; then
        squeue -h -o %A 2>/dev/null | xargs -r scancel --full 2>/dev/null || true  # every user's jobs
        wait_for 30 "jobs ended" sh -c '[ -z "$(squeue -h -t PD,CF,R,S,CG -o %A 2>/dev/null)" ]' || true
    fi
    local pidfile pid steps
    steps=$(ours "$dir")  # before slurmd stops: job steps it started that outlive it, and their processes
    for pidfile in slurmd.pid slurmctld.pid munged.pid; do
        pid=$(cat "$dir/$pidfile" 2>/dev/null) || continue
        kill "$pid" 2>/dev/null || true
        wait_for 15 "$pidfile gone" gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in $steps $(ours "$dir"); do
        kill -KILL "$pid" 2>/dev/null || true
    done
}

case ${1:-} in
start) [ $# -eq 2 ] || die "usage: $0 start DIR"; start "$2" ;;
stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
run)
    shift
    [ $# -ge 1 ] || die "usage: $0 run CMD [ARG...]"
    folder=$(mktemp -d -t slurm-one-node.XXXXXX)
    trap 'stop "$folder"; rm -rf "$folder"' EXIT
    trap 'exit 130' INT TERM
    start "$folder"
    export SLURM_CONF=$folder/slurm.conf
    status=0
    "$@" || status=$?
    exit "$status"
    ;;
*) die "usage: $0 start DIR | stop DIR | run CMD [ARG...]" ;;
esac
