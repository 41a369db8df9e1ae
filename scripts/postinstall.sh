#!/usr/bin/env bash
# Steps `npm ci` would run as install scripts if npm 11 allowed them: generate the Prisma client
# (offline, WebAssembly engine) into packages/db/src/generated before the TypeScript build.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s generate -w @kgrader/db
