#!/usr/bin/env bash
# A single-node SLURM cluster with accounting on this machine, for the SLURM tests and for trying
# the slurm profile locally. No systemd: the daemons run in the foreground (-D) in the
# background of this script, each one's pid in the state folder.
#
#   tests/slurm/cluster.sh up      # idempotent: starts what is not running, waits for the node
#   tests/slurm/cluster.sh down    # stops the daemons it started, by their pids
#   tests/slurm/cluster.sh status  # which daemons run; exit 0 only when all do
#   tests/slurm/cluster.sh env     # prints `export SLURM_CONF=...` for the client commands
#
# Needs root and the Debian packages slurm-wlm, slurmdbd, mariadb-server and munge (`make
# test-deps` installs them). Everything the cluster writes lives in one state folder
# ($GPT2ZH_SLURM_DIR, default /var/tmp/gpt2zh-slurm): its slurm.conf, a private MariaDB data
# folder on its own port, spools and logs. Nothing is written to /etc/slurm: a machine-wide
# slurm.conf naming a controller that is not running makes every client command wait ~10 s for
# it, and the SLURM executor plugin runs `scontrol show config` each time Snakemake starts (to
# word its --help), so every `snakemake` on the machine would pay that once the cluster is down.
# Client commands find this cluster through SLURM_CONF, or through the copy of the config that
# the (configless) slurmd keeps in /run/slurm/conf while it runs; `down` removes that link.
set -euo pipefail

DIR=${GPT2ZH_SLURM_DIR:-/var/tmp/gpt2zh-slurm}
CLUSTER=gpt2zh
PARTITION=main # deliberately not `cpu`: the profile must not assume a partition name
DB_PORT=${GPT2ZH_SLURM_DB_PORT:-3407}
CONF=$DIR/slurm.conf
DBD_CONF=$DIR/slurmdbd.conf
LOG=$DIR/log
HOST=$(hostname -s)

die() { echo "cluster.sh: $*" >&2; exit 1; }

# alive NAME: the daemon whose pid is in $DIR/NAME.pid runs.
alive() { [[ -s $DIR/$1.pid ]] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

# start NAME CMD...: runs CMD in its own session with output to the log, records its pid.
start() {
  local name=$1; shift
  alive "$name" && return 0
  setsid "$@" >>"$LOG/$name.out" 2>&1 </dev/null &
  echo $! >"$DIR/$name.pid"
}

# wait_for SECONDS WHAT CMD...: retries CMD until it succeeds, or fails naming WHAT and the logs.
wait_for() {
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what did not come up within ${seconds}s; see $LOG/"
    sleep 0.5
  done
}

# write FILE MODE: stdin to FILE unless FILE already has that content, with MODE; CHANGED=1 if
# it had not (running daemons then reread it: see `up`).
CHANGED=0
write() {
  local tmp; tmp=$(mktemp)
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; CHANGED=1; fi
  chmod "$2" "$1"
}

configure() {
  mkdir -p "$DIR/ctld" "$DIR/slurmd" "$LOG"
  # The node as slurmd sees it (CPUs, sockets, memory), so it never registers as invalid.
  local node; node=$(slurmd -C | head -n 1 | sed -E 's/^NodeName=[^ ]+ //; s/ UpTime=.*//')
  write "$CONF" 644 <<EOF
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/slurmd
SlurmctldPidFile=$DIR/slurmctld.daemon.pid
SlurmdPidFile=$DIR/slurmd.daemon.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
SlurmctldParameters=enable_configless
NodeName=$HOST NodeAddr=127.0.0.1 $node State=UNKNOWN
PartitionName=$PARTITION Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
  write "$DBD_CONF" 600 <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
PidFile=$DIR/slurmdbd.daemon.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
}

up_munge() {
  # munged is machine-wide (one socket under /run/munge): reuse one that answers.
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi
  [[ -s /etc/munge/munge.key ]] || die "no /etc/munge/munge.key (is the munge package installed?)"
  install -d -o munge -g munge -m 755 /run/munge
  start munged runuser -u munge -- munged -F
  wait_for 20 munged sh -c 'munge -n | unmunge'
}

sql() { mariadb --socket="$DIR/mysql/mysqld.sock" -u root "$@"; }

up_mariadb() {
  if [[ ! -d $DIR/mysql/mysql ]]; then
    install -d -o mysql -g mysql "$DIR/mysql"
    mariadb-install-db --user=mysql --datadir="$DIR/mysql" --auth-root-authentication-method=socket \
      >>"$LOG/mariadb-install.out" 2>&1 || die "mariadb-install-db failed; see $LOG/mariadb-install.out"
  fi
  start mariadbd mariadbd --user=mysql --datadir="$DIR/mysql" --tmpdir="$DIR/mysql" --socket="$DIR/mysql/mysqld.sock" \
    --pid-file="$DIR/mysql/mariadbd.pid" --bind-address=127.0.0.1 --port="$DB_PORT"
  wait_for 60 mariadbd sql -e 'SELECT 1'
  sql -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
          CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
          GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
          GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
}

up() {
  [[ $(id -u) == 0 ]] || die "run as root (it starts munged, mariadbd and the slurm daemons)"
  for cmd in slurmctld slurmd slurmdbd sacctmgr munged mariadbd; do
    command -v "$cmd" >/dev/null || die "$cmd missing: apt-get install slurm-wlm slurmdbd mariadb-server munge"
  done
  configure
  export SLURM_CONF=$CONF
  up_munge
  up_mariadb
  start slurmdbd slurmdbd -D # reads the slurmdbd.conf next to $SLURM_CONF
  wait_for 60 slurmdbd sacctmgr -n list cluster
  if [[ -z $(sacctmgr -n -P list cluster format=cluster "cluster=$CLUSTER") ]]; then
    sacctmgr -i add cluster "$CLUSTER" >/dev/null
  fi
  if alive slurmctld && ((CHANGED)); then scontrol reconfigure; fi
  start slurmctld slurmctld -D -f "$CONF"
  wait_for 60 slurmctld scontrol ping
  # Configless slurmd: it fetches the config from slurmctld and keeps a copy in /run/slurm/conf,
  # where the client commands inside jobs find it (the jobstep plugin drops SLURM_CONF from the
  # environment of its `srun`).
  start slurmd slurmd -D --conf-server "127.0.0.1"
  # Up = the node takes jobs and accounting answers.
  wait_for 60 "node $HOST" sh -c "sinfo -h -N -o '%t' | grep -Eq '^(idle|mix|alloc)'"
  wait_for 30 sacct sacct -n -X -S now
  echo "SLURM cluster $CLUSTER up (partition $PARTITION); client commands need SLURM_CONF=$CONF" >&2
}

down() {
  # Reverse order; each by the pid this script recorded, and only if that process still runs.
  local name pid
  for name in slurmd slurmctld slurmdbd mariadbd munged; do
    if alive "$name"; then
      pid=$(cat "$DIR/$name.pid")
      kill "$pid"
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$DIR/$name.pid"
  done
  # slurmd's link to its config copy: left behind, it would send every client command (and the
  # SLURM executor plugin's `scontrol show config` at each Snakemake start) to a controller
  # that is gone, each waiting ~10 s for it.
  if [[ $(readlink /run/slurm/conf 2>/dev/null) == "$DIR"/* ]]; then rm -f /run/slurm/conf; fi
}

status() {
  local name rc=0
  for name in munged mariadbd slurmdbd slurmctld slurmd; do
    if alive "$name"; then echo "$name: running (pid $(cat "$DIR/$name.pid"))"
    elif [[ $name == munged ]] && munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
      echo "munged: running (not started by this script)"
    else echo "$name: stopped"; rc=1; fi
  done
  return $rc
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) die "usage: $0 up|down|status|env" ;;
esac
