"""tools/syscallent.in, the one table of per-syscall facts, checked against the kernel.

The argument counts there are the kernel's own: the running kernel describes every
syscall's arguments in its syscall tracepoints (tracefs,
events/syscalls/sys_enter_NAME/format). tracefs is mounted in a private mount
namespace (``unshare -m``), so the machine's mounts are left as they were. A line
whose count differs says why after a ``#`` (strace shows the kernel's split offset of
preadv/pwritev as one argument).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys

import pytest

from sysphase.model import syscall_tables, syscalls
from tests.conftest import IN_CI, ROOT, need_root

TOOLS = ROOT / "tools"


def _facts_module():
    spec = importlib.util.spec_from_file_location("syscall_facts", TOOLS / "syscall_facts.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


#: tracepoints named otherwise than the x86_64 table names the call
TRACEPOINT_NAMES = {
    "fstat": "newfstat",
    "lstat": "newlstat",
    "stat": "newstat",
    "uname": "newuname",
    "sendfile": "sendfile64",
    "umount2": "umount",
}


def _kernel_arg_counts() -> dict[str, int]:
    """x86_64 syscall name -> the number of arguments the kernel's tracepoint lists."""
    need_root()  # mounting tracefs, even in a mount namespace of our own
    if shutil.which("unshare") is None:
        msg = "unshare (util-linux) is not installed; CI's Debian has it"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    script = (
        "mount -t tracefs nodev /sys/kernel/tracing && "
        "grep -H 'field:' /sys/kernel/tracing/events/syscalls/sys_enter_*/format"
    )
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0 or not proc.stdout:
        msg = f"the kernel's syscall tracepoints are not readable: {proc.stderr.strip()}"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    counts: dict[str, int] = {}
    pattern = r"sys_enter_(\w+)/format:\s*field:[^;]*;\s*offset:(\d+);"
    for name, offset in re.findall(pattern, proc.stdout):
        counts.setdefault(name, 0)
        if int(offset) >= 16:  # the common fields and __syscall_nr come first
            counts[name] += 1
    return counts


def test_every_x86_64_syscall_has_its_facts() -> None:
    names = syscalls.names("x86_64")
    assert names <= set(syscall_tables.NARGS), names - set(syscall_tables.NARGS)
    for cls, members in syscall_tables.CLASSES.items():
        assert set(members) <= names, cls


def test_the_core_flags_are_where_the_core_needs_them() -> None:
    facts = _facts_module().load()
    assert facts.with_flag("NR") == ["exit", "exit_group"]
    assert facts.with_flag("CL") == ["clone"] and facts.with_flag("CL3") == ["clone3"]
    assert facts.with_flag("MK") == ["write"]
    assert set(syscall_tables.NEVER_RETURNS) == {"exit", "exit_group"}


def test_bad_lines_are_named() -> None:
    facts = _facts_module()
    with pytest.raises(facts.FactsError, match=r"x\.in:2: bad count or flag"):
        facts.parse("read 3 TD\nwrite 3 XX\n", "x.in")
    with pytest.raises(facts.FactsError, match=r"x\.in:2: read appears twice"):
        facts.parse("read 3\nread 3\n", "x.in")


def test_argument_counts_are_the_kernels() -> None:
    kernel = _kernel_arg_counts()
    explained = {
        line.split()[0]
        for line in (TOOLS / "syscallent.in").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "#" in line
    }
    checked, differ = 0, []
    for name, nargs in syscall_tables.NARGS.items():
        tracepoint = TRACEPOINT_NAMES.get(name, name)
        if tracepoint not in kernel:
            continue  # obsolete or unimplemented calls have no tracepoint
        checked += 1
        if kernel[tracepoint] != nargs and name not in explained:
            differ.append((name, nargs, kernel[tracepoint]))
    assert checked > 300
    assert differ == []
