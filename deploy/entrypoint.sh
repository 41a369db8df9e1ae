#!/bin/sh
# The image's entrypoint. KVM without a host-specific compose file: the worker service may use
# the KVM device (docker-compose.yml: device_cgroup_rules 'c 10:232 rwm', nothing else), so the
# node is made here. On a host without KVM opening it fails and the engine's probe picks TCG.
set -e
if [ ! -e /dev/kvm ] && [ "${KGRADER_ACCEL:-auto}" != tcg ]; then
  mknod -m 0660 /dev/kvm c 10 232 2>/dev/null || true
fi
exec "$@"
