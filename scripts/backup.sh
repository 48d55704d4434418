#!/usr/bin/env bash
# make backup: copies the stack's data into BACKUPS_DIR/<UTC timestamp>/
# (backups/ unless set) while web keeps serving: a pg_dump of the database, an
# RDB snapshot taken by Redis itself, and manifest.json describing both. The two
# are taken one after the other, so a request between them can be in one and not
# in the other. It needs db and cache running, not web. The last line of output
# is the backup's directory; any failure is one line, and nothing is kept.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/backup-lib.sh"

fail () {
  echo "make backup: failed while $1; nothing was kept." >&2
  exit 1
}

# `step WHAT COMMAND…`: runs COMMAND with its output where the caller sends it;
# on failure, one line naming WHAT and the command's last complaint.
step () {
  local what=$1 errors
  shift
  { errors=$("$@" 2>&1 1>&3) || fail "$what: $(tail -n 1 <<< "${errors:-it exited with an error}")"; } 3>&1
}

require_compose backup
cd "$top"
require_stack backup db cache
started=$(date +%s)

# Written under a hidden name of this process and renamed when complete, so a
# backup that stopped halfway never looks like one; the next backup removes
# what a killed one left.
root=$(backups_dir)
step "creating $root" mkdir -p "$root"
for left in "$root"/.partial-*; do
  pid=${left#"$root/.partial-"}
  pid=${pid%%.*}
  if [ -d "$left" ] && ! kill -0 "$pid" 2>/dev/null; then rm -rf "$left"; fi
done
partial=$(step "writing in $root" mktemp -d "$root/.partial-$$.XXXXXX")
trap 'rm -rf "$partial"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# PostgreSQL: pg_dump's client is the server's own. One snapshot covers every
# table, so the row count table agrees with acessos. The row count, highest id
# and schema version in the manifest are read back from the dump itself.
PG_VERSION=$(step "asking PostgreSQL its version" db_query 'SHOW server_version')
PG_TAKEN_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
step "writing the PostgreSQL dump" db_sh 'exec pg_dump -U "$POSTGRES_USER" -d "$POSTGRES_DB" --format=custom' > "$partial/postgres.dump"
facts=$(step "reading the PostgreSQL dump back" dump_facts db_sh < "$partial/postgres.dump")
read -r PG_ROWS PG_HIGHEST_ID PG_SCHEMA_VERSION <<< "$facts"

# Redis: a snapshot of its own, while Redis keeps serving.
REDIS_VERSION=$(step "asking Redis its version" redis_cli info server | sed -n 's/^redis_version:\([^\r]*\).*/\1/p')
REDIS_DB=$(web_redis_db)
REDIS_TAKEN_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
step "taking the Redis snapshot" redis_snapshot > "$partial/redis.rdb"
# The keys are read from the copied file itself, loaded into a Redis of its own,
# so the manifest states what a restore will bring back.
REDIS_VALUES=$(step "reading the Redis snapshot back" redis_check "$REDIS_DB" < "$partial/redis.rdb")

PROJECT_VERSION=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$top/services/web/package.json")
PROJECT_COMMIT=$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)
PG_SHA256=$(sha256sum "$partial/postgres.dump" | cut -d ' ' -f 1)
REDIS_SHA256=$(sha256sum "$partial/redis.rdb" | cut -d ' ' -f 1)
export CREATED PROJECT_VERSION PROJECT_COMMIT PG_VERSION PG_TAKEN_AT PG_SHA256 PG_ROWS PG_HIGHEST_ID PG_SCHEMA_VERSION \
  REDIS_VERSION REDIS_TAKEN_AT REDIS_SHA256 REDIS_DB REDIS_VALUES
step "writing the manifest" backup_manifest write > "$partial/manifest.json"
step "flushing the backup to disk" sync "$partial"/* "$partial"

# A second backup within the same second gets a suffix. The rename cannot land
# on another backup: a directory that is not empty is never replaced.
name=${CREATED//[-:]/}
dir="$root/$name"
n=1
until [ ! -e "$dir" ] && mv -T "$partial" "$dir" 2>/dev/null; do
  n=$((n + 1))
  [ "$n" -le 100 ] || fail "naming the backup in $root (100 names of this second are taken)"
  dir="$root/$name-$n"
done
trap - EXIT
size=$(du -sh "$dir" | cut -f 1)
echo "PostgreSQL $PG_VERSION: $PG_ROWS rows in acessos, highest id $PG_HIGHEST_ID, schema version $PG_SCHEMA_VERSION (snapshot at $PG_TAKEN_AT)"
echo "Redis $REDIS_VERSION: ${REDIS_KEYS[*]} = $REDIS_VALUES (snapshot at $REDIS_TAKEN_AT)"
echo "Consistency: each snapshot is consistent in itself; they were taken one after the other (PostgreSQL first), not at the same instant."
echo "backup complete in $(($(date +%s) - started)) s, $size:"
echo "$dir"
