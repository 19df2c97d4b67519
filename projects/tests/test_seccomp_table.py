"""The seccomp filter's syscall numbers are the kernel's: checked against libseccomp's tables
(for both architectures the filter supports) and this machine's UAPI header where installed.

A wrong number would silently allow the call it was meant to deny and deny an innocent one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import re
from pathlib import Path

import pytest

from projects.runner import seccomp_filter

# Calls the filter names that an architecture never had (libseccomp resolves them to a
# negative pseudo number); the filter's table leaves them out for that architecture.
HEADERS = [Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h"), Path("/usr/include/asm/unistd_64.h"),
           Path("/usr/include/aarch64-linux-gnu/asm/unistd.h"), Path("/usr/include/asm-generic/unistd.h")]


def _missing(reason: str) -> None:
    if os.environ.get("SANDBOX_REQUIRED") == "1":
        pytest.fail(f"{reason} (SANDBOX_REQUIRED=1 turns this skip into a failure)")
    pytest.skip(reason)


def _libseccomp():
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    lib.seccomp_syscall_resolve_name_arch.restype = ctypes.c_int
    return lib


@pytest.mark.parametrize("machine", sorted(seccomp_filter.SYSCALLS))
def test_every_number_matches_libseccomp(machine):
    lib = _libseccomp()
    if lib is None:
        _missing("libseccomp is not installed (Debian: libseccomp2)")
    arch = seccomp_filter.AUDIT_ARCH[machine]
    wrong = {}
    for name, number in seccomp_filter.SYSCALLS[machine].items():
        resolved = lib.seccomp_syscall_resolve_name_arch(arch, name.encode())
        if resolved != number:
            wrong[name] = (number, resolved)
    assert wrong == {}, f"{machine}: filter number vs libseccomp's: {wrong}"


@pytest.mark.parametrize("machine", sorted(seccomp_filter.SYSCALLS))
def test_every_denied_call_the_architecture_has_is_in_the_table(machine):
    lib = _libseccomp()
    if lib is None:
        _missing("libseccomp is not installed (Debian: libseccomp2)")
    arch = seccomp_filter.AUDIT_ARCH[machine]
    table = seccomp_filter.SYSCALLS[machine]
    missing = [name for name in seccomp_filter.DENIED
               if name not in table and lib.seccomp_syscall_resolve_name_arch(arch, name.encode()) >= 0]
    assert missing == [], f"{machine} has these calls but the filter would not deny them: {missing}"


def test_numbers_match_this_machines_kernel_header():
    machine = platform.machine()
    if machine not in seccomp_filter.SYSCALLS:
        pytest.skip(f"the filter does not support {machine}")
    text = next((h.read_text() for h in HEADERS if h.exists() and "__NR_" in h.read_text()), None)
    if text is None:
        _missing("no kernel UAPI header (Debian: linux-libc-dev)")
    header = {m.group(1): int(m.group(2)) for m in re.finditer(r"#define __NR3?2?_(\w+)\s+(\d+)\b", text)}
    table = seccomp_filter.SYSCALLS[machine]
    checked = {name: (number, header[name]) for name, number in table.items() if name in header}
    assert len(checked) >= len(table) - 5, "the header names too few of the filter's calls to be the right one"
    assert {n: v for n, v in checked.items() if v[0] != v[1]} == {}
