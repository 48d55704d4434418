# Sourced by backup.sh and restore.sh after lib.sh: how they reach the running
# stack's services. Every command with a credential runs inside a container that
# holds it as a secret, so nothing secret is on the host's command line.

# The four Redis keys of the contract, in the order the manifest lists them.
REDIS_KEYS=(contador_acessos ultimo_acesso integracao_contador integracao_timestamp)

# Where backups go: BACKUPS_DIR, else backups/ (git-ignored).
backups_dir () {
  echo "${BACKUPS_DIR:-$top/backups}"
}

# The container id of a service of the project, running or not, else nothing.
# Found by compose's labels: one docker call, not a compose one per question.
service_container () {
  docker ps -aq --filter "label=com.docker.compose.project=$(compose_project)" \
    --filter "label=com.docker.compose.service=$1" --filter label=com.docker.compose.oneoff=False | head -n 1
}

# Stops with one line unless db, cache and web of the project are running;
# sets DB, CACHE and WEB to their container ids.
require_running_stack () {
  local service id
  for service in db cache web; do
    id=$(service_container "$service")
    if [ -z "$id" ] || [ "$(docker inspect -f '{{.State.Running}}' "$id")" != true ]; then
      echo "make $1 needs the stack of project $(compose_project) running, and $service is not: start it with make up." >&2
      exit 1
    fi
    declare -g "${service^^}=$id"
  done
}

# `db_sh SCRIPT ARGS…`: sh -c SCRIPT inside db, where POSTGRES_USER and
# POSTGRES_DB are set and the local socket needs no password.
db_sh () {
  docker exec -i "$DB" sh -c "$1" sh "${@:2}"
}

# psql -c SQL on the stack's database, unaligned, tuples only.
db_query () {
  db_sh 'exec psql -X -v ON_ERROR_STOP=1 -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$1"' "$1"
}

# redis-cli ARGS… inside cache, authenticated from its secret.
redis_cli () {
  docker exec -i "$CACHE" sh -c 'REDISCLI_AUTH="$(cat /run/secrets/redis_password)" exec redis-cli "$@"' sh "$@"
}

# The Redis database web uses: its REDIS_DB, else the service's default 0.
web_redis_db () {
  local value
  value=$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$WEB" | sed -n 's/^REDIS_DB=//p')
  echo "${value:-0}"
}

# `backup_manifest MODE`: scripts/backup-manifest.mjs with the node of web's image,
# in a container without network; passes on the variables it reads.
backup_manifest () {
  docker run --rm -i --network none -e MODE="$1" \
    -e CREATED -e PROJECT_VERSION -e PROJECT_COMMIT -e PG_VERSION -e PG_TAKEN_AT -e PG_SHA256 -e PG_ROWS -e PG_HIGHEST_ID \
    -e REDIS_VERSION -e REDIS_TAKEN_AT -e REDIS_SHA256 -e REDIS_DB -e REDIS_VALUES \
    --entrypoint node "$(docker inspect -f '{{.Image}}' "$WEB")" --input-type=module -e "$(cat "$top/scripts/backup-manifest.mjs")"
}

# `redis_load MODE DB [VOLUME]` with an RDB file on stdin: loads it into a
# redis-server of cache's own image in a container without network, and prints
# the four keys of database DB as redis-cli's JSON array. MODE check loads it in
# the container's /tmp; MODE restore loads it into VOLUME (cache's /data, cache
# stopped) with the AOF removed, then has Redis write a new AOF from it, so the
# cache, which starts from its AOF, starts from this data.
redis_load () {
  local volumes=()
  [ "$1" = restore ] && volumes=(-v "$3:/data")
  docker run --rm -i --network none "${volumes[@]}" --entrypoint sh "$(docker inspect -f '{{.Image}}' "$CACHE")" -c '
    set -eu
    mode=$1 db=$2
    shift 2
    dir=/tmp/load
    [ "$mode" = restore ] && dir=/data
    mkdir -p "$dir"
    rm -rf "$dir/appendonlydir" "$dir/appendonly.aof"
    cat > "$dir/dump.rdb"
    redis-server --dir "$dir" --dbfilename dump.rdb --port 0 --unixsocket /tmp/load.sock \
      --appendonly no --save "" --logfile /tmp/load.log &
    pid=$!
    cli () { redis-cli -s /tmp/load.sock "$@"; }
    # LOADING is an error reply, and redis-cli exits 0 on those: only PONG counts.
    until cli ping 2>/dev/null | grep -q PONG; do
      if ! kill -0 "$pid" 2>/dev/null; then tail -n 5 /tmp/load.log >&2; exit 1; fi
      sleep 0.1
    done
    if [ "$mode" = restore ]; then
      cli config set appendonly yes >/dev/null
      until cli info persistence | grep -q "^aof_rewrite_in_progress:0" && cli info persistence | grep -q "^aof_rewrite_scheduled:0"; do
        sleep 0.1
      done
      cli info persistence | grep -q "^aof_last_bgrewrite_status:ok" || { tail -n 5 /tmp/load.log >&2; exit 1; }
      # The cache image starts redis-server as its own user: it chowns /data on start.
    fi
    cli --json -n "$db" mget "$@"
    cli shutdown >/dev/null 2>&1 || true
    wait "$pid" || true
  ' sh "$1" "$2" "${REDIS_KEYS[@]}"
}
