# kgrader's one image: the API, the grading worker and the one-shot `prepare` step (see
# docker-compose.yml). The base is a variable so that machines without an image registry can
# build on a local stand-in (test/docker/local-bases/build.sh); it must hold Node.js 20 with npm
# and its headers under /usr/local, as the official image does.
ARG NODE_IMAGE=node:20-bookworm
FROM ${NODE_IMAGE}

# The Debian packages of scripts/setup.sh (without chromium, which only the dashboard's browser
# tests use): QEMU, the kernel source and its build deps, busybox for the initramfs, bubblewrap
# for the compile sandbox. linux-source-6.1's version is part of the grading kernel's key.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      qemu-system-x86 busybox-static linux-source-6.1 bubblewrap build-essential bc bison flex \
      libelf-dev libssl-dev xz-utils kmod binutils util-linux cpio file python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# npm ci and the native builds first, from the manifests alone: a change to the sources reuses
# this layer (the tree-sitter build takes minutes). test/docker/docker.test.ts checks that every
# workspace's package.json is listed here.
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/cli/package.json apps/cli/
COPY apps/dashboard/package.json apps/dashboard/
COPY apps/worker/package.json apps/worker/
COPY packages/builder/package.json packages/builder/
COPY packages/db/package.json packages/db/prisma.config.ts packages/db/
COPY packages/engine/package.json packages/engine/
COPY packages/exercises/package.json packages/exercises/
COPY packages/expectations/package.json packages/expectations/
COPY packages/harness/package.json packages/harness/
COPY packages/kernel/package.json packages/kernel/
COPY packages/log-parser/package.json packages/log-parser/
COPY packages/lti/package.json packages/lti/
COPY packages/schemas/package.json packages/schemas/
COPY packages/similarity/package.json packages/similarity/
COPY packages/symbolizer/package.json packages/symbolizer/
COPY packages/verdict/package.json packages/verdict/
COPY packages/vm/package.json packages/vm/
COPY packages/webhooks/package.json packages/webhooks/
COPY prisma prisma
COPY scripts/postinstall.sh scripts/
# install scripts off, as on the hosts (npm 11 runs none it was not told to): postinstall.sh
# runs the ones kgrader needs (Prisma client, tree-sitter grammars) offline
RUN npm ci --ignore-scripts --no-audit --no-fund && bash scripts/postinstall.sh && npm cache clean --force

COPY . .
RUN npx tsc -b && npm run -s build -w @kgrader/dashboard

ENV NODE_ENV=production KGRADER_CACHE_DIR=/cache
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["node", "apps/api/dist/src/main.js"]
