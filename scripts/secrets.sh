#!/usr/bin/env bash
# Creates each compose secret that does not exist yet, with a random value, and
# says which. Existing ones are kept: PostgreSQL takes its password only when it
# initialises an empty volume, so a new one would lock the service out of old data.
# For the same reason no password is ever generated for a db volume that already
# holds a cluster (the older Flask stack's, say): that stops with one line instead.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dir=$(secrets_dir)
mkdir -p "$dir"
# The directory keeps other host users out. The files themselves must be
# readable by the containers' own users (node, postgres, redis), whose uids
# need not match the host owner's: compose bind-mounts them as they are.
chmod 700 "$dir"

# A sed print expression applied to the db service's lines of compose.yaml.
db_setting () {
  sed -n "/^  db:\$/,/^  [a-z]/$1" "$top/compose.yaml"
}

# Prints the db volume's name when it exists and holds a PostgreSQL cluster.
# compose names it <project>_<key>, the key being the volume db mounts at
# PostgreSQL's data directory; the image that reads it is db's own.
initialised_db_volume () {
  local key volume image
  key=$(db_setting 's|^      - \([a-z0-9_-]*\):/var/lib/postgresql/data$|\1|p')
  volume="$(compose_project)_$key"
  docker volume inspect "$volume" >/dev/null 2>&1 || return 0
  image=$(db_setting 's/^    image: *//p')
  if docker run --rm --network none -v "$volume:/data:ro" --entrypoint test "$image" -s /data/PG_VERSION; then
    echo "$volume"
  fi
}

for name in db_password redis_password grafana_admin_password; do
  file="$dir/$name.txt"
  if [ ! -s "$file" ]; then
    if [ "$name" = db_password ]; then
      volume=$(initialised_db_volume)
      if [ -n "$volume" ]; then
        printf '%s\n' "volume $volume already holds a PostgreSQL cluster, so no new password is made for it: put its password in $file (printf '%s\n' 'the-password' > $file) and run make up again, or start over with make clean (deletes all stored data)." >&2
        exit 1
      fi
    fi
    # Hex, so the value needs no quoting in any config or URL.
    { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo; } > "$file"
    echo "created $file with a random value"
  fi
  chmod 644 "$file"
done
