#!/usr/bin/env bash
# Entrypoint of the harness-timescaledb images (built by ci/build-images).
#
# It keeps the contract of the official timescale/timescaledb image (itself the postgres
# image's entrypoint plus TimescaleDB's init scripts), so a harness run against these images
# takes the same code path as one against the official image on a user's machine:
#   POSTGRES_PASSWORD (or _FILE)   superuser password; required unless the auth method is trust
#   POSTGRES_USER (or _FILE)       superuser name, default postgres
#   POSTGRES_DB (or _FILE)         database created at init, default $POSTGRES_USER
#   POSTGRES_HOST_AUTH_METHOD      pg_hba method for remote hosts, default scram-sha-256
#   POSTGRES_INITDB_ARGS           extra initdb arguments
#   POSTGRES_INITDB_WALDIR         initdb --waldir
#   PGDATA                         data directory, default /var/lib/postgresql/data
#   NO_TS_TUNE                     set: skip the memory/CPU tuning of postgresql.conf
#   TIMESCALEDB_TELEMETRY          off: telemetry_level off and the telemetry job unscheduled
#   TS_TUNE_MEMORY, TS_TUNE_NUM_CPUS, TS_TUNE_MAX_CONNS, TS_TUNE_MAX_BG_WORKERS
#                                  override what the tuning reads off the container
# Arguments: `postgres ...` (the default) or options alone (`-c k=v ...`, run by postgres);
# anything else is executed as given. /docker-entrypoint-initdb.d/*.sh, *.sql, *.sql.gz run once
# at init, as in the official image.
set -Eeuo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S.%3N UTC')" "$*"; }
die() { log "error: $*" >&2; exit 1; }

# VAR from VAR or VAR_FILE (not both), as the official image reads secrets.
file_env() {
  local var="$1" def="${2:-}" fvar="${1}_FILE" val
  if [ -n "${!var:-}" ] && [ -n "${!fvar:-}" ]; then
    die "both $var and $fvar are set (they are exclusive)"
  fi
  val="$def"
  if [ -n "${!var:-}" ]; then
    val="${!var}"
  elif [ -n "${!fvar:-}" ]; then
    val="$(<"${!fvar}")"
  fi
  export "$var"="$val"
  unset "$fvar"
}

if [ $# -eq 0 ] || [ "${1:0:1}" = '-' ]; then
  set -- postgres "$@"
fi

if [ "$1" != postgres ]; then
  exec "$@"
fi

# `postgres --help`, `-V`, `-C name`, `--describe-config`: answered without an init, as the
# official image's _pg_want_help does
for arg in "${@:2}"; do
  case "$arg" in
    -'?'|--help|--describe-config|-V|--version|-C) exec "$@" ;;
  esac
done

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

# read as root, as the official image does, so a root-only secret file works (the values are
# exported across the exec below; the _FILE names are unset)
file_env POSTGRES_PASSWORD
file_env POSTGRES_USER postgres
file_env POSTGRES_DB "$POSTGRES_USER"
file_env POSTGRES_INITDB_ARGS
: "${POSTGRES_HOST_AUTH_METHOD:=}"

if [ "$(id -u)" = 0 ]; then
  # root: make the data directory (a tmpfs mount arrives as root-owned 1777), then drop to the
  # postgres user and start over
  mkdir -p "$PGDATA" /var/run/postgresql
  # a reused data directory may hold files of another owner: all of it, as the official image
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
  chown postgres:postgres /var/run/postgresql
  chmod 700 "$PGDATA"
  chmod 3775 /var/run/postgresql
  if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
    mkdir -p "$POSTGRES_INITDB_WALDIR"
    chown postgres:postgres "$POSTGRES_INITDB_WALDIR"
  fi
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

# Memory and CPUs the container may use: the cgroup's limits when set, the machine's otherwise.
container_memory_kb() {
  local lim=""
  if [ -r /sys/fs/cgroup/memory.max ]; then
    lim=$(cat /sys/fs/cgroup/memory.max)
  elif [ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
    lim=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
  fi
  local total
  total=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  if [[ "$lim" =~ ^[0-9]+$ ]] && [ "$((lim / 1024))" -lt "$total" ]; then
    echo "$((lim / 1024))"
  else
    echo "$total"
  fi
}
container_cpus() {
  local quota period
  if [ -r /sys/fs/cgroup/cpu.max ]; then
    read -r quota period < /sys/fs/cgroup/cpu.max
  elif [ -r /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
    quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)
    period=$(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)
  fi
  if [[ "${quota:-max}" =~ ^[0-9]+$ ]] && [ "$quota" -gt 0 ]; then
    echo $(( (quota + period - 1) / period ))
  else
    nproc
  fi
}

# The settings timescaledb-tune writes, by its documented rules of thumb (Debian packages no
# timescaledb-tune): shared_buffers 25% of memory, effective_cache_size 75%, maintenance_work_mem
# 5% (at most 2 GB), work_mem what is left per connection and worker, workers from the CPUs.
ts_tune() {
  local conf="$PGDATA/postgresql.conf"
  local mem_kb cpus conns bgw
  mem_kb=${TS_TUNE_MEMORY_KB:-$(container_memory_kb)}
  if [ -n "${TS_TUNE_MEMORY:-}" ]; then
    mem_kb=$(numfmt --from=iec "${TS_TUNE_MEMORY%B}" | awk '{printf "%d", $1 / 1024}')
  fi
  cpus=${TS_TUNE_NUM_CPUS:-$(container_cpus)}
  conns=${TS_TUNE_MAX_CONNS:-100}
  bgw=${TS_TUNE_MAX_BG_WORKERS:-16}
  local sb=$((mem_kb / 4)) ecs=$((mem_kb * 3 / 4)) mwm=$((mem_kb / 20))
  [ "$mwm" -gt 2097152 ] && mwm=2097152
  local par=$(( cpus > 1 ? cpus / 2 : 1 ))
  local wm=$(( (mem_kb - sb) / (conns * 3) / (par > 0 ? par : 1) ))
  [ "$wm" -lt 64 ] && wm=64
  cat >>"$conf" <<CONF

# tuned by the entrypoint for ${mem_kb} kB and ${cpus} CPU(s) (set NO_TS_TUNE to skip)
shared_buffers = ${sb}kB
effective_cache_size = ${ecs}kB
maintenance_work_mem = ${mwm}kB
work_mem = ${wm}kB
max_connections = ${conns}
timescaledb.max_background_workers = ${bgw}
max_worker_processes = $((bgw + cpus + 3))
max_parallel_workers_per_gather = ${par}
max_parallel_workers = ${cpus}
wal_buffers = 16MB
min_wal_size = 512MB
default_statistics_target = 100
random_page_cost = 1.1
checkpoint_completion_target = 0.9
CONF
  log "tuned postgresql.conf for ${mem_kb} kB and ${cpus} CPU(s)"
}

BAKED=/usr/share/harness/cluster-postgres.tar.zst

psql_local() {
  psql -X -q -v ON_ERROR_STOP=1 --no-password --no-psqlrc -h /var/run/postgresql "$@"
}

# SQL without a server, for the baked cluster's few changes: with -j the whole input is one
# command; exit_on_error so a failed statement fails the init (single-user mode goes on after
# an ERROR and exits 0 otherwise).
single_user() {
  printf '%s\n' "$2" | postgres --single -D "$PGDATA" -j -c exit_on_error=on \
    -c shared_preload_libraries=timescaledb -c timescaledb.max_background_workers=0 \
    -c log_min_messages=warning "$1" >/dev/null
}

# A temporary server on the unix socket only, for init SQL, as the official image does.
temp_server() {
  local action="$1"
  shift
  if [ "$action" = start ]; then
    local opts="-c listen_addresses='' -p ${PGPORT:-5432}"
    if [ $# -gt 0 ]; then
      opts="$(printf '%q ' "$@")$opts"
    fi
    pg_ctl -D "$PGDATA" -o "$opts" -w -t 60 start
  else
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  fi
}

# Image build time (ci/build-images runs this once): the cluster that initdb and the official
# image's first SQL make for the default POSTGRES_USER, packed, so a container can unpack it
# instead of running initdb on every start.
bake() {
  PGDATA=$(mktemp -d)/data
  export PGDATA
  initdb --username=postgres >/dev/null
  printf "\nshared_preload_libraries = 'timescaledb'\n" >>"$PGDATA/postgresql.conf"
  temp_server start -c timescaledb.max_background_workers=0 >/dev/null
  for db in postgres template1; do
    PGUSER=postgres psql_local --dbname "$db" -c 'CREATE EXTENSION IF NOT EXISTS timescaledb CASCADE;' >/dev/null
  done
  temp_server stop
  sed -i '$d' "$PGDATA/postgresql.conf"
  mkdir -p "$(dirname "$BAKED")"
  tar -C "$PGDATA" -cf - . | zstd -q -3 -o "$BAKED"
  rm -rf "$(dirname "$PGDATA")"
  log "baked the initdb cluster into $BAKED ($(du -h "$BAKED" | cut -f1))"
}

init_cluster() {
  shift # "postgres": what follows are the server's own arguments
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
       connections without a password. This is *not* recommended.
MSG
    exit 1
  fi
  if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
    log "warning: POSTGRES_HOST_AUTH_METHOD=trust: every host may connect without a password"
  fi
  local baked=0
  # initdb also writes the environment's time zone and locale: the baked cluster has the
  # image's (no TZ, LANG=C.UTF-8, no LC_*), so any other takes initdb
  local lc
  lc=$(env | grep -c '^LC_' || true)
  if [ -f "$BAKED" ] && [ "$POSTGRES_USER" = postgres ] && [ -z "$POSTGRES_INITDB_ARGS" ] \
     && [ -z "${POSTGRES_INITDB_WALDIR:-}" ] && [ -z "${TZ:-}" ] \
     && [ "${LANG:-}" = C.UTF-8 ] && [ "$lc" = 0 ]; then
    # what initdb would make here, made once at build time
    zstd -q -d -c "$BAKED" | tar -C "$PGDATA" -xf -
    baked=1
  else
    local waldir=()
    if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then
      waldir=(--waldir "$POSTGRES_INITDB_WALDIR")
    fi
    # eval, as the official image: POSTGRES_INITDB_ARGS may quote its words
    eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") "${waldir[@]}" '"$POSTGRES_INITDB_ARGS" >/dev/null
  fi

  local auth="$POSTGRES_HOST_AUTH_METHOD"
  if [ -z "$auth" ]; then
    auth=$(postgres -C password_encryption "$@" 2>/dev/null || echo scram-sha-256)
  fi
  printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

  local telemetry=basic
  [ "${TIMESCALEDB_TELEMETRY:-}" = off ] && telemetry=off
  cat >>"$PGDATA/postgresql.conf" <<CONF

listen_addresses = '*'
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = ${telemetry}
CONF
  if [ -z "${NO_TS_TUNE:-}" ]; then
    ts_tune
  fi

  local sql="CREATE EXTENSION IF NOT EXISTS timescaledb CASCADE;"
  if [ "$telemetry" = off ]; then
    # unscheduled too, so the telemetry job does not fill the log with its attempts (the
    # official image calls alter_job, which the Apache-2 edition refuses: the catalog row is
    # what alter_job changes)
    sql="$sql UPDATE _timescaledb_config.bgw_job SET scheduled = false WHERE id = 1;"
  fi
  local scripts=(/docker-entrypoint-initdb.d/*)
  [ -e "${scripts[0]}" ] || scripts=()

  if [ "$baked" = 1 ] && [ "$POSTGRES_DB" = postgres ] && [ ${#scripts[@]} -eq 0 ]; then
    # nothing needs a server: the password (and the telemetry job) in single-user mode
    local unschedule="UPDATE _timescaledb_config.bgw_job SET scheduled = false WHERE id = 1;"
    local first=""
    if [ -n "$POSTGRES_PASSWORD" ]; then
      first="ALTER ROLE postgres PASSWORD '${POSTGRES_PASSWORD//\'/\'\'}';"
    fi
    if [ "$telemetry" = off ]; then
      first="$first"$'\n'"$unschedule"
      single_user template1 "$unschedule"
    fi
    [ -z "$first" ] || single_user postgres "$first"
  else
    temp_server start "$@"
    export PGUSER="$POSTGRES_USER" PGPASSWORD="$POSTGRES_PASSWORD"
    if [ "$baked" = 1 ] && [ -n "$POSTGRES_PASSWORD" ]; then
      psql_local --dbname postgres --set pw="$POSTGRES_PASSWORD" <<<'ALTER ROLE postgres PASSWORD :'"'"'pw'"'"';'
    fi
    if [ "$POSTGRES_DB" != postgres ]; then
      psql_local --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    local db
    for db in postgres template1 "$POSTGRES_DB"; do
      psql_local --dbname "$db" -c "$sql" >/dev/null
    done
    local f
    for f in "${scripts[@]}"; do
      case "$f" in
        *.sh)
          # sourced ones run inside this script (set -u on; psql_local is there for them)
        if [ -x "$f" ]; then log "running $f"; "$f"; else log "sourcing $f"; . "$f"; fi ;;
        *.sql) log "running $f"; psql_local --dbname "$POSTGRES_DB" -f "$f" ;;
        *.sql.gz) log "running $f"; gunzip -c "$f" | psql_local --dbname "$POSTGRES_DB" ;;
        *.sql.xz) log "running $f"; xzcat "$f" | psql_local --dbname "$POSTGRES_DB" ;;
        *.sql.zst) log "running $f"; zstd -q -d -c "$f" | psql_local --dbname "$POSTGRES_DB" ;;
        *) log "ignoring $f" ;;
      esac
    done
    unset PGPASSWORD
    temp_server stop
  fi
  log "PostgreSQL init process complete; ready for start up."
}

if [ "${HARNESS_BAKE:-}" = 1 ]; then
  bake
  exit 0
fi

# started as a non-root user (docker run --user): make what root would have made, if allowed
mkdir -p "$PGDATA" 2>/dev/null || true
chmod 700 "$PGDATA" 2>/dev/null || true

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  t0=$(date +%s%N)
  init_cluster "$@"
  log "initialized $PGDATA in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
else
  log "PostgreSQL Database directory appears to contain a database; Skipping initialization"
fi

exec "$@"
