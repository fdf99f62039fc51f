#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for the tests marked `slurm` (make test-slurm):
# munge, MariaDB + slurmdbd (the accounting that submitit's `sacct` reads), slurmctld and slurmd,
# started by hand (no systemd needed). Idempotent: `up` starts only what is not running, `down`
# stops only the daemons this script started (their pid files), `status` says what runs.
#
#   bash scripts/slurm_cluster.sh up | down | status
#
# Needs root (apt-get, /etc/slurm). Installs Debian's slurm-wlm, slurmdbd, munge and mariadb-server
# when missing. Test settings a real cluster does not have: the node is this machine with its real
# CPU count, AuthInfo=cred_expire=10 and short scheduler intervals (a requeued job starts ~10 s later,
# not ~2 min), KillWait=30 (SIGKILL 30 s after the time limit's SIGTERM).
set -euo pipefail

STATE=${LANDER_SLURM_STATE:-/var/lib/lander_slurm}
LOGS=$STATE/log
RUN=$STATE/run
HOST=$(hostname -s)
DB_PASS=lander_slurm_test   # the test cluster's accounting database user; local socket only

need_root() { [ "$(id -u)" = 0 ] || { echo "slurm_cluster.sh: run as root (it installs packages and writes /etc/slurm)" >&2; exit 2; }; }

install_packages() {
    local missing=()
    for bin_pkg in slurmctld:slurm-wlm slurmd:slurm-wlm slurmdbd:slurmdbd munged:munge mariadbd:mariadb-server; do
        command -v "${bin_pkg%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${bin_pkg%%:*}" ] || missing+=("${bin_pkg#*:}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing ${missing[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() {  # wait_for SECONDS WHAT COMMAND...
    local limit=$1 what=$2; shift 2
    for _ in $(seq $((limit * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "slurm_cluster.sh: $what did not come up in ${limit} s; see $LOGS/" >&2
    return 1
}

write_configs() {
    local cpus mem
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
    mkdir -p /etc/slurm "$STATE/ctld" "$STATE/spool" "$LOGS" "$RUN"
    cat >/etc/slurm/slurm.conf <<EOF
# written by lander_exp's scripts/slurm_cluster.sh: a one-node test cluster
ClusterName=lander
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
KillWait=30
MinJobAge=60
InactiveLimit=0
Waittime=0
NodeName=$HOST CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    cat >/etc/slurm/slurmdbd.conf <<EOF
# written by lander_exp's scripts/slurm_cluster.sh
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOGS/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
    chmod 600 /etc/slurm/slurmdbd.conf
}

start_munge() {
    alive "$RUN/munged.pid" && return 0
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    cp /run/munge/munged.pid "$RUN/munged.pid"
    wait_for 10 munge bash -c "munge -n | unmunge"
}

start_mariadb() {
    alive "$RUN/mariadb.pid" && return 0
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    runuser -u mysql -- /usr/sbin/mariadbd --datadir=/var/lib/mysql --socket=/run/mysqld/mysqld.sock \
        --pid-file=/run/mysqld/lander.pid --skip-networking --log-error="$LOGS/mariadb.log" >/dev/null 2>&1 &
    wait_for 30 MariaDB mariadb -e "select 1"
    cp /run/mysqld/lander.pid "$RUN/mariadb.pid"
    mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
}

start_slurmdbd() {
    alive "$RUN/slurmdbd.pid" && return 0
    /usr/sbin/slurmdbd
    wait_for 30 slurmdbd sacctmgr -n list cluster
}

start_slurm() {
    if ! alive "$RUN/slurmctld.pid"; then
        /usr/sbin/slurmctld
        wait_for 30 slurmctld scontrol ping
    fi
    if ! alive "$RUN/slurmd.pid"; then
        /usr/sbin/slurmd
    fi
    wait_for 30 "the node" bash -c "sinfo -h -n $HOST -o %t | grep -qE '^(idle|mix|alloc)'"
    # the cluster registers itself in the accounting database on slurmctld's first start
    wait_for 30 "accounting" bash -c "sacctmgr -n -P list cluster format=cluster | grep -qx lander"
}

up() {
    need_root
    install_packages
    write_configs
    start_munge
    start_mariadb
    start_slurmdbd
    start_slurm
    echo "SLURM test cluster up: node $HOST ($(nproc) CPUs), partition debug, accounting in MariaDB"
}

stop_pid() {  # stop_pid NAME: the daemon whose pid this script recorded
    local file="$RUN/$1.pid"
    if alive "$file"; then
        local pid; pid=$(cat "$file")
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$file"
}

down() {
    need_root
    for d in slurmd slurmctld slurmdbd mariadb munged; do stop_pid "$d"; done
    echo "SLURM test cluster down"
}

status() {
    local rc=0
    for d in munged mariadb slurmdbd slurmctld slurmd; do
        if alive "$RUN/$d.pid"; then echo "$d: running (pid $(cat "$RUN/$d.pid"))"; else echo "$d: stopped"; rc=1; fi
    done
    [ $rc = 0 ] && sinfo
    return $rc
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: bash scripts/slurm_cluster.sh up|down|status" >&2; exit 2 ;;
esac
