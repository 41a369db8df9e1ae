#!/usr/bin/env bash
# docker-compose.yml's one-shot `prepare` service (also what a second worker host runs once):
# the grading kernels into the shared cache (KGRADER_CACHE_DIR), the LTI tool key file when it is
# missing, then the toolchain check. Idempotent and quick once done: build-kernel.sh only checks
# a kernel whose key (linux-source version, config fragments, patches) is already in the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
for flavor in ${KGRADER_KERNEL_FLAVORS:-kasan kcsan}; do
  bash packages/kernel/scripts/build-kernel.sh --flavor "$flavor"
done
if [ -n "${LTI_TOOL_KEYS:-}" ] && [ "${LTI_KEYGEN:-1}" = 1 ]; then
  # creates the file only when missing: a second host must get a copy of the first host's file
  # (README, "Scaling out"); its workers refuse LTI work when the key is not the service's
  node apps/api/dist/src/admin.js lti-keygen --file "$LTI_TOOL_KEYS" >/dev/null
  echo "prepare: LTI tool key file $LTI_TOOL_KEYS ready"
fi
# informative: the workers run the same checks at start and their /healthz fails on them
node apps/cli/bin/kgrader.js doctor || echo "prepare: kgrader doctor found a problem (see above); the workers' /healthz will report it"
