#!/usr/bin/env bash
# Entry point of `make bench`: makes sure the service is built, the local
# PostgreSQL and Redis answer and the bench's own dependencies are installed,
# then runs the orchestrator. Settings come from the environment (see README.md).
set -euo pipefail

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$bench_dir")
web="$root/services/web"

# Build the service when dist/ is missing or older than any source or config
# file, so the numbers are never those of a stale build.
if [ ! -f "$web/dist/server.js" ] ||
   [ -n "$(find "$web/src" "$web/tsconfig.json" "$web/tsconfig.build.json" -newer "$web/dist/server.js" -print -quit)" ]; then
  echo "[bench] building services/web" >&2
  if [ ! -d "$web/node_modules" ]; then (cd "$web" && npm ci --no-audit --no-fund); fi
  (cd "$web" && npm run build --silent)
fi

# The local services, started if they are not answering (shared/ sits beside the
# repo on the developers' machines and in CI).
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  services="$root/../shared/services.sh"
  if [ -x "$services" ] || [ -f "$services" ]; then
    bash "$services" >&2
  else
    echo "[bench] PostgreSQL (127.0.0.1:5432) or Redis (127.0.0.1:6379) is not answering; start them first" >&2
    exit 1
  fi
fi

# npm writes node_modules/.package-lock.json last: missing or older than the lock
# file means the install is missing or out of date.
if [ ! -f "$bench_dir/node_modules/.package-lock.json" ] ||
   [ "$bench_dir/package-lock.json" -nt "$bench_dir/node_modules/.package-lock.json" ]; then
  (cd "$bench_dir" && npm ci --no-audit --no-fund)
fi

# exec: signals (Ctrl-C, make being stopped) reach the orchestrator, which cleans up.
exec node "$bench_dir/bench.mjs"
