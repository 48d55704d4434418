#!/usr/bin/env bash
# `bash bench/sizing.sh`: what web's resources (compose's mem_limit, the
# Kubernetes requests and limits) are sized from. Starts the stack on a
# throwaway compose project with web on a loopback port, loads each endpoint
# with wrk, and prints the web container's CPU per request (cgroup CPU time over
# the answers) and its cgroup memory peak; then removes the project.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib.sh"

connections=${CONNECTIONS:-256}
duration=${DURATION:-60}
endpoints=${ENDPOINTS:-/ /db/test /cache/test /integracao}
command -v wrk >/dev/null || { echo "sizing needs wrk (Debian package wrk)" >&2; exit 1; }
[ -z "$(compose_missing)" ] || { echo "sizing needs Docker with Compose v2: $(compose_missing)" >&2; exit 1; }

export COMPOSE_PROJECT_NAME="sizing-$$" WEB_PORT=127.0.0.1: SECRETS_DIR
SECRETS_DIR=$(mktemp -d)
cleanup () {
  docker compose -f "$top/compose.yaml" down -v --rmi local --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$SECRETS_DIR"
}
trap cleanup EXIT
"$top/scripts/secrets.sh" >/dev/null
docker compose -f "$top/compose.yaml" up -d --build --wait >&2
url="http://127.0.0.1:$(docker compose -f "$top/compose.yaml" port web 5000 | sed 's/.*://')"

# The container's cgroup, as the host sees it: v2 (one hierarchy) or v1.
pid=$(docker inspect -f '{{.State.Pid}}' "$(docker compose -f "$top/compose.yaml" ps -q web)")
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  dir=/sys/fs/cgroup$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
  cpu_ns () { echo $(( $(sed -n 's/^usage_usec //p' "$dir/cpu.stat") * 1000 )); }
  memory_peak () { cat "$dir/memory.peak"; }
  memory_limit () { cat "$dir/memory.max"; }
  oom_kills () { sed -n 's/^oom_kill //p' "$dir/memory.events"; }
else
  cpu_dir=/sys/fs/cgroup/cpuacct$(sed -n 's/^[0-9]*:[a-z,]*cpuacct[a-z,]*://p' "/proc/$pid/cgroup")
  mem_dir=/sys/fs/cgroup/memory$(sed -n 's/^[0-9]*:memory://p' "/proc/$pid/cgroup")
  cpu_ns () { cat "$cpu_dir/cpuacct.usage"; }
  memory_peak () { cat "$mem_dir/memory.max_usage_in_bytes"; }
  memory_limit () { cat "$mem_dir/memory.limit_in_bytes"; }
  oom_kills () { sed -n 's/^oom_kill //p' "$mem_dir/memory.oom_control"; }
fi

echo "| endpoint | req/s | non-2xx | CPU per request (µs) |"
echo "| --- | ---: | ---: | ---: |"
for endpoint in $endpoints; do
  before=$(cpu_ns)
  out=$(wrk -t1 -c"$connections" -d"${duration}s" "$url$endpoint")
  after=$(cpu_ns)
  requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' <<< "$out")
  rate=$(sed -n 's/^Requests\/sec: *\([0-9]*\).*/\1/p' <<< "$out")
  bad=$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' <<< "$out")
  echo "| \`$endpoint\` | $rate | ${bad:-0} | $(( (after - before) / 1000 / requests )) |"
done
mib=$((1024 * 1024))
echo
echo "wrk -t1 -c$connections -d${duration}s per endpoint; web's cgroup memory peak: $(( $(memory_peak) / mib )) MiB" \
  "of its $(( $(memory_limit) / mib )) MiB limit; OOM kills: $(oom_kills)"
