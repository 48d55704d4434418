#!/usr/bin/env bash
# make test: static checks (shellcheck too) and build, then the test suite against a throwaway
# compose project's db and cache when Docker with Compose v2 answers, else against
# local services. The end-to-end suite over the whole stack is make e2e.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/node.sh"
use_image_node

cd "$top/services/web"
[ -d node_modules ] || npm ci
# The static checks and the build run while db and cache start; each is waited
# for, and any failure stops the run.
npm run lint &
lint=$!
npm run typecheck &
typecheck=$!
npm run build &
build=$!
"$top/scripts/shellcheck.sh" &
shellcheck=$!
npx dclint "$top/compose.yaml" "$top/compose.test.yaml"

missing=$(compose_missing)
if [ -z "$missing" ]; then
  # Named after this run, so that runs never share one, and one a killed run
  # left behind is recognised as nobody's and removed.
  drop_orphan_projects web-test
  project=web-test-$$
  echo "make test: Docker with Compose v2 answers: testing against db and cache of compose project $project"
  # Secrets of its own: the user's secrets/ belong to their stack's volumes.
  SECRETS_DIR=$(mktemp -d)
  export SECRETS_DIR
  trap 'compose_for "$project" down -v --remove-orphans; rm -rf "$SECRETS_DIR"' EXIT
  start_dependencies "$project"
  docker compose -f "$top/compose.yaml" config -q
  docker compose -f "$top/compose.yaml" -f "$top/compose.test.yaml" config -q
else
  export DB_HOST="${DB_HOST:-127.0.0.1}" REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
  echo "make test: testing against local services" \
    "(PostgreSQL at $DB_HOST:${DB_PORT:-5432}, Redis at $REDIS_HOST:${REDIS_PORT:-6379}), because $missing"
fi
wait "$lint"
wait "$typecheck"
wait "$build"
wait "$shellcheck"
echo "make test: Node $(node --version)"
# Built above: --ignore-scripts skips the pretest build, not the test script.
npm test --ignore-scripts
