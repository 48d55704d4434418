#!/usr/bin/env bash
# make test-cluster: several hosts on one machine. Each host is a network
# namespace on one bridge (itself in a namespace of its own, so nothing touches
# the machine's own network): PostgreSQL and Redis, private instances started
# here, three web replicas (node dist/server.js) and haproxy in front, checking
# GET /health/ready every 300 ms with no retries and no redispatch: as with
# kube-proxy, a request sent to a replica that is gone fails. scenarios.ts then runs the failures under load and says
# whether each held. Needs root (namespaces, iptables); CI has it.
set -euo pipefail
top="$(cd "$(dirname "$0")/../../../.." && pwd)"
. "$top/scripts/node.sh"

# Refuse loudly in CI, where a skipped test would read as a pass.
cannot_run () {
  echo "test-cluster cannot run here: $1" >&2
  if [ "${CI:-}" = true ]; then exit 1; fi
  echo "test-cluster skipped (CI=true makes this an error)" >&2
  exit 0
}
[ "$(id -u)" = 0 ] || cannot_run "it needs root to create network namespaces"
command -v ip >/dev/null || cannot_run "ip (iproute2) is missing"
probe="wc-$$-probe"
{ ip netns add "$probe" && ip netns del "$probe"; } 2>/dev/null || cannot_run "this kernel or sandbox cannot make network namespaces (ip netns add)"
command -v iptables >/dev/null || cannot_run "iptables is missing"

missing=()
command -v haproxy >/dev/null || missing+=(haproxy)
command -v redis-server >/dev/null || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
pgbin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

use_image_node
cd "$top/services/web"
[ -d node_modules ] || npm ci
npm run build >/dev/null

# Unique names, so two runs (or a crashed one) never collide.
ns="wc-$$-"
hosts=(db cache web1 web2 web3 lb)
declare -A address=([db]=198.18.0.2 [cache]=198.18.0.3 [web1]=198.18.0.11 [web2]=198.18.0.12 [web3]=198.18.0.13 [lb]=198.18.0.20)
work=$(mktemp -d /tmp/web-cluster.XXXXXX)
chmod 755 "$work"

# Every process in one of our namespaces is ours: each is ended by its id.
end_processes () {
  local host pids
  for host in "${hosts[@]}" sw; do
    pids=$(ip netns pids "$ns$host" 2>/dev/null || true)
    # shellcheck disable=SC2086 # one id per word
    [ -z "$pids" ] || kill "-$1" $pids 2>/dev/null || true
  done
}
cleanup () {
  end_processes TERM
  sleep 1
  end_processes KILL
  for host in "${hosts[@]}" sw; do ip netns del "$ns$host" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# The switch: a bridge in its own namespace; each host gets a veth into it.
# 198.18.0.0/15 is reserved for benchmarking (RFC 2544) and routed nowhere.
ip netns add "${ns}sw"
ip -n "${ns}sw" link add br0 type bridge
ip -n "${ns}sw" link set br0 up
for host in "${hosts[@]}"; do
  ip netns add "$ns$host"
  ip link add eth0 netns "$ns$host" type veth peer name "$host" netns "${ns}sw"
  ip -n "${ns}sw" link set "$host" master br0 up
  ip -n "$ns$host" addr add "${address[$host]}/24" dev eth0
  ip -n "$ns$host" link set eth0 up
  ip -n "$ns$host" link set lo up
done

# Passwords as files, as the containers get them.
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/db_password"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/redis_password"
chmod 644 "$work/db_password" "$work/redis_password"

# PostgreSQL: a fresh, empty cluster, so the replicas find no schema at all.
mkdir "$work/pg" && chown postgres "$work/pg"
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg/data" -U postgres --auth-local=trust \
  --auth-host=scram-sha-256 --pwfile="$work/db_password" >/dev/null
echo "host all all 198.18.0.0/24 scram-sha-256" >> "$work/pg/data/pg_hba.conf"
ip netns exec "${ns}db" runuser -u postgres -- "$pgbin/postgres" -D "$work/pg/data" \
  -c listen_addresses="${address[db]}" -c unix_socket_directories="$work/pg" \
  -c max_connections=100 >"$work/pg/log" 2>&1 &
disown
for _ in $(seq 100); do
  runuser -u postgres -- "$pgbin/pg_isready" -q -h "$work/pg" && break
  sleep 0.1
done
runuser -u postgres -- "$pgbin/pg_isready" -q -h "$work/pg" || { echo "PostgreSQL did not start:"; cat "$work/pg/log"; exit 1; } >&2
runuser -u postgres -- "$pgbin/createdb" -h "$work/pg" desafio3

# Redis, with its append-only file, password from the file as start.sh does.
mkdir "$work/redis"
printf 'requirepass "%s"\n' "$(cat "$work/redis_password")" > "$work/redis/redis.conf"
chmod 600 "$work/redis/redis.conf"
ip netns exec "${ns}cache" redis-server "$work/redis/redis.conf" --bind "${address[cache]}" \
  --port 6379 --dir "$work/redis" --appendonly yes --appendfsync everysec --save '' \
  >"$work/redis/log" 2>&1 &
disown
for _ in $(seq 100); do
  REDISCLI_AUTH="$(cat "$work/redis_password")" ip netns exec "${ns}cache" redis-cli -h "${address[cache]}" ping 2>/dev/null | grep -q PONG && break
  sleep 0.1
done

# haproxy: one failed check (fall 1) takes a replica out, two good ones (rise
# 2) bring it back; a request that fails is never retried or sent elsewhere.
cat > "$work/haproxy.cfg" <<EOF
global
  stats socket $work/haproxy.sock mode 600 level user
  maxconn 2000
defaults
  mode http
  timeout connect 1s
  timeout client 10s
  timeout server 10s
  timeout check 1s
  retries 0
  no option redispatch
frontend web
  bind 127.0.0.1:8080
  default_backend web
backend web
  balance roundrobin
  option httpchk GET /health/ready
  http-check expect status 200
  default-server inter 300ms fall 1 rise 2
  server web1 ${address[web1]}:5000 check
  server web2 ${address[web2]}:5000 check
  server web3 ${address[web3]}:5000 check
EOF
ip netns exec "${ns}lb" haproxy -q -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
disown

# The scenarios run beside haproxy and reach it on the lb host's loopback.
ip netns exec "${ns}lb" env \
  CLUSTER_NS="$ns" CLUSTER_WORK="$work" HAPROXY_URL=http://127.0.0.1:8080 \
  DB_HOST="${address[db]}" REDIS_HOST="${address[cache]}" \
  WEB_ADDRESSES="${address[web1]},${address[web2]},${address[web3]}" \
  SHUTDOWN_DELAY_MS="${SHUTDOWN_DELAY_MS-1000}" \
  node --import tsx test/cluster/scenarios.ts
