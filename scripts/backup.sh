#!/usr/bin/env bash
# make backup: copies the stack's data into BACKUPS_DIR/<UTC timestamp>/
# (backups/ unless set) while web keeps serving: a pg_dump of the database, an
# RDB snapshot taken by Redis itself, and manifest.json describing both. The two
# are taken one after the other, so a request between them can be in one and not
# in the other. It needs db and cache running, not web. The last line of output
# is the backup's directory; any failure is one line, and nothing is kept.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/backup-lib.sh"

require_compose backup
cd "$top"
require_stack backup db cache
take_backup
