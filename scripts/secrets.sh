#!/usr/bin/env bash
# Creates each compose secret that does not exist yet, with a random value, and
# says which. Existing ones are kept: PostgreSQL takes its password only when it
# initialises an empty volume, so a new one would lock the service out of old data.
set -euo pipefail

dir="$(cd "$(dirname "$0")/.." && pwd)/secrets"
mkdir -p "$dir"
# The directory keeps other host users out. The files themselves must be
# readable by the containers' own users (node, postgres, redis), whose uids
# need not match the host owner's: compose bind-mounts them as they are.
chmod 700 "$dir"

for name in db_password redis_password grafana_admin_password; do
  file="$dir/$name.txt"
  if [ ! -s "$file" ]; then
    # Hex, so the value needs no quoting in any config or URL.
    { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo; } > "$file"
    echo "created secrets/$name.txt with a random value"
  fi
  chmod 644 "$file"
done
