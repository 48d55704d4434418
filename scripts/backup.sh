#!/usr/bin/env bash
# make backup: copies the running stack's data into BACKUPS_DIR/<UTC timestamp>/
# (backups/ unless set) while web keeps serving: a pg_dump of the database, an
# RDB snapshot taken by Redis itself, and manifest.json describing both. The two
# are taken one after the other, so a request between them can be in one and not
# in the other. The last line of output is the backup's directory.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/backup-lib.sh"

require_compose backup
cd "$top"
require_running_stack backup
started=$(date +%s)

root=$(backups_dir)
mkdir -p "$root"
CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# Written under a hidden name and renamed when complete, so a backup that
# stopped halfway never looks like one. A second backup within the same second
# gets a suffix.
name=${CREATED//[-:]/}
n=1
while [ -e "$root/$name" ] || ! mkdir "$root/.$name.partial" 2>/dev/null; do
  n=$((n + 1))
  name="${CREATED//[-:]/}-$n"
done
partial="$root/.$name.partial"
trap 'rm -rf "$partial"' EXIT

# PostgreSQL: pg_dump's client is the server's own. One snapshot covers every
# table, so the row count table agrees with acessos. The count and highest id
# in the manifest are read back from the dump itself.
PG_VERSION=$(db_query 'SHOW server_version')
PG_TAKEN_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
db_sh 'exec pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" --format=custom' > "$partial/postgres.dump"
read -r PG_ROWS PG_HIGHEST_ID < <(db_sh 'pg_restore --data-only --table=acessos -f - | awk -F "\t" "
  /^COPY /{copying = 1; next}
  /^\\\\\\.\$/{copying = 0}
  copying {rows++; if (\$1 > highest) highest = \$1}
  END {print rows + 0, highest + 0}"' < "$partial/postgres.dump")

# Redis: BGSAVE writes the snapshot in a forked child while Redis keeps
# serving; one already running (a save point's) is waited for, then ours runs.
REDIS_VERSION=$(redis_cli info server | sed -n 's/^redis_version:\([^\r]*\).*/\1/p')
REDIS_DB=$(web_redis_db)
REDIS_TAKEN_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
bgsave_in_progress () {
  redis_cli info persistence | grep -q '^rdb_bgsave_in_progress:1'
}
tries=0
until [ "$(redis_cli bgsave)" = 'Background saving started' ]; do
  tries=$((tries + 1))
  if [ "$tries" -ge 120 ]; then
    echo "make backup: Redis would not start a snapshot (BGSAVE) within 120 s; see make logs." >&2
    exit 1
  fi
  sleep 1
done
while bgsave_in_progress; do sleep 0.2; done
if ! redis_cli info persistence | grep -q '^rdb_last_bgsave_status:ok'; then
  echo "make backup: Redis failed to write its snapshot (rdb_last_bgsave_status is not ok); see make logs." >&2
  exit 1
fi
rdb="$(redis_cli config get dir | sed -n 2p)/$(redis_cli config get dbfilename | sed -n 2p)"
docker exec "$CACHE" cat "$rdb" > "$partial/redis.rdb"
# The keys are read from the copied file itself, loaded into a Redis of its own,
# so the manifest states what a restore will bring back.
REDIS_VALUES=$(redis_load check "$REDIS_DB" < "$partial/redis.rdb")

PROJECT_VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$top/services/web/package.json")
PROJECT_COMMIT=$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)
PG_SHA256=$(sha256sum "$partial/postgres.dump" | cut -d ' ' -f 1)
REDIS_SHA256=$(sha256sum "$partial/redis.rdb" | cut -d ' ' -f 1)
export CREATED PROJECT_VERSION PROJECT_COMMIT PG_VERSION PG_TAKEN_AT PG_SHA256 PG_ROWS PG_HIGHEST_ID \
  REDIS_VERSION REDIS_TAKEN_AT REDIS_SHA256 REDIS_DB REDIS_VALUES
backup_manifest write > "$partial/manifest.json"

dir="$root/$name"
mv -T "$partial" "$dir"
trap - EXIT
size=$(du -sh "$dir" | cut -f 1)
echo "PostgreSQL $PG_VERSION: $PG_ROWS rows in acessos, highest id $PG_HIGHEST_ID (snapshot at $PG_TAKEN_AT)"
echo "Redis $REDIS_VERSION: ${REDIS_KEYS[*]} = $REDIS_VALUES (snapshot at $REDIS_TAKEN_AT)"
echo "Consistency: each snapshot is consistent in itself; they were taken one after the other (PostgreSQL first), not at the same instant."
echo "backup complete in $(($(date +%s) - started)) s, $size:"
echo "$dir"
