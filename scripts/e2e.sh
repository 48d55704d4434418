#!/usr/bin/env bash
# make e2e: the end-to-end suite over the whole compose stack (web built from its
# Dockerfile), each test file on a throwaway compose project of its own that it
# removes with its volumes; the user's desafio3 project is never touched.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/node.sh"

require_compose e2e
use_image_node
cd "$top/services/web"
[ -d node_modules ] || npm ci
npm run test:e2e
