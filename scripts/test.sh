#!/usr/bin/env bash
# make test: static checks and build, then the test suite, against a throwaway
# compose stack when a Docker engine answers, else against local services.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/node.sh"
use_image_node

cd "$top/services/web"
[ -d node_modules ] || npm ci
npm run lint
npm run typecheck
npm run build
npx dclint "$top/compose.yaml" "$top/compose.test.yaml"
if docker compose version >/dev/null 2>&1; then
  "$top/scripts/secrets.sh"
  docker compose -f "$top/compose.yaml" config -q
  docker compose -f "$top/compose.yaml" -f "$top/compose.test.yaml" config -q
fi

if docker_works; then
  project=web-test
  echo "make test: a Docker engine answers: testing against db and cache of compose project $project"
  trap 'compose_for "$project" down -v --remove-orphans' EXIT
  start_dependencies "$project"
else
  export DB_HOST="${DB_HOST:-127.0.0.1}" REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
  echo "make test: no Docker engine: testing against local services" \
    "(PostgreSQL at $DB_HOST:${DB_PORT:-5432}, Redis at $REDIS_HOST:${REDIS_PORT:-6379})"
fi
npm test
