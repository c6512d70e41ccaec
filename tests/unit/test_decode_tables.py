"""The decoder's tables: signatures, argument kinds, and constants against the kernel headers.

Signatures must agree with each call's argument count; ``arg_kinds`` is the
table the C core reads to know which arguments to copy; the hand-written
flag and value tables are checked against the installed UAPI headers (gcc).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sysphase.model import syscalls
from sysphase.model.events import (
    ARG_BUF_IN,
    ARG_BUF_OUT,
    ARG_CSTRING,
    ARG_PLAIN,
    ARG_STRV,
)
from sysphase.report import _xlat
from sysphase.report._signatures import NARGS, SIGNATURES, SPECIAL
from sysphase.report.decode import arg_kinds
from tests.unit.decode_samples import syscalls_table


def test_signatures_match_argument_counts() -> None:
    wrong = {
        name: (len(sig), NARGS.get(name))
        for name, sig in SIGNATURES.items()
        if sig != (SPECIAL,) and len(sig) != NARGS.get(name)
    }
    assert not wrong
    assert len([n for n in SIGNATURES if n in NARGS]) >= 150


def test_arg_kinds_x86_64() -> None:
    table = arg_kinds("x86_64")
    max_nr = max(syscalls_table("x86_64"))
    assert len(table) == 6 * (max_nr + 1)

    def kind(name: str, i: int) -> int:
        nr = syscalls.number("x86_64", name)
        assert nr is not None
        return table[6 * nr + i]

    assert kind("openat", 1) == ARG_CSTRING
    assert kind("openat", 0) == ARG_PLAIN
    assert kind("open", 0) == ARG_CSTRING
    assert kind("write", 1) == ARG_BUF_IN | (2 << 4)
    assert kind("pwrite64", 1) == ARG_BUF_IN | (2 << 4)
    assert kind("sendto", 1) == ARG_BUF_IN | (2 << 4)
    assert kind("setxattr", 2) == ARG_BUF_IN | (3 << 4)
    assert kind("read", 1) == ARG_BUF_OUT
    assert kind("recvfrom", 1) == ARG_BUF_OUT
    assert kind("readlink", 0) == ARG_CSTRING and kind("readlink", 1) == ARG_BUF_OUT
    assert kind("execve", 0) == ARG_CSTRING and kind("execve", 1) == ARG_STRV
    assert kind("execve", 2) == ARG_PLAIN
    assert kind("execveat", 1) == ARG_CSTRING and kind("execveat", 2) == ARG_STRV
    assert [kind("renameat2", i) for i in range(5)] == [0, 1, 0, 1, 0]
    assert [kind("mount", i) for i in range(3)] == [ARG_CSTRING] * 3
    assert kind("mknod", 0) == ARG_CSTRING
    assert kind("getpid", 0) == ARG_PLAIN


def test_arg_kinds_other_arches() -> None:
    i386 = arg_kinds("i386")
    assert len(i386) == 6 * (max(syscalls_table("i386")) + 1)
    assert i386[6 * 5 + 0] == ARG_CSTRING  # open
    assert i386[6 * 4 + 1] == ARG_BUF_IN | (2 << 4)  # write
    assert i386[6 * 11 + 1] == ARG_STRV  # execve
    assert i386[6 * 195 + 0] == ARG_CSTRING  # stat64
    x32 = arg_kinds("x32")
    assert x32[6 * 257 + 1] == ARG_CSTRING  # openat, indexed without the x32 bit
    assert len(x32) == 6 * (max(n & ~0x40000000 for n in syscalls_table("x32")) + 1)
    arm = arg_kinds("aarch64")
    assert arm[6 * 56 + 1] == ARG_CSTRING  # openat
    with pytest.raises(ValueError, match="'sparc'"):
        arg_kinds("sparc")


# --- the hand-written constants against the installed headers ----------------


HEADER_CHECKS = [
    ("#include <asm/fcntl.h>\n#include <linux/fcntl.h>", _xlat.OPEN_FLAGS),
    ("#include <linux/mman.h>", _xlat.PROT_FLAGS),
    ("#include <linux/mman.h>", _xlat.MAP_FLAGS),
    ("#include <linux/sched.h>", _xlat.CLONE_FLAGS),
    ("#include <linux/fcntl.h>", _xlat.AT_FLAGS),
    ("#include <linux/stat.h>", _xlat.STATX_MASK[2:]),
    ("#include <linux/wait.h>", _xlat.WAIT_OPTIONS),
    ("#include <linux/mount.h>", _xlat.MOUNT_FLAGS),
    ("#include <linux/fs.h>", _xlat.RENAME_FLAGS),
    ("#include <linux/memfd.h>", _xlat.MEMFD_FLAGS),
    ("#include <linux/seccomp.h>", _xlat.SECCOMP_FLAGS),
    ("#include <linux/random.h>", _xlat.GETRANDOM_FLAGS),
]
VALUE_CHECKS = [
    ("#include <linux/prctl.h>", _xlat.PRCTL_OPTIONS),
    ("#include <asm/prctl.h>", _xlat.ARCH_PRCTL_CODES),
    ("#include <linux/futex.h>", _xlat.FUTEX_CMDS),
    ("#include <asm/ioctls.h>\n#include <linux/fs.h>", _xlat.IOCTLS),
    ("#include <linux/fcntl.h>\n#include <asm/fcntl.h>", _xlat.FCNTL_CMDS),
    ("#include <linux/mman.h>", _xlat.MADVISE),
    ("#include <linux/time.h>", _xlat.CLOCKS),
    ("#include <linux/resource.h>", _xlat.RLIMITS),
    ("#include <linux/capability.h>", _xlat.CAPABILITIES),
    ("#include <linux/ptrace.h>", _xlat.PTRACE_REQUESTS),
    ("#include <linux/seccomp.h>", _xlat.SECCOMP_MODES),
]


def _header_values(includes: str, names: list[str]) -> dict[str, int]:
    """Evaluate ``names`` with the C preprocessor; names the headers lack are left out."""
    source = includes + "\n" + "\n".join(f'"{n}" {n}' for n in names) + "\n"
    proc = subprocess.run(
        ["gcc", "-E", "-P", "-x", "c", "-"], input=source, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    values = {}
    for line in proc.stdout.splitlines():
        m = re.fullmatch(r'"(\w+)" (.*)', line.strip())
        if not m or m.group(2) == m.group(1):
            continue
        expr = re.sub(r"(?<=[0-9a-fA-F])[uUlL]+\b", "", m.group(2))
        expr = re.sub(r"\(\s*(unsigned\s+)?(int|long)\s*\)", "", expr)
        expr = re.sub(r"\b0([0-7]+)\b", r"0o\1", expr)  # C octal literals
        try:
            values[m.group(1)] = int(eval(compile(ast.parse(expr, mode="eval"), "", "eval")))
        except (SyntaxError, NameError, TypeError):
            continue  # a macro built from something else (a struct size...)
    return values


needs_gcc = pytest.mark.skipif(
    shutil.which("gcc") is None or not Path("/usr/include/linux/mman.h").exists(),
    reason="gcc or the kernel UAPI headers (linux-libc-dev) not installed",
)


@needs_gcc
@pytest.mark.parametrize(
    ("includes", "table"), HEADER_CHECKS, ids=[c[0][10:40] for c in HEADER_CHECKS]
)
def test_flag_tables_match_headers(includes: str, table: _xlat.Flags) -> None:
    values = _header_values(includes, [name for _, name in table])
    assert len(values) >= len(table) // 2, "too few names found in the headers"
    assert {n: v for v, n in table if n in values} == values


@needs_gcc
@pytest.mark.parametrize(
    ("includes", "table"), VALUE_CHECKS, ids=[c[0][10:40] for c in VALUE_CHECKS]
)
def test_value_tables_match_headers(includes: str, table: _xlat.Values) -> None:
    values = _header_values(includes, list(table.values()))
    assert len(values) >= len(table) // 2, "too few names found in the headers"
    assert {n: v for v, n in table.items() if n in values} == values
