#!/usr/bin/env bash
# Builds the static in-VM harness: build-harness.sh [outdir]  (default: packages/harness/build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/build}
mkdir -p "$out"
cc=${CC:-gcc}
"$cc" -static -O2 -pthread -std=gnu11 -Wall -Wextra -Werror \
  -o "$out/kgrader-harness" "$here"/src/*.c
echo "$out/kgrader-harness"
