#!/usr/bin/env bash
# make restore BACKUP=backups/<timestamp>: replaces the stack's data with a
# backup that make backup wrote, on a stack that may be serving, or stopped
# halfway by an earlier restore.
#  1. Checks, changing nothing: the backup's files are copied into a private
#     folder, and only that copy is checked and used.
#  2. Prepares beside the live data, while web still serves: the SQL that
#     replaces the database, and Redis's new AOF, loaded back and checked.
#  3. Stops web, so nothing writes; then takes the safety backup, which holds
#     every write web acknowledged.
#  4. Replaces PostgreSQL in one transaction that checks its rows before it
#     commits, then swaps Redis's new AOF in, and reads both back.
#  5. Starts web only when both equal the manifest.
# A failure or an interruption after web stops ends with one line saying what
# db, cache and web hold, and the command back to the data from before.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/backup-lib.sh"

# One line, and nothing has been changed.
refuse () {
  echo "make restore: refused, nothing was changed: $1" >&2
  exit 1
}

require_compose restore
backup=${1:-}
[ -n "$backup" ] || refuse "say which backup: make restore BACKUP=backups/<timestamp>"
[ -d "$backup" ] || refuse "$backup is not a directory"
backup=$(cd "$backup" && pwd)
cd "$top"
require_stack restore
project=$(compose_project)
exec 9> "${TMPDIR:-/tmp}/make-restore-$project.lock"
flock -n 9 || refuse "another make restore is running on project $project"

# finish reports on these: a signal's trap can run while a command's output
# is redirected.
exec 7>&1 8>&2

# What this restore creates outside itself is named after its process, so that a
# later restore finds what a killed one left: the private copy, containers, the
# SQL file in db and the psql session running it.
tag=make-restore-$$
copy=$(mktemp -d "${TMPDIR:-/tmp}/$tag.XXXXXX")
stage=checking
safety=
reason=
signal=
cleanup () {
  rm -rf "$copy"
  docker rm -f "$tag-stage" >/dev/null 2>&1 || true
  docker wait "$tag-swap" >/dev/null 2>&1 || true
  if is_running "$DB"; then db_sh 'rm -rf "/tmp/$1"' "$tag" 2>/dev/null || true; fi
}
trap cleanup EXIT

# 1. Checks.
for file in manifest.json postgres.dump redis.rdb; do
  if [ ! -f "$backup/$file" ]; then
    [ "$file" = manifest.json ] && refuse "$backup has no manifest.json (not a backup, or an incomplete one)"
    refuse "$backup has no $file (an incomplete backup)"
  fi
  cp "$backup/$file" "$copy/" 2>/dev/null || refuse "$backup/$file cannot be read"
done
if ! facts=$(backup_manifest check < "$copy/manifest.json" 2>&1); then
  refuse "$backup: $facts"
fi
# `fact NAME [FACTS]`: one fact of the backup's manifest, or of FACTS.
fact () {
  sed -n "s/^$1 //p" <<< "${2:-$facts}"
}
if ! (cd "$copy" && fact sha256 | sha256sum --check --strict --quiet >/dev/null 2>&1); then
  refuse "$backup: a file does not match its sha256 in manifest.json (damaged or changed)"
fi
rows=$(fact rows)
highest=$(fact highest_id)
keys=$(fact keys)
redis_db=$(fact redis_db)
# Both files are read by this stack's own images before anything changes: a
# dump from a newer PostgreSQL or a snapshot from a newer Redis stops here.
if ! dump=$(dump_facts db_image_sh < "$copy/postgres.dump" 2>/dev/null); then
  refuse "$backup: this stack's PostgreSQL cannot read postgres.dump"
fi
schema=$(fact schema_version)
[ "$schema" != unknown ] || schema=${dump##* }
code_schema=$(code_schema_version)
if [ "$schema" -gt "$code_schema" ]; then
  refuse "$backup has schema version $schema and web's migrations go up to $code_schema: restore it with the newer code (git pull, make up)"
fi
web_db=$(web_redis_db)
if [ "$redis_db" != "$web_db" ] && [ "${REDIS_DB_MOVE:-}" != 1 ]; then
  refuse "$backup holds Redis database $redis_db and web reads database $web_db: to restore the backup's database $redis_db into $web_db, add REDIS_DB_MOVE=1"
fi
if ! loaded=$(redis_check "$redis_db" < "$copy/redis.rdb" 2>/dev/null) || [ "$loaded" != "$keys" ]; then
  refuse "$backup: this stack's Redis does not load redis.rdb with the manifest's keys"
fi

summary="backup of $(fact created): $rows rows in acessos (highest id $highest); ${REDIS_KEYS[*]} = $keys"
if [ "${FORCE:-}" != 1 ]; then
  if [ ! -t 0 ]; then
    refuse "this replaces the data of project $project; without a terminal, confirm with FORCE=1"
  fi
  echo "This replaces all data of project $project with the $summary."
  read -r -p "Type yes to go on: " answer
  [ "$answer" = yes ] || refuse "not confirmed"
fi
[ "$redis_db" = "$web_db" ] || echo "make restore: the backup's Redis database $redis_db goes into web's database $web_db, as REDIS_DB_MOVE=1 asks."

# `enter STAGE`: says which stage the restore is in, on its output and in its
# failure lines.
enter () {
  stage=$1
  echo "make restore: $stage"
}

# `fail REASON`: ends the restore; finish says what the stack holds.
fail () {
  reason=$1
  exit 1
}

# `wait_for WHAT COMMAND…`: runs COMMAND until it succeeds, for at most 120 s.
wait_for () {
  local what=$1 deadline=$((SECONDS + 120))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what did not answer within 120 s (see make logs)"
    sleep 0.1
  done
}
db_ready () { db_sh 'exec pg_isready -q -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"'; }
cache_ready () { redis_cli ping | grep -q PONG; }
# One node inside web polls /health/ready, as compose's healthcheck asks it,
# without waiting for the healthcheck's interval.
web_ready () {
  docker exec "$WEB" node --input-type=module -e 'const url = `http://127.0.0.1:${process.env.PORT}/health/ready`
const deadline = Date.now() + 120000
while (!await fetch(url).then((r) => r.ok, () => false)) {
  if (Date.now() > deadline) process.exit(1)
  await new Promise((resolve) => setTimeout(resolve, 100))
}'
}

# `start SERVICE`: starts it if it is stopped (an earlier restore may have
# stopped it), and waits until it answers.
start () {
  local id=${1^^}
  if ! is_running "${!id}"; then
    echo "make restore: starting $1"
    docker start "${!id}" >/dev/null
  fi
  wait_for "$1" "$1_ready"
}

# What the running services hold, read back: "rows highest_id" and the four
# keys of web's database.
db_now () { db_query 'SELECT count(*), coalesce(max(id), 0) FROM acessos' | tr '|' ' '; }
cache_now () { redis_cli --json -n "$web_db" mget "${REDIS_KEYS[@]}"; }

# `holds SERVICE NOW BACKUPS NOW_BEFORE`: what SERVICE holds, in words.
holds () {
  if [ "$2" = "$3" ] && [ "$2" = "$4" ]; then echo "$1 holds the backup's data, the same as before"
  elif [ "$2" = "$3" ]; then echo "$1 holds the backup's data"
  elif [ "$2" = "$4" ]; then echo "$1 holds the data from before"
  else echo "$1 holds neither the backup's data nor the data from before"; fi
}

# On any exit: removes what this restore made; after a failure once web was
# stopped, one line with what db, cache and web hold, and the way back. web
# starts again by itself only after a failure that left the data as it was,
# never after an interruption.
finish () {
  local status=$1 before db_state cache_state web_state
  trap - EXIT INT TERM
  set +e
  exec 1>&7 2>&8
  if [ "$status" -eq 0 ] || [ "$stage" = checking ] || [ "${stage#preparing}" != "$stage" ]; then
    cleanup
    [ "$status" -eq 0 ] || [ -z "$reason$signal" ] ||
      echo "make restore: ${signal:+interrupted by $signal }${reason:+$reason }while $stage; nothing was changed, web serves as before." >&2
    exit "$status"
  fi
  # A killed docker exec leaves its psql running in db: ended here, so what is
  # read below is what stays.
  if is_running "$DB"; then
    db_query "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$tag'" >/dev/null 2>&1
  fi
  cleanup
  echo "make restore: ${signal:+interrupted by $signal }${reason:-failed (exit $status)} while $stage." >&2
  if [ -z "$safety" ]; then
    [ -n "$signal" ] || docker start "$WEB" >/dev/null 2>&1
    if is_running "$WEB"; then
      echo "make restore: now the data is unchanged (no safety backup was needed yet) and web is running." >&2
    else
      echo "make restore: now the data is unchanged (no safety backup was needed yet) and web is stopped; make up starts it again." >&2
    fi
    exit "$status"
  fi
  before=$(backup_manifest check < "$safety/manifest.json")
  db_state="db is stopped"
  if is_running "$DB"; then
    db_state=$(holds db "$(db_now)" "$rows $highest" "$(fact rows "$before") $(fact highest_id "$before")")
  fi
  cache_state="cache is stopped"
  if is_running "$CACHE"; then cache_state=$(holds cache "$(cache_now)" "$keys" "$(fact keys "$before")"); fi
  if [ -z "$signal" ] && [ "$db_state" = "db holds the data from before" ] && [ "$cache_state" = "cache holds the data from before" ]; then
    docker start "$WEB" >/dev/null 2>&1
  fi
  web_state="web is stopped"
  is_running "$WEB" && web_state="web is running"
  echo "make restore: now $db_state, $cache_state, $web_state." >&2
  echo "make restore: to bring back the data as it was before: make restore BACKUP=$safety" >&2
  exit "$status"
}
trap 'finish $?' EXIT
trap 'signal=SIGINT; exit 130' INT
trap 'signal=SIGTERM; exit 143' TERM

# 2. Prepares, while web still serves.
enter "preparing the new data beside the live data (web still serves)"
start db
start cache
# What a killed restore left: its psql session and SQL file in db, its
# containers, its private copy.
orphan () {
  local pid=${1#make-restore-}
  pid=${pid%%[-.]*}
  [ "$pid" != $$ ] && ! kill -0 "$pid" 2>/dev/null
}
for left in $(db_query "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE 'make-restore-%'") \
    $(db_sh 'cd /tmp && ls -d make-restore-* 2>/dev/null || true'); do
  if orphan "$left"; then
    db_query "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '$left'" >/dev/null
    db_sh 'rm -rf "/tmp/$1"' "$left"
  fi
done
for left in $(docker ps -a --filter "label=make-restore=$project" --format '{{.Names}}'); do
  if orphan "$left"; then docker rm -f "$left" >/dev/null; fi
done
for left in "${TMPDIR:-/tmp}"/make-restore-*.*; do
  if [ -d "$left" ] && orphan "${left##*/}"; then rm -rf "$left"; fi
done

# PostgreSQL: inside db the dump becomes one SQL script that replaces the schema
# public as a whole (tables the backup lacks go too, so the service's migrations
# see exactly the backup's schemaversion), drops whatever else the backup
# creates (--clean) before creating it, sets the id sequence right after the
# highest id (pg_dump reads the sequence outside its snapshot while web kept
# inserting), and rolls back unless acessos then holds the manifest's rows.
db_sh '
  set -eu
  mkdir "/tmp/$1"
  pg_restore --no-owner --clean --if-exists --file="/tmp/$1/dump.sql"
  {
    echo "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"
    echo "ALTER SCHEMA public OWNER TO pg_database_owner; GRANT USAGE ON SCHEMA public TO PUBLIC;"
    cat "/tmp/$1/dump.sql"
    echo "SELECT setval(pg_get_serial_sequence(\$\$public.acessos\$\$, \$\$id\$\$), coalesce(max(id), 0) + 1, false) FROM public.acessos;"
    echo "DO \$check\$ BEGIN IF (SELECT count(*) FROM public.acessos) <> $2 OR (SELECT coalesce(max(id), 0) FROM public.acessos) <> $3 THEN"
    echo "  RAISE EXCEPTION \$\$acessos does not hold the manifest rows after the restore\$\$; END IF; END \$check\$;"
  } > "/tmp/$1/restore.sql"
  rm "/tmp/$1/dump.sql"
' "$tag" "$rows" "$highest" < "$copy/postgres.dump" || fail "db could not turn postgres.dump into SQL"

# Redis starts from its AOF. In a staging folder of cache's volume, a Redis of
# cache's image loads the snapshot (moving the backup's database into web's if
# asked) and writes a new AOF from it; a second one loads that AOF alone and
# reads the keys back. The live AOF is not touched.
volume=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/data"}}{{.Name}}{{end}}{{end}}' "$CACHE")
cache_image=$(docker inspect -f '{{.Image}}' "$CACHE")
staged=$(docker run --rm -i --name "$tag-stage" --label "make-restore=$project" --network none -v "$volume:/data" \
    --entrypoint sh "$cache_image" -c '
  set -eu
  from=$1 to=$2
  shift 2
  staging=/data/.make-restore
  rm -rf "$staging"
  mkdir -p "$staging/new"
  cat > "$staging/new/dump.rdb"
  cli () { redis-cli -s /tmp/stage.sock "$@"; }
  serve () {
    redis-server --dir "$staging/new" --port 0 --unixsocket /tmp/stage.sock --save "" --logfile /tmp/stage.log "$@" &
    # LOADING is an error reply, and redis-cli exits 0 on those: only PONG counts.
    until cli ping 2>/dev/null | grep -q PONG; do
      if ! kill -0 $! 2>/dev/null; then tail -n 5 /tmp/stage.log >&2; exit 1; fi
      sleep 0.1
    done
  }
  stop () { cli shutdown nosave >/dev/null 2>&1 || true; while cli ping >/dev/null 2>&1; do sleep 0.1; done; }
  serve --dbfilename dump.rdb --appendonly no
  [ "$from" = "$to" ] || cli swapdb "$from" "$to" >/dev/null
  cli config set appendonly yes >/dev/null
  until cli info persistence | grep -q "^aof_rewrite_in_progress:0" && cli info persistence | grep -q "^aof_rewrite_scheduled:0"; do
    sleep 0.1
  done
  cli info persistence | grep -q "^aof_last_bgrewrite_status:ok" || { tail -n 5 /tmp/stage.log >&2; exit 1; }
  stop
  rm "$staging/new/dump.rdb"
  serve --appendonly yes
  cli --json -n "$to" mget "$@"
  stop
' sh "$redis_db" "$web_db" "${REDIS_KEYS[@]}" < "$copy/redis.rdb") || fail "Redis's new AOF could not be built from redis.rdb"
[ "$staged" = "$keys" ] || fail "Redis's new AOF holds $staged, the manifest says $keys"

# 3. From here web is down: nothing writes while the data is replaced. docker
# stop honours the stop_grace_period compose gave the container.
enter "stopping web"
echo "make restore: until a safety backup is named below, the data is unchanged and make up starts web again."
down_since=$(date +%s.%N)
docker stop "$WEB" >/dev/null
enter "taking the safety backup"
safety_output=$(take_backup) || fail "make backup failed"
safety=$(tail -n 1 <<< "$safety_output")
echo "safety backup of the data being replaced: $safety"
echo "make restore: should this restore stop before it says restored, this brings that data back: make restore BACKUP=$safety"

# 4. PostgreSQL in one transaction: any error, or rows other than the
# manifest's, rolls all of it back.
enter "restoring PostgreSQL"
db_sh 'PGAPPNAME="$1" PGOPTIONS="-c client_min_messages=warning" exec psql -X -q -v ON_ERROR_STOP=1 --single-transaction \
    -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f "/tmp/$1/restore.sql" >/dev/null' "$tag" ||
  fail "PostgreSQL's restore failed and was rolled back"

# Redis: with cache stopped, the live AOF moves aside into the staging folder
# and the new one takes its place; cache then starts from it.
enter "restoring Redis"
docker stop "$CACHE" >/dev/null
docker run --rm --name "$tag-swap" --label "make-restore=$project" --network none --sig-proxy=false -v "$volume:/data" \
    --entrypoint sh "$cache_image" -c '
  set -eu
  staging=/data/.make-restore
  [ -f "$staging/new/appendonlydir/appendonly.aof.manifest" ]
  rm -rf "$staging/before"
  mkdir "$staging/before"
  for old in appendonlydir appendonly.aof dump.rdb; do
    if [ -e "/data/$old" ]; then mv "/data/$old" "$staging/before/"; fi
  done
  mv "$staging/new/appendonlydir" /data/appendonlydir
' || fail "Redis's new AOF could not be put in place"
start cache

enter "reading the restored data back"
now_db=$(db_now)
now_keys=$(cache_now)
[ "$now_db" = "$rows $highest" ] || fail "PostgreSQL holds rows and highest id $now_db, the manifest says $rows $highest"
[ "$now_keys" = "$keys" ] || fail "Redis holds $now_keys, the manifest says $keys"

# 5. The data is the backup's: the restore has succeeded, whatever web serves next.
stage="starting web"
start web
down=$(awk -v from="$down_since" -v to="$(date +%s.%N)" 'BEGIN { printf "%.1f", to - from }')
docker exec "$CACHE" rm -rf /data/.make-restore || true
echo "restored: $rows rows in acessos, highest id $highest (next id $((highest + 1))); ${REDIS_KEYS[*]} = $keys; web was down for $down s"
