#!/usr/bin/env bash
# make up: checks the prerequisites, creates missing secrets, builds and starts
# the stack and waits until every service is healthy.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_compose up
"$top/scripts/secrets.sh"
cd "$top"
docker compose up -d --build --wait
port=$(docker compose port web 5000 | sed 's/.*://')
echo "web is up at http://localhost:$port"
echo "try: curl -s http://localhost:$port/integracao"
