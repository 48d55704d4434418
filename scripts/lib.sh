# Sourced by test.sh and dev.sh: how they find a Docker engine and start the
# stack's db and cache where the host can reach them.

top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Both the compose plugin and a running engine are needed, not just the CLI.
docker_works () {
  docker compose version >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

# compose with the loopback-ports override, under the project name $1.
compose_for () {
  docker compose -p "$1" -f "$top/compose.yaml" -f "$top/compose.test.yaml" "${@:2}"
}

# Starts db and cache of project $1, waits until they are healthy, and exports
# the variables the service and the tests read to reach them.
start_dependencies () {
  local project=$1 address
  "$top/scripts/secrets.sh"
  compose_for "$project" up -d --wait db cache
  address=$(compose_for "$project" port db 5432)
  export DB_HOST=127.0.0.1 DB_PORT="${address##*:}"
  DB_USER=$(compose_for "$project" exec -T db printenv POSTGRES_USER)
  DB_PASSWORD=$(cat "$top/secrets/db_password.txt")
  export DB_USER DB_PASSWORD
  address=$(compose_for "$project" port cache 6379)
  export REDIS_HOST=127.0.0.1 REDIS_PORT="${address##*:}"
  REDIS_PASSWORD=$(cat "$top/secrets/redis_password.txt")
  export REDIS_PASSWORD
}
