"""A seccomp-BPF filter for grading steps, built by hand so it needs no library.

The jail already denies most of what follows (no capabilities, an empty network
namespace, read-only mounts); the filter is the layer that still holds if one of
those is misconfigured or a kernel bug makes one of these calls reachable.

Policy (everything else is allowed):

* wrong architecture (e.g. an i386 or x32 call on x86_64): kill the process;
* kernel-attack-surface and escape calls (ptrace, mount, unshare/setns,
  keyctl, bpf, perf_event_open, io_uring, userfaultfd, module loading, ...):
  fail with EPERM;
* ``socket``/``socketpair`` with any family but AF_UNIX (AF_INET, AF_INET6,
  AF_NETLINK, AF_PACKET, AF_VSOCK, ...): fail with EAFNOSUPPORT;
* ``clone`` asking for a new namespace: EPERM; ``clone3`` (whose flags live
  in memory a filter cannot read): ENOSYS, so libc falls back to ``clone``;
* ``personality`` other than the query/default: EPERM.

The program is returned as raw ``struct sock_filter`` bytes, the format
``bwrap --seccomp FD`` expects.
"""

from __future__ import annotations

import errno
import platform
import struct

# linux/audit.h
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

# linux/seccomp.h return values
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000

# linux/filter.h opcodes
BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
BPF_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
BPF_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
BPF_RET_K = 0x06  # BPF_RET | BPF_K

# struct seccomp_data offsets
OFF_NR = 0
OFF_ARCH = 4
OFF_ARG0_LO = 16  # little-endian: the low 32 bits of args[0]

AF_UNIX = 1
CLONE_NEW_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
    | 0x00000080  # CLONE_NEWTIME
)

DENIED = (
    "ptrace process_vm_readv process_vm_writev kcmp pidfd_getfd "
    "mount umount2 pivot_root chroot move_mount open_tree fsopen fsconfig fsmount fspick "
    "mount_setattr unshare setns "
    "keyctl add_key request_key bpf perf_event_open userfaultfd "
    "io_uring_setup io_uring_enter io_uring_register "
    "kexec_load kexec_file_load init_module finit_module delete_module "
    "create_module get_kernel_syms query_module "
    "swapon swapoff reboot acct quotactl quotactl_fd syslog lookup_dcookie fanotify_init "
    "open_by_handle_at name_to_handle_at iopl ioperm modify_ldt uselib vhangup nfsservctl "
    "settimeofday clock_settime clock_adjtime adjtimex sethostname setdomainname "
    "memfd_secret"
).split()

# Generated from the kernel UAPI headers (asm/unistd_64.h, asm-generic/unistd.h).
SYSCALLS = {
    "x86_64": {
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "mount": 165,
        "umount2": 166, "pivot_root": 155, "chroot": 161, "unshare": 272, "setns": 308,
        "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321,
        "perf_event_open": 298, "kexec_load": 246, "kexec_file_load": 320,
        "init_module": 175, "finit_module": 313, "delete_module": 176, "swapon": 167,
        "swapoff": 168, "reboot": 169, "acct": 163, "quotactl": 179, "quotactl_fd": 443,
        "syslog": 103, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "open_by_handle_at": 304, "name_to_handle_at": 303,
        "lookup_dcookie": 212, "fanotify_init": 300, "move_mount": 429, "open_tree": 428,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "pidfd_getfd": 438, "iopl": 172, "ioperm": 173,
        "modify_ldt": 154, "uselib": 134, "settimeofday": 164, "clock_settime": 227,
        "clock_adjtime": 305, "adjtimex": 159, "vhangup": 153, "kcmp": 312,
        "nfsservctl": 180, "sethostname": 170, "setdomainname": 171, "create_module": 174,
        "get_kernel_syms": 177, "query_module": 178, "memfd_secret": 447,
        "personality": 135, "socket": 41, "socketpair": 53, "clone": 56, "clone3": 435,
    },
    "aarch64": {
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "mount": 40,
        "umount2": 39, "pivot_root": 41, "chroot": 51, "unshare": 97, "setns": 268,
        "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280,
        "perf_event_open": 241, "kexec_load": 104, "kexec_file_load": 294,
        "init_module": 105, "finit_module": 273, "delete_module": 106, "swapon": 224,
        "swapoff": 225, "reboot": 142, "acct": 89, "quotactl": 60, "quotactl_fd": 443,
        "syslog": 116, "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
        "io_uring_register": 427, "open_by_handle_at": 265, "name_to_handle_at": 264,
        "lookup_dcookie": 18, "fanotify_init": 262, "move_mount": 429, "open_tree": 428,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "mount_setattr": 442, "pidfd_getfd": 438, "settimeofday": 170,
        "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171, "vhangup": 58,
        "kcmp": 272, "nfsservctl": 42, "sethostname": 161, "setdomainname": 162,
        "memfd_secret": 447, "personality": 92, "socket": 198, "socketpair": 199,
        "clone": 220, "clone3": 435,
    },
}  # fmt: skip

AUDIT_ARCH = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}


def supported(machine: str | None = None) -> bool:
    return (machine or platform.machine()) in SYSCALLS


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def build(machine: str | None = None) -> bytes:
    """The filter program for ``machine`` (default: this one) as sock_filter bytes."""
    machine = machine or platform.machine()
    table = SYSCALLS[machine]
    denied = [table[name] for name in DENIED if name in table]

    # Build with symbolic targets, then resolve to relative jumps.
    prog: list[tuple] = []
    ld = lambda off: prog.append(("ins", BPF_LD_W_ABS, off, None, None))  # noqa: E731
    jeq = lambda k, t, f=None: prog.append(("ins", BPF_JEQ_K, k, t, f))  # noqa: E731
    ret = lambda k: prog.append(("ins", BPF_RET_K, k, None, None))  # noqa: E731
    label = lambda name: prog.append(("label", name))  # noqa: E731

    ld(OFF_ARCH)
    jeq(AUDIT_ARCH[machine], None, "kill")
    ld(OFF_NR)
    if machine == "x86_64":
        prog.append(("ins", BPF_JGE_K, X32_SYSCALL_BIT, "kill", None))
    for nr in denied:
        jeq(nr, "eperm")
    jeq(table["socket"], "socket")
    jeq(table["socketpair"], "socket")
    jeq(table["clone"], "clone")
    jeq(table["clone3"], "enosys")
    jeq(table["personality"], "personality")
    ret(SECCOMP_RET_ALLOW)
    label("socket")
    ld(OFF_ARG0_LO)
    jeq(AF_UNIX, "allow", "eafnosupport")
    label("clone")
    ld(OFF_ARG0_LO)
    prog.append(("ins", BPF_JSET_K, CLONE_NEW_FLAGS, "eperm", "allow"))
    label("personality")
    ld(OFF_ARG0_LO)
    jeq(0, "allow")
    jeq(0xFFFFFFFF, "allow", "eperm")
    label("allow")
    ret(SECCOMP_RET_ALLOW)
    label("eperm")
    ret(SECCOMP_RET_ERRNO | errno.EPERM)
    label("eafnosupport")
    ret(SECCOMP_RET_ERRNO | errno.EAFNOSUPPORT)
    label("enosys")
    ret(SECCOMP_RET_ERRNO | errno.ENOSYS)
    label("kill")
    ret(SECCOMP_RET_KILL_PROCESS)

    labels: dict[str, int] = {}
    index = 0
    for item in prog:
        if item[0] == "label":
            labels[item[1]] = index
        else:
            index += 1

    def rel(target: str | None, index: int) -> int:
        if target is None:
            return 0
        offset = labels[target] - index - 1
        if not 0 <= offset <= 255:
            raise ValueError(f"seccomp jump to {target} out of range")
        return offset

    out = bytearray()
    index = 0
    for item in prog:
        if item[0] == "label":
            continue
        _, code, k, jt, jf = item
        out += struct.pack("HBBI", code, rel(jt, index), rel(jf, index), k)
        index += 1
    return bytes(out)
