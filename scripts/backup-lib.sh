# shellcheck shell=bash
# Sourced by backup.sh and restore.sh after lib.sh: how they reach the stack's
# services and read a backup's files. Every command with a credential runs
# inside a container that holds it as a secret, so nothing secret is on the
# host's command line. Files are read by throwaway containers of the stack's own
# images, without network, so checking a backup needs no running service.

# The four Redis keys of the contract, in the order the manifest lists them.
REDIS_KEYS=(contador_acessos ultimo_acesso integracao_contador integracao_timestamp)

# Where backups go: BACKUPS_DIR, else backups/ (git-ignored).
backups_dir () {
  echo "${BACKUPS_DIR:-$top/backups}"
}

# The container id of a service of the project, running or not, else nothing.
# Found by compose's labels: one docker call, not a compose one per question.
service_container () {
  docker ps -aq --filter "label=com.docker.compose.project=$(compose_project)" \
    --filter "label=com.docker.compose.service=$1" --filter label=com.docker.compose.oneoff=False | head -n 1
}

is_running () {
  [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null)" = true ]
}

# `require_stack TARGET SERVICE…`: stops with one line unless db, cache and web
# of the project exist (make up created them) and the SERVICEs run; sets DB,
# CACHE and WEB to their container ids.
require_stack () {
  local target=$1 service id
  shift
  for service in db cache web; do
    id=$(service_container "$service")
    if [ -z "$id" ]; then
      echo "make $target needs the stack of project $(compose_project), and it has no $service container: create it with make up." >&2
      exit 1
    fi
    declare -g "${service^^}=$id"
  done
  for service in "$@"; do
    id=${service^^}
    if ! is_running "${!id}"; then
      echo "make $target needs $service of project $(compose_project) running, and it is stopped: start it with make up." >&2
      exit 1
    fi
  done
}

# `db_sh SCRIPT ARGS…`: sh -c SCRIPT inside db, where POSTGRES_USER and
# POSTGRES_DB are set and the local socket needs no password.
db_sh () {
  docker exec -i "$DB" sh -c "$1" sh "${@:2}"
}

# psql -c SQL on the stack's database, unaligned, tuples only.
db_query () {
  db_sh 'exec psql -X -v ON_ERROR_STOP=1 -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$1"' "$1"
}

# redis-cli ARGS… inside cache, authenticated from its secret.
redis_cli () {
  docker exec -i "$CACHE" sh -c 'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" exec redis-cli "$@"' sh "$@"
}

# The Redis database web uses: its REDIS_DB, else the service's default 0.
web_redis_db () {
  local value
  value=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$WEB" | sed -n 's/^REDIS_DB=//p')
  echo "${value:-0}"
}

# `image_sh CONTAINER SCRIPT ARGS…`: sh -c SCRIPT as root in a throwaway
# container of CONTAINER's image, without network, stdin passed on.
image_sh () {
  docker run --rm -i --network none --entrypoint sh "$(docker inspect -f '{{.Image}}' "$1")" -c "$2" sh "${@:3}"
}

# `backup_manifest MODE`: scripts/backup-manifest.mjs with the node of web's image;
# passes on the variables it reads.
backup_manifest () {
  docker run --rm -i --network none -e MODE="$1" \
    -e CREATED -e PROJECT_VERSION -e PROJECT_COMMIT -e PG_VERSION -e PG_TAKEN_AT -e PG_SHA256 -e PG_ROWS -e PG_HIGHEST_ID \
    -e PG_SCHEMA_VERSION -e REDIS_VERSION -e REDIS_TAKEN_AT -e REDIS_SHA256 -e REDIS_DB -e REDIS_VALUES \
    --entrypoint node "$(docker inspect -f '{{.Image}}' "$WEB")" --input-type=module -e "$(cat "$top/scripts/backup-manifest.mjs")"
}

# The highest migration version web's image carries (postgrator's NNN.do.*.sql).
code_schema_version () {
  image_sh "$WEB" 'ls /app/migrations' | sed -n 's/^0*\([0-9][0-9]*\)\.do\..*/\1/p' | sort -n | tail -n 1
}

# sh -c SCRIPT in a throwaway container of db's image: for when db may be stopped.
db_image_sh () {
  image_sh "$DB" "$@"
}

# `dump_facts RUNNER` with a pg_dump custom-format file on stdin: prints "rows
# highest_id schema_version" of what it restores (acessos, and postgrator's
# schemaversion table; 0 where a table is absent), read by pg_restore in db
# (RUNNER db_sh) or in a container of its image (db_image_sh). Fails when
# pg_restore cannot read the file.
dump_facts () {
  "$1" '
    set -eu
    work=$(mktemp -d)
    trap "rm -rf $work" EXIT
    cat > "$work/dump"
    pg_restore --data-only --table=acessos --table=schemaversion -f "$work/data.sql" "$work/dump"
    awk -F "\t" "
      /^COPY public\\.acessos /{table = \"acessos\"; next}
      /^COPY public\\.schemaversion /{table = \"schemaversion\"; next}
      /^\\\\\\.\$/{table = \"\"}
      table == \"acessos\" {rows++; if (\$1 + 0 > highest) highest = \$1 + 0}
      table == \"schemaversion\" {if (\$1 + 0 > schema) schema = \$1 + 0}
      END {print rows + 0, highest + 0, schema + 0}" "$work/data.sql"'
}

# Prints an RDB snapshot written by a BGSAVE of ours, taken in a forked child
# while Redis keeps serving; one already running (another backup's, a save
# point's) is waited for, then ours runs.
redis_snapshot () {
  docker exec "$CACHE" sh -c '
    set -eu
    REDISCLI_AUTH="$(cat /run/secrets/redis_password)"
    export REDISCLI_AUTH
    tries=0
    until [ "$(redis-cli bgsave)" = "Background saving started" ]; do
      tries=$((tries + 1))
      [ "$tries" -lt 600 ] || { echo "Redis would not start a snapshot (BGSAVE) within 120 s" >&2; exit 1; }
      sleep 0.2
    done
    while redis-cli info persistence | grep -q "^rdb_bgsave_in_progress:1"; do sleep 0.1; done
    if ! redis-cli info persistence | grep -q "^rdb_last_bgsave_status:ok"; then
      echo "Redis failed to write its snapshot (rdb_last_bgsave_status is not ok)" >&2
      exit 1
    fi
    exec cat "$(redis-cli config get dir | sed -n 2p)/$(redis-cli config get dbfilename | sed -n 2p)"'
}

# `redis_check DB` with an RDB file on stdin: loads it into a redis-server of
# cache's image in a throwaway container and prints the four keys of database
# DB as redis-cli's JSON array.
redis_check () {
  image_sh "$CACHE" '
    set -eu
    mkdir -p /tmp/load
    cat > /tmp/load/dump.rdb
    redis-server --dir /tmp/load --dbfilename dump.rdb --port 0 --unixsocket /tmp/load.sock \
      --appendonly no --save "" --logfile /tmp/load.log &
    # LOADING is an error reply, and redis-cli exits 0 on those: only PONG counts.
    until redis-cli -s /tmp/load.sock ping 2>/dev/null | grep -q PONG; do
      if ! kill -0 $! 2>/dev/null; then tail -n 5 /tmp/load.log >&2; exit 1; fi
      sleep 0.1
    done
    db=$1
    shift
    exec redis-cli -s /tmp/load.sock --json -n "$db" mget "$@"
  ' "$1" "${REDIS_KEYS[@]}"
}

# One line for a failed backup; the backup's EXIT trap removes what it wrote.
backup_fail () {
  echo "make backup: failed while $1; nothing was kept." >&2
  exit 1
}

# `backup_step WHAT COMMAND…`: runs COMMAND with its output where the caller
# sends it; on failure, one line naming WHAT and the command's last complaint.
backup_step () {
  local what=$1 errors
  shift
  { errors=$("$@" 2>&1 1>&3) || backup_fail "$what: $(tail -n 1 <<< "${errors:-it exited with an error}")"; } 3>&1
}

# make backup's work, once the stack is found (DB, CACHE, WEB set): see
# backup.sh. restore.sh runs it in a subshell for its safety backup.
take_backup () {
  set -euo pipefail
  started=$(date +%s)

  # Written under a hidden name of this process and renamed when complete, so a
  # backup that stopped halfway never looks like one; the next backup removes
  # what a killed one left.
  root=$(backups_dir)
  backup_step "creating $root" mkdir -p "$root"
  for left in "$root"/.partial-*; do
    pid=${left#"$root/.partial-"}
    pid=${pid%%.*}
    if [ -d "$left" ] && ! kill -0 "$pid" 2>/dev/null; then rm -rf "$left"; fi
  done
  partial=$(backup_step "writing in $root" mktemp -d "$root/.partial-$$.XXXXXX")
  trap 'rm -rf "$partial"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)

  # PostgreSQL: pg_dump's client is the server's own. One snapshot covers every
  # table, so the row count table agrees with acessos. The row count, highest id
  # and schema version in the manifest are read back from the dump itself.
  PG_VERSION=$(backup_step "asking PostgreSQL its version" db_query 'SHOW server_version')
  PG_TAKEN_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  backup_step "writing the PostgreSQL dump" db_sh 'exec pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" --format=custom' > "$partial/postgres.dump"
  facts=$(backup_step "reading the PostgreSQL dump back" dump_facts db_sh < "$partial/postgres.dump")
  read -r PG_ROWS PG_HIGHEST_ID PG_SCHEMA_VERSION <<< "$facts"

  # Redis: a snapshot of its own, while Redis keeps serving.
  REDIS_VERSION=$(backup_step "asking Redis its version" redis_cli info server | sed -n 's/^redis_version:\([^\r]*\).*/\1/p')
  REDIS_DB=$(web_redis_db)
  REDIS_TAKEN_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  backup_step "taking the Redis snapshot" redis_snapshot > "$partial/redis.rdb"
  # The keys are read from the copied file itself, loaded into a Redis of its own,
  # so the manifest states what a restore will bring back.
  REDIS_VALUES=$(backup_step "reading the Redis snapshot back" redis_check "$REDIS_DB" < "$partial/redis.rdb")

  PROJECT_VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$top/services/web/package.json")
  PROJECT_COMMIT=$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)
  PG_SHA256=$(sha256sum "$partial/postgres.dump" | cut -d ' ' -f 1)
  REDIS_SHA256=$(sha256sum "$partial/redis.rdb" | cut -d ' ' -f 1)
  export CREATED PROJECT_VERSION PROJECT_COMMIT PG_VERSION PG_TAKEN_AT PG_SHA256 PG_ROWS PG_HIGHEST_ID PG_SCHEMA_VERSION \
    REDIS_VERSION REDIS_TAKEN_AT REDIS_SHA256 REDIS_DB REDIS_VALUES
  backup_step "writing the manifest" backup_manifest write > "$partial/manifest.json"
  backup_step "flushing the backup to disk" sync "$partial"/* "$partial"

  # A second backup within the same second gets a suffix. The rename cannot land
  # on another backup: a directory that is not empty is never replaced.
  name=${CREATED//[-:]/}
  dir="$root/$name"
  n=1
  until [ ! -e "$dir" ] && mv -T "$partial" "$dir" 2>/dev/null; do
    n=$((n + 1))
    [ "$n" -le 100 ] || backup_fail "naming the backup in $root (100 names of this second are taken)"
    dir="$root/$name-$n"
  done
  trap - EXIT
  size=$(du -sh "$dir" | cut -f 1)
  echo "PostgreSQL $PG_VERSION: $PG_ROWS rows in acessos, highest id $PG_HIGHEST_ID, schema version $PG_SCHEMA_VERSION (snapshot at $PG_TAKEN_AT)"
  echo "Redis $REDIS_VERSION: ${REDIS_KEYS[*]} = $REDIS_VALUES (snapshot at $REDIS_TAKEN_AT)"
  echo "Consistency: each snapshot is consistent in itself; they were taken one after the other (PostgreSQL first), not at the same instant."
  echo "backup complete in $(($(date +%s) - started)) s, $size:"
  echo "$dir"
}
