#!/usr/bin/env bash
# `scripts/up.sh TARGET [COMPOSE OPTIONS…]`, behind make up and make monitoring:
# checks the prerequisites, creates missing secrets, builds and starts the stack
# (with the given options, e.g. a profile) and waits until every service is healthy.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_compose "$1"
shift
"$top/scripts/secrets.sh"
cd "$top"
docker compose "$@" up -d --build --wait
port=$(docker compose port web 5000 | sed 's/.*://')
echo "web is up at http://localhost:$port"
echo "try: curl -s http://localhost:$port/integracao"
