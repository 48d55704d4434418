#!/usr/bin/env bash
# make restore BACKUP=backups/<timestamp>: replaces the running stack's data with
# a backup that make backup wrote. Nothing is touched until the manifest and
# both checksums are valid; then it takes a safety backup, stops web, restores
# PostgreSQL in one transaction and Redis, and starts web again. On a terminal
# it asks first; without one it needs FORCE=1.
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
require_running_stack restore

[ -f "$backup/manifest.json" ] || refuse "$backup has no manifest.json (not a backup, or an incomplete one)"
if ! facts=$(backup_manifest check < "$backup/manifest.json" 2>&1); then
  refuse "$backup: $facts"
fi
fact () {
  sed -n "s/^$1 //p" <<< "$facts"
}
for file in postgres.dump redis.rdb; do
  [ -f "$backup/$file" ] || refuse "$backup has no $file (an incomplete backup)"
done
if ! (cd "$backup" && fact sha256 | sha256sum --check --strict --quiet >/dev/null 2>&1); then
  refuse "$backup: a file does not match its sha256 in manifest.json (damaged or changed)"
fi
rows=$(fact rows)
highest=$(fact highest_id)
keys=$(fact keys)
redis_db=$(fact redis_db)
# Both files are read by this stack's own servers before anything changes: a
# dump from a newer PostgreSQL or a snapshot from a newer Redis stops here.
if ! db_sh 'pg_restore --list >/dev/null' < "$backup/postgres.dump" 2>/dev/null; then
  refuse "$backup: this stack's PostgreSQL cannot read postgres.dump"
fi
if ! loaded=$(redis_load check "$redis_db" < "$backup/redis.rdb" 2>/dev/null) || [ "$loaded" != "$keys" ]; then
  refuse "$backup: this stack's Redis does not load redis.rdb with the manifest's keys"
fi

summary="backup of $(fact created): $rows rows in acessos (highest id $highest); ${REDIS_KEYS[*]} = $keys"
if [ "${FORCE:-}" != 1 ]; then
  if [ ! -t 0 ]; then
    refuse "this replaces the data of project $(compose_project); without a terminal, confirm with FORCE=1"
  fi
  echo "This replaces all data of project $(compose_project) with the $summary."
  read -r -p "Type yes to go on: " answer
  [ "$answer" = yes ] || refuse "not confirmed"
fi

safety=$("$top/scripts/backup.sh" | tail -n 1)
echo "safety backup of the data being replaced: $safety"

# PostgreSQL, prepared while web still serves: inside db the dump becomes one
# SQL script that replaces the schema public as a whole (tables the backup lacks
# go too, so the service's migrations see exactly the backup's schemaversion),
# drops whatever else the backup creates (--clean) before creating it, and sets
# the id sequence right after the highest id, since pg_dump reads the sequence
# outside its snapshot while web kept inserting.
work=$(db_sh '
  set -eu
  work=$(mktemp -d)
  pg_restore --no-owner --clean --if-exists --file="$work/dump.sql"
  {
    echo "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"
    echo "ALTER SCHEMA public OWNER TO pg_database_owner; GRANT USAGE ON SCHEMA public TO PUBLIC;"
    cat "$work/dump.sql"
    echo "SELECT setval(pg_get_serial_sequence(\$\$public.acessos\$\$, \$\$id\$\$), coalesce(max(id), 0) + 1, false) FROM public.acessos;"
  } > "$work/restore.sql"
  rm "$work/dump.sql"
  echo "$work"
' < "$backup/postgres.dump") || refuse "$backup: db could not turn postgres.dump into SQL"
trap 'db_sh "rm -rf \"\$1\"" "$work"' EXIT

# One node inside web polls /health/ready, as compose's healthcheck asks it,
# without waiting for the healthcheck's interval.
READY='const url = `http://127.0.0.1:${process.env.PORT}/health/ready`
const deadline = Date.now() + 120000
while (!await fetch(url).then((r) => r.ok, () => false)) {
  if (Date.now() > deadline) process.exit(1)
  await new Promise((resolve) => setTimeout(resolve, 100))
}'
start_web () {
  docker start "$WEB" >/dev/null
  if ! docker exec "$WEB" node --input-type=module -e "$READY"; then
    echo "make restore: web was not ready within 120 s after the restore; see make logs." >&2
    exit 1
  fi
}

# From here web is down: nothing writes while the data is replaced. docker stop
# honours the stop_grace_period compose gave the container.
down_since=$(date +%s.%N)
docker stop "$WEB" >/dev/null
# One transaction: any error rolls all of it back.
if ! db_sh 'PGOPTIONS="-c client_min_messages=warning" exec psql -X -q -v ON_ERROR_STOP=1 --single-transaction -U "$POSTGRES_USER" -d "$POSTGRES_DB" -f "$1/restore.sql" >/dev/null' "$work"; then
  start_web
  echo "make restore: PostgreSQL's restore failed and was rolled back, Redis was not touched; web is up again on the data it had. Safety backup: $safety" >&2
  exit 1
fi

# Redis starts from its AOF, so the snapshot becomes a new AOF: with cache
# stopped, a Redis of its own image loads the RDB into cache's volume and
# rewrites the AOF from it (see redis_load).
volume=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/data"}}{{.Name}}{{end}}{{end}}' "$CACHE")
docker stop "$CACHE" >/dev/null
if ! loaded=$(redis_load restore "$redis_db" "$volume" < "$backup/redis.rdb") || [ "$loaded" != "$keys" ]; then
  docker start "$CACHE" >/dev/null
  echo "make restore: PostgreSQL was restored but Redis's restore failed (it loaded ${loaded:-nothing}, the manifest says $keys); web stays stopped. Safety backup of the data before: $safety" >&2
  exit 1
fi
docker start "$CACHE" >/dev/null
start_web
down=$(awk -v from="$down_since" -v to="$(date +%s.%N)" 'BEGIN { printf "%.1f", to - from }')

# What the running services hold now, read back rather than taken from the manifest.
read -r now_rows now_highest <<< "$(db_query 'SELECT count(*), coalesce(max(id), 0) FROM acessos' | tr '|' ' ')"
now_keys=$(redis_cli --json -n "$redis_db" mget "${REDIS_KEYS[@]}")
echo "restored: $now_rows rows in acessos, highest id $now_highest (next id $((now_highest + 1))); ${REDIS_KEYS[*]} = $now_keys; web was down for $down s"
if [ "$now_rows $now_highest $now_keys" != "$rows $highest $keys" ]; then
  echo "make restore: the stack now holds something else than the $summary. Safety backup of the data before: $safety" >&2
  exit 1
fi
