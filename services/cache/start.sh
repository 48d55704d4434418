#!/bin/sh
# Starts redis-server with the password from the redis_password secret and the
# arguments compose passes (the persistence flags).
#
# Redis cannot read its password from a file, and one passed in the environment
# or on the command line would show in `docker inspect` and `ps`. So this turns
# the secret into a one-line config on the container's tmpfs /tmp (never on
# disk) and hands it to the image's own entrypoint, which drops root before
# starting redis-server.
set -eu

secret=/run/secrets/redis_password
if ! head -n 1 "$secret" | grep -q .; then
  echo "cache: the redis_password secret is empty" >&2
  exit 1
fi
umask 077
# requirepass "<first line>", with \ and " escaped for Redis's config parser.
head -n 1 "$secret" | sed -e 's/[\\"]/\\&/g' -e 's/.*/requirepass "&"/' > /tmp/redis.conf
chown redis:redis /tmp/redis.conf
exec docker-entrypoint.sh redis-server /tmp/redis.conf "$@"
