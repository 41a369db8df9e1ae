#!/usr/bin/env bash
# Steps `npm ci` would run as install scripts if npm 11 allowed them: generate the Prisma client
# (offline, WebAssembly engine) into packages/db/src/generated before the TypeScript build, and
# build Dolos's tree-sitter grammars.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s generate -w @kgrader/db

# Dolos (similarity checks) parses C with tree-sitter. Its native parts are built by install scripts
# (node-gyp, node-gyp-build) that npm may not run: @dodona/dolos-parsers compiles its grammars, and
# tree-sitter / tree-sitter-compat ship prebuilt binaries that need a newer libstdc++ than Debian 12
# has (their install script then compiles them). Build whatever does not load here, offline: npm's
# own node-gyp against the installed Node headers (about 3-4 minutes on 2 cores, once).
gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
nodedir="$(npm config get nodedir 2>/dev/null || true)"
case "$nodedir" in ""|undefined|null) nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")" ;; esac
gyp_args=()
if [ -f "$nodedir/include/node/node.h" ]; then gyp_args=(--nodedir="$nodedir"); fi
build_native() { # <package folder>
  echo "building the native part of $1" >&2
  (cd "$1" && node "$gyp" rebuild "${gyp_args[@]}" >&2)
}
for pkg in node_modules/tree-sitter node_modules/tree-sitter-compat; do
  if [ -d "$pkg" ] && ! (cd "$pkg" && node -e "require('./')" >/dev/null 2>&1); then build_native "$pkg"; fi
done
parsers=node_modules/@dodona/dolos-parsers
if [ -d "$parsers" ] && [ ! -f "$parsers/build/Release/tree_sitter_c_binding.node" ]; then build_native "$parsers"; fi
