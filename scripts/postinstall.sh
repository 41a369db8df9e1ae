#!/usr/bin/env bash
# Steps `npm ci` would run as install scripts if npm 11 allowed them: generate the Prisma client
# (offline, WebAssembly engine) into packages/db/src/generated before the TypeScript build, and
# build Dolos's tree-sitter grammars.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s generate -w @kgrader/db

# Dolos (similarity checks) parses C with tree-sitter: @dodona/dolos-parsers compiles its grammars
# in an install script (node-gyp), which npm may not run; build them here when they are missing
# (offline: npm's own node-gyp and the installed Node headers; about 3 minutes on 2 cores).
parsers=node_modules/@dodona/dolos-parsers
if [ -d "$parsers" ] && [ ! -f "$parsers/build/Release/tree_sitter_c_binding.node" ]; then
  echo "building the tree-sitter grammars of @dodona/dolos-parsers" >&2
  gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  # the installed Node headers (npm's `nodedir`, else the prefix of this node): node-gyp would download them otherwise
  nodedir="$(npm config get nodedir 2>/dev/null || true)"
  case "$nodedir" in ""|undefined|null) nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")" ;; esac
  args=()
  if [ -f "$nodedir/include/node/node.h" ]; then args=(--nodedir="$nodedir"); fi
  (cd "$parsers" && node "$gyp" rebuild "${args[@]}" >&2)
fi
