#!/usr/bin/env bash
# Builds (once) and caches one flavor of kgrader's grading kernel from Debian's linux-source-6.1.
#
# Flavors: kasan (default: KASAN, kmemleak, UBSAN) and kcsan (data races). Each is
# config/base.config + config/<flavor>.config merged onto tinyconfig, with patches/*.patch and
# patches/<flavor>/*.patch applied.
#
# Cache layout: $KGRADER_CACHE_DIR/kernel/<source-version>-<flavor>-<config hash>/
#   linux/            the configured, built kernel tree (student modules build against it)
#   linux/arch/x86/boot/bzImage
#   kernel.json       manifest written last: its presence means the build is complete
#
# Usage: build-kernel.sh [--flavor kasan|kcsan] [--print-dir]
#   --print-dir: only print the cache dir it would use
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
flavor=kasan
print_dir=0
while [ $# -gt 0 ]; do
  case "$1" in
    --flavor) flavor=${2:?--flavor needs a value}; shift 2 ;;
    --print-dir) print_dir=1; shift ;;
    *) echo "build-kernel: unknown argument $1" >&2; exit 2 ;;
  esac
done
base="$here/config/base.config"
fragment="$here/config/$flavor.config"
[ -f "$fragment" ] || { echo "build-kernel: unknown flavor $flavor (no $fragment)" >&2; exit 2; }
tarball=/usr/src/linux-source-6.1.tar.xz
cache_root=${KGRADER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kgrader}

if ! src_version=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) || [ ! -f "$tarball" ]; then
  echo "build-kernel: Debian package linux-source-6.1 is not installed (run: npm run setup)" >&2
  exit 3
fi
# The key covers what changes the produced kernel: the source version, the fragments, the patches
# and the recipe below. Bump recipe when the build steps change in a way that changes the kernel.
recipe=2
# patches/*.patch apply to every flavor, patches/<flavor>/*.patch to that flavor only
shopt -s nullglob
patches=("$here"/patches/*.patch "$here"/patches/"$flavor"/*.patch)
shopt -u nullglob
config_hash=$( { echo "recipe=$recipe"; cat "$base" "$fragment" "${patches[@]}"; } | sha256sum | cut -c1-16)
key="${src_version}-${flavor}-${config_hash}"
dir="$cache_root/kernel/$key"

if [ "$print_dir" = 1 ]; then echo "$dir"; exit 0; fi
# built already (the usual case, and the only one a read-only cache allows): no lock, no writes
if [ -f "$dir/kernel.json" ]; then
  echo "build-kernel: cached kernel $key at $dir"
  exit 0
fi

mkdir -p "$cache_root/kernel"
exec 9>"$cache_root/kernel/.build.lock"
flock 9

if [ -f "$dir/kernel.json" ]; then
  echo "build-kernel: cached kernel $key at $dir"
  exit 0
fi

rm -rf "$dir"
mkdir -p "$dir"
start=$(date +%s)
echo "build-kernel: extracting $tarball"
tar -C "$dir" -xf "$tarball"
mv "$dir/linux-source-6.1" "$dir/linux"
cd "$dir/linux"
for p in "${patches[@]}"; do
  echo "build-kernel: applying $(basename "$p")"
  patch -s -p1 <"$p"
done

echo "build-kernel: configuring $flavor (tinyconfig + base.config + $flavor.config)"
make -s ARCH=x86_64 tinyconfig >/dev/null
./scripts/kconfig/merge_config.sh -m .config "$base" "$fragment" >/dev/null
make -s ARCH=x86_64 olddefconfig >/dev/null

missing=0
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  if ! grep -qxF "$line" .config; then
    echo "build-kernel: required option lost by olddefconfig: $line (got: $(grep "^${line%%=*}=" .config || echo unset))" >&2
    missing=1
  fi
done < <(cat "$base" "$fragment")
[ "$missing" = 0 ] || exit 1

jobs=$(nproc)
echo "build-kernel: compiling with $jobs jobs (about 16 minutes on 2 cores; progress in $dir/build.log)"
if ! make ARCH=x86_64 -j"$jobs" all >"$dir/build.log" 2>&1; then
  tail -n 40 "$dir/build.log" >&2
  echo "build-kernel: kernel build failed, full log: $dir/build.log" >&2
  exit 1
fi

kernel_release=$(make -s ARCH=x86_64 kernelrelease)
seconds=$(( $(date +%s) - start ))
cat >"$dir/kernel.json" <<JSON
{
  "key": "$key",
  "flavor": "$flavor",
  "sourceVersion": "$src_version",
  "configHash": "$config_hash",
  "kernelRelease": "$kernel_release",
  "tree": "$dir/linux",
  "bzImage": "$dir/linux/arch/x86/boot/bzImage",
  "buildSeconds": $seconds
}
JSON
echo "build-kernel: built $kernel_release in ${seconds}s at $dir"
