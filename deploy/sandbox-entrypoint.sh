#!/bin/sh
# Entrypoint for a worker container that runs the jail (SANDBOX_BACKEND=jail).
#
# On a cgroup v2 host Docker gives the container its own cgroup namespace with
# /sys/fs/cgroup mounted read-only, and the container's root group holds the
# worker itself, so it cannot hand the memory/pids controllers down to job
# groups ("no internal processes").  This script makes the mount writable, moves
# every process into /sys/fs/cgroup/init, and enables +memory +pids below the
# root; projects/runner/cgroups.py then creates job groups under sandbox/.
# On a cgroup v1 (or hybrid) host it only remounts; nothing else is needed.
# Needs CAP_SYS_ADMIN and AppArmor unconfined (docs/sandbox.md).
set -eu

if mount -o remount,rw /sys/fs/cgroup 2>/dev/null; then :; fi
if [ -f /sys/fs/cgroup/cgroup.controllers ] && [ ! -d /sys/fs/cgroup/memory ]; then
    mkdir -p /sys/fs/cgroup/init
    for pid in $(cat /sys/fs/cgroup/cgroup.procs); do
        echo "$pid" > /sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
    done
    for controller in memory pids; do
        echo "+$controller" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null \
            || echo "sandbox-entrypoint: cannot enable $controller; memory falls back to RLIMIT_AS" >&2
    done
fi
exec "$@"
