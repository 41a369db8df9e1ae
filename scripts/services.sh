#!/usr/bin/env bash
# Starts the local PostgreSQL and Redis the service needs, only when they are down, and waits
# until both answer. Idempotent; prints progress on stderr so callers' stdout stays clean.
set -euo pipefail
log() { echo "services: $*" >&2; }

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

if ! pg_up; then
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start >&2 || true
fi
if ! redis_up; then
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >&2
fi
for _ in $(seq 1 60); do
  if pg_up && redis_up; then
    log "PostgreSQL and Redis are up"
    exit 0
  fi
  sleep 0.5
done
pg_up || log "PostgreSQL did not come up"
redis_up || log "Redis did not come up"
exit 1
