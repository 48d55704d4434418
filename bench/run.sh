#!/usr/bin/env bash
# Entry point of `make bench`: runs on the Node major the image ships, makes sure
# wrk is installed, the service is built, PostgreSQL and Redis answer and the
# bench's own dependencies are installed, then runs the orchestrator. Settings
# come from the environment (see README.md).
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$bench_dir")
web="$root/services/web"

# The servers are spawned with the orchestrator's own node: measure what ships.
# shellcheck source=../scripts/node.sh
. "$root/scripts/node.sh"
use_image_node
echo "[bench] Node $(node --version)" >&2

# wrk is the load generator (a Debian package); install it when missing.
if ! command -v wrk >/dev/null; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  if command -v apt-get >/dev/null; then
    echo "[bench] wrk is missing: installing it with apt-get (Debian package wrk)" >&2
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq wrk >&2
  else
    echo "[bench] wrk is missing and there is no apt-get here: install wrk (https://github.com/wg/wrk) and run again" >&2
    exit 1
  fi
fi

# Build the service when dist/ is missing or older than any source or config
# file, so the numbers are never those of a stale build.
if [ ! -f "$web/dist/server.js" ] ||
   [ -n "$(find "$web/src" "$web/tsconfig.json" "$web/tsconfig.build.json" -newer "$web/dist/server.js" -print -quit)" ]; then
  echo "[bench] building services/web" >&2
  if [ ! -d "$web/node_modules" ]; then (cd "$web" && npm ci --no-audit --no-fund); fi
  (cd "$web" && npm run build --silent)
fi

# PostgreSQL and Redis must already answer; the bench does not start them.
db_host=${DB_HOST:-127.0.0.1} db_port=${DB_PORT:-5432}
redis_host=${REDIS_HOST:-127.0.0.1} redis_port=${REDIS_PORT:-6379}
for address in "$db_host:$db_port PostgreSQL" "$redis_host:$redis_port Redis"; do
  read -r hostport name <<<"$address"
  if ! (exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null; then
    echo "[bench] $name is not answering on $hostport: start it first, or point the bench at" \
      "a running one with DB_HOST/DB_PORT/DB_USER/DB_PASSWORD or REDIS_HOST/REDIS_PORT/REDIS_PASSWORD" >&2
    exit 1
  fi
done

# npm writes node_modules/.package-lock.json last: missing or older than the lock
# file means the install is missing or out of date.
if [ ! -f "$bench_dir/node_modules/.package-lock.json" ] ||
   [ "$bench_dir/package-lock.json" -nt "$bench_dir/node_modules/.package-lock.json" ]; then
  (cd "$bench_dir" && npm ci --no-audit --no-fund >&2)
fi

# exec: signals (Ctrl-C, make being stopped) reach the orchestrator, which cleans up.
exec node "$bench_dir/bench.mjs"
