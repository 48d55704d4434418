#!/usr/bin/env bash
# `scripts/compose.sh TARGET ARGS…`, behind make down/logs/ps/clean/psql/redis-cli:
# docker compose with ARGS, after the same prerequisite check as make up, so a
# missing Compose v2 gets one clear line naming `make TARGET` rather than
# Docker's usage text.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_compose "$1"
shift
cd "$top"
docker compose "$@"
