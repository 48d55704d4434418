#!/usr/bin/env bash
# make down/logs/ps/clean: docker compose with its arguments, after the same
# prerequisite check as make up, so a missing Compose v2 gets one clear line
# rather than Docker's usage text.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

require_compose "$1"
cd "$top"
docker compose "$@"
