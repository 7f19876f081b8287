#!/usr/bin/env bash
# Makes sure the PostgreSQL and Redis the test suite uses are running on 127.0.0.1.
# On these machines both are installed and usually already up; start them if not.
set -euo pipefail

wait_for() {  # wait_for NAME COMMAND...
    local name=$1; shift
    for _ in $(seq 1 30); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
    done
    echo "error: $name did not come up" >&2
    exit 1
}

if ! command -v pg_ctlcluster >/dev/null || ! command -v redis-server >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql redis-server
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "==> starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
fi
wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "==> starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
