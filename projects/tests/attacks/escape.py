"""Write outside the job folder and poke the kernel; print probe -> outcome."""

import ctypes
import json
import os
import sys

targets = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
out = {}


def write(path):
    try:
        with open(path, "a") as fh:
            fh.write("pwned\n")
        return "written"
    except OSError as exc:
        return f"denied:{exc.errno}"


for path in targets["write"] + [
    "/x",
    "/usr/x",
    "/etc/passwd",
    "/proc/sys/kernel/hostname",
    "/proc/sys/vm/drop_caches",
    "/proc/sysrq-trigger",
    "/sys/fs/cgroup/pids/cgroup.procs",
    "/dev/mem",
    "/proc/1/mem",
]:
    out["write:" + path] = write(path)


def call(name, *args):
    ctypes.set_errno(0)
    rc = getattr(libc, name)(*args)
    return "ok" if rc >= 0 else f"denied:{ctypes.get_errno()}"


out["ptrace_attach_1"] = call("ptrace", 16, 1, 0, 0)  # PTRACE_ATTACH
out["unshare_user"] = call("unshare", 0x10000000)
out["unshare_net"] = call("unshare", 0x40000000)
out["mount_tmpfs"] = call("mount", b"none", b"/job", b"tmpfs", 0, None)
out["setuid_0"] = call("setuid", 0)
out["chroot"] = call("chroot", b"/tmp")
out["keyctl"] = call("syscall", 250, 0, 0, 0)  # x86_64 keyctl
out["bpf"] = call("syscall", 321, 0, 0, 0)
out["perf_event_open"] = call("syscall", 298, 0, 0, -1, -1, 0)
out["io_uring_setup"] = call("syscall", 425, 1, 0)
out["kill_1"] = "ok" if os.system("kill -9 1 2>/dev/null") == 0 else "denied"
out["mknod"] = call("mknod", b"/job/sda", 0o60600, os.makedev(8, 0))
status = open("/proc/self/status").read()
out["status"] = {
    line.split(":")[0]: line.split(":", 1)[1].strip()
    for line in status.splitlines()
    if line.split(":")[0] in ("Uid", "CapEff", "CapBnd", "CapPrm", "NoNewPrivs", "Seccomp")
}
setuid = [
    p
    for d in ("/usr/bin", "/usr/sbin")
    for p in (os.path.join(d, f) for f in os.listdir(d))
    if os.path.isfile(p) and os.stat(p).st_mode & 0o4000
]
out["setuid_binary"] = {}
for binary in setuid[:3]:
    rc = os.system(f"{binary} --help </dev/null >/dev/null 2>&1; id -u > /tmp/id")
    out["setuid_binary"][binary] = open("/tmp/id").read().strip()
print(json.dumps(out))
