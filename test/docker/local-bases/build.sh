#!/usr/bin/env bash
# Builds local stand-ins for the public base images kgrader's docker-compose.yml uses, from
# Debian packages only (for machines that reach no image registry: tests, CI):
#   kgrader-local/debian:bookworm   mmdebstrap bookworm (minbase) → docker import
#   kgrader-local/node:20-bookworm  that + this host's Node.js 20 (/usr/bin/node, its npm and
#                                   headers, laid out as in the official image under /usr/local;
#                                   Debian bookworm's own nodejs is 18) and this host's extra
#                                   trusted CAs (/usr/local/share/ca-certificates)
#   kgrader-local/postgres:15       that + postgresql-15, with an entrypoint honouring
#                                   POSTGRES_USER/PASSWORD/DB and PGPORT like the official image
#   kgrader-local/redis:7           that + redis-server (7.0)
# Each image is built once and reused (an existing tag is kept; --force rebuilds). Builds use the
# host's network (the daemon may have no bridge): only Debian's mirror is reached.
# Prints the variables to pass to `docker compose build` (NODE_IMAGE, POSTGRES_IMAGE, REDIS_IMAGE).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
force=0
[ "${1:-}" = --force ] && force=1
have() { [ "$force" = 0 ] && docker image inspect "$1" >/dev/null 2>&1; }
log() { echo "local-bases: $*" >&2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! have kgrader-local/debian:bookworm; then
  log "mmdebstrap bookworm (minbase)"
  mmdebstrap --quiet --variant=minbase --include=ca-certificates,libstdc++6 bookworm "$work/rootfs.tar" >&2
  docker import "$work/rootfs.tar" kgrader-local/debian:bookworm >/dev/null
  rm -f "$work/rootfs.tar"
fi

if ! have kgrader-local/node:20-bookworm; then
  node_bin=$(readlink -f "$(command -v node)")
  case "$("$node_bin" --version)" in v20.*) ;; *) log "this host's node is not v20"; exit 1 ;; esac
  npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
  mkdir -p "$work/node"
  cp "$node_bin" "$work/node/node"
  cp -a "$npm_dir" "$work/node/npm"
  # the headers: node-gyp builds tree-sitter offline against them (scripts/postinstall.sh)
  node_prefix=$(dirname "$(dirname "$node_bin")")
  cp -a "$node_prefix/include/node" "$work/node/include"
  # this host's extra trusted CAs (an egress proxy's, say): npm ci in the image reaches the
  # registry the way this host does
  mkdir -p "$work/node/extra-ca"
  cp /usr/local/share/ca-certificates/*.crt "$work/node/extra-ca/" 2>/dev/null || true
  cat >"$work/node/Dockerfile" <<'DOCKER'
FROM kgrader-local/debian:bookworm
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY include /usr/local/include/node
COPY extra-ca/ /usr/local/share/ca-certificates/
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN update-ca-certificates >/dev/null \
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
CMD ["node"]
DOCKER
  log "node image from $node_bin ($("$node_bin" --version))"
  docker build -q --network host -t kgrader-local/node:20-bookworm "$work/node" >/dev/null
fi

if ! have kgrader-local/postgres:15; then
  mkdir -p "$work/pg"
  cp "$here/postgres-entrypoint.sh" "$work/pg/"
  cat >"$work/pg/Dockerfile" <<'DOCKER'
FROM kgrader-local/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-15 && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
STOPSIGNAL SIGINT
DOCKER
  log "postgres image (postgresql-15)"
  docker build -q --network host -t kgrader-local/postgres:15 "$work/pg" >/dev/null
fi

if ! have kgrader-local/redis:7; then
  mkdir -p "$work/redis"
  cat >"$work/redis/Dockerfile" <<'DOCKER'
FROM kgrader-local/debian:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*
CMD ["redis-server", "--protected-mode", "no"]
DOCKER
  log "redis image (redis-server)"
  docker build -q --network host -t kgrader-local/redis:7 "$work/redis" >/dev/null
fi

echo "NODE_IMAGE=kgrader-local/node:20-bookworm"
echo "POSTGRES_IMAGE=kgrader-local/postgres:15"
echo "REDIS_IMAGE=kgrader-local/redis:7"
