#!/usr/bin/env bash
# make dev: the service from source in watch mode, against the db and cache of
# compose project web-dev when Docker with Compose v2 answers (their data is kept
# between runs), else against local services, saying why. Setting DB_HOST or
# REDIS_HOST picks local services even when Docker is there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/node.sh"
use_image_node

cd "$top/services/web"
[ -d node_modules ] || npm ci
missing=$(compose_missing)
if [ -n "${DB_HOST:-}${REDIS_HOST:-}" ]; then
  missing="DB_HOST or REDIS_HOST is set"
fi
if [ -z "$missing" ]; then
  project=web-dev
  echo "make dev: using db and cache of compose project $project (stopped on exit, data kept)"
  # Secrets of its own, kept with its volumes: the user's secrets/ belong to their stack.
  export SECRETS_DIR="$top/.cache/web-dev/secrets"
  trap 'compose_for "$project" stop db cache' EXIT
  start_dependencies "$project"
else
  export DB_HOST="${DB_HOST:-127.0.0.1}" REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
  echo "make dev: using local services" \
    "(PostgreSQL at $DB_HOST:${DB_PORT:-5432}, Redis at $REDIS_HOST:${REDIS_PORT:-6379}), because $missing"
fi
npm run dev
