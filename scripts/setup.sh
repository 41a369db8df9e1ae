#!/usr/bin/env bash
# One-time (and idempotent) set-up of a Debian machine for kgrader: system packages, npm
# dependencies, the TypeScript build, the cached grading kernel and the harness.
# Re-running it is cheap: every step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

# Debian packages: QEMU, the kernel source and its build deps, busybox for the initramfs,
# bubblewrap for the compile sandbox, chromium for the dashboard's browser tests.
packages=(qemu-system-x86 busybox-static linux-source-6.1 bubblewrap build-essential bc bison flex
  libelf-dev libssl-dev xz-utils kmod binutils util-linux chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" = 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# PostgreSQL and Redis, for the service (started only when down).
if [ -f scripts/services.sh ]; then
  say "services"
  bash scripts/services.sh
fi

lock_hash=$(sha256sum package-lock.json | cut -c1-16)
if [ "$(cat node_modules/.kgrader-lock 2>/dev/null)" != "$lock_hash" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.kgrader-lock
fi

if [ -f scripts/postinstall.sh ]; then bash scripts/postinstall.sh; fi

say "TypeScript build"
npx tsc -b
npm run -s build -w @kgrader/dashboard

say "grading kernels (each built once, cached under ~/.cache/kgrader): kasan, then kcsan"
bash packages/kernel/scripts/build-kernel.sh --flavor kasan
# the KCSAN flavor serves the exercises that ask for a data-race pass (and the tests of it)
bash packages/kernel/scripts/build-kernel.sh --flavor kcsan

say "checking the grading toolchain"
node apps/cli/bin/kgrader.js doctor
