# shellcheck shell=bash
# Sourced by the scripts behind make: how they find Docker with Compose v2 and
# start the stack's db and cache where the host can reach them.

top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The lowest Compose that has everything compose.yaml and the scripts use: the
# top-level `name:` and `up --wait` (2.1.1).
COMPOSE_MIN=2.1.1

# Says on stdout what is missing for the compose path, nothing when it all
# answers: the docker CLI, the Compose v2 plugin at COMPOSE_MIN or later (v1's
# docker-compose and older plugins fail on `name:` or `--wait` with usage text),
# and an engine.
compose_missing () {
  local version
  if ! command -v docker >/dev/null 2>&1; then
    echo "the docker command is not installed"
    return
  fi
  if ! version=$(docker compose version --short 2>/dev/null); then
    echo "the Docker Compose v2 plugin is not installed ('docker compose' does not answer; docker-compose v1 cannot read compose.yaml)"
    return
  fi
  version=${version#v}
  if [ "$(printf '%s\n%s\n' "$COMPOSE_MIN" "${version%%[+-]*}" | sort -V | head -n 1)" != "$COMPOSE_MIN" ]; then
    echo "Docker Compose $version is older than $COMPOSE_MIN (needed for 'up --wait')"
    return
  fi
  if ! docker info >/dev/null 2>&1; then
    echo "no Docker engine answers ('docker info' fails: start Docker, or check DOCKER_HOST and your permissions)"
  fi
}

# Stops the calling make target with one line when the compose path cannot run.
require_compose () {
  local missing
  missing=$(compose_missing)
  if [ -n "$missing" ]; then
    echo "make $1 needs Docker Engine with Compose v2 >= $COMPOSE_MIN: $missing. Without Docker, see \"Running without Docker\" in README.md." >&2
    exit 1
  fi
}

# The compose project: COMPOSE_PROJECT_NAME when set, as compose itself does,
# else compose.yaml's `name:`.
compose_project () {
  echo "${COMPOSE_PROJECT_NAME:-$(sed -n 's/^name: *//p' "$top/compose.yaml")}"
}

# compose with the loopback-ports override, under the project name $1.
compose_for () {
  docker compose -p "$1" -f "$top/compose.yaml" -f "$top/compose.test.yaml" "${@:2}"
}

# Starts db and cache of project $1, waits until they are healthy, and exports
# the variables the service and the tests read to reach them.
start_dependencies () {
  local project=$1 address
  COMPOSE_PROJECT_NAME=$project "$top/scripts/secrets.sh"
  compose_for "$project" up -d --wait db cache
  address=$(compose_for "$project" port db 5432)
  export DB_HOST=127.0.0.1 DB_PORT="${address##*:}"
  DB_USER=$(compose_for "$project" exec -T db printenv POSTGRES_USER)
  DB_PASSWORD=$(cat "$(secrets_dir)/db_password.txt")
  export DB_USER DB_PASSWORD
  address=$(compose_for "$project" port cache 6379)
  export REDIS_HOST=127.0.0.1 REDIS_PORT="${address##*:}"
  REDIS_PASSWORD=$(cat "$(secrets_dir)/redis_password.txt")
  export REDIS_PASSWORD
}

# Where compose.yaml reads the secret files: SECRETS_DIR, else secrets/.
secrets_dir () {
  echo "${SECRETS_DIR:-$top/secrets}"
}

# Removes, with their volumes, the compose projects named PREFIX-PID whose
# process PID has ended: what runs that were killed left behind.
drop_orphan_projects () {
  local prefix=$1 project pid
  for project in $(docker ps -a --filter "label=com.docker.compose.project" \
      --format '{{.Label "com.docker.compose.project"}}' | grep -E "^$prefix-[0-9]+\$" | sort -u); do
    pid=${project#"$prefix"-}
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "removing compose project $project, left by a run that ended (process $pid is gone)"
      SECRETS_DIR=$(mktemp -d) compose_for "$project" down -v --remove-orphans >/dev/null 2>&1 || true
    fi
  done
}
