"""Decoding beyond the goldens: unknown calls, other ABIs, JSON, every call with any args."""

from __future__ import annotations

import pytest

from sysphase.model import syscalls
from sysphase.model.events import SyscallEvent
from sysphase.report._signatures import NARGS
from sysphase.report.decode import format_call, format_line, to_json
from tests.unit.decode_samples import M64, PATH, ev, syscalls_table


def test_unknown_syscall_shows_all_six_args_in_hex() -> None:
    event = SyscallEvent(5, "x86_64", 540, (1, 2, 3, 0, 0x7FFF1234, M64), -38, (None,) * 6)
    assert format_line(event, show_pid=False) == (
        "syscall_0x21c(0x1, 0x2, 0x3, 0, 0x7fff1234, 0xffffffffffffffff) "
        "= -1 ENOSYS (Function not implemented)"
    )


def test_known_call_without_signature_shows_its_arg_count_in_hex() -> None:
    event = ev("kcmp", (1, 2, 0, 0x10, 0x20, 0x99))
    assert NARGS["kcmp"] == 5
    assert format_call(event) == "kcmp(0x1, 0x2, 0, 0x10, 0x20)"


def test_i386_calls_carry_the_arch_and_32_bit_args() -> None:
    getpid = SyscallEvent(42, "i386", 20, (0,) * 6, 42, (None,) * 6)
    assert format_line(getpid, show_pid=False) == "[i386] getpid() = 42"
    assert format_line(getpid, show_pid=True) == "[pid 42] [i386] getpid() = 42"
    # upper register halves are ignored: -100 in 32 bits is AT_FDCWD
    openat = ev("openat", (0xFFFFFF9C, PATH, 0), 3, {1: b"/x"}, arch="i386")
    assert format_call(openat) == 'openat(AT_FDCWD, "/x", O_RDONLY)'
    mmap2 = ev("mmap2", (0, 4096, 3, 0x22, 0xFFFFFFFF, 0), 0xF7F00000, arch="i386")
    assert format_line(mmap2, show_pid=False) == (
        "[i386] mmap2(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) "
        "= 0xf7f00000"
    )
    stat64 = ev("stat64", (PATH, 0), -2, {0: b"/n"}, arch="i386")
    assert format_call(stat64) == 'stat64("/n", NULL)'


def test_x32_and_aarch64() -> None:
    x32 = ev("read", (3, PATH, 10), 2, {1: b"hi"}, arch="x32")
    assert format_line(x32, show_pid=False) == '[x32] read(3, "hi", 10) = 2'
    # arm64 numbers its open flags differently: O_DIRECTORY is 0o40000 there
    arm = ev("openat", (-100, PATH, 0o40000 | 0o2000000), 3, {1: b"."}, arch="aarch64")
    assert format_line(arm, show_pid=False) == (
        'openat(AT_FDCWD, ".", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 3'
    )
    clone = ev("clone", (0x11, 0, 0, 0, 0), 7, arch="aarch64")
    assert format_call(clone) == "clone(child_stack=NULL, flags=SIGCHLD)"


def test_to_json() -> None:
    event = ev("openat", (-100, PATH, 0o2000000), -2, {1: b"/etc/\xc3\xa9"})
    out = to_json(event)
    assert out == {
        "pid": 1234,
        "arch": "x86_64",
        "syscall": "openat",
        "nr": 257,
        "args": ["AT_FDCWD", "/etc/é", "O_RDONLY|O_CLOEXEC"],
        "raw_args": [(-100) & M64, PATH, 0o2000000, 0],
        "retval": -2,
        "error": "ENOENT",
        "time_ns": 0,
    }
    execve = to_json(ev("execve", (PATH, PATH, 0), 0, {0: b"/bin/ls", 1: b"ls\0-l"}))
    assert execve["args"] == ["/bin/ls", ["ls", "-l"], "NULL"]
    assert execve["error"] is None
    write = to_json(ev("write", (1, PATH, 3), 3, {1: b"hi\n"}))
    assert write["args"] == [1, "hi\n", 3]
    gone = to_json(ev("exit_group", (0,), None))
    assert gone["retval"] is None and gone["error"] is None and gone["raw_args"] == [0]


@pytest.mark.parametrize("arch", syscalls.ARCHES)
def test_every_call_decodes_with_any_args(arch: str) -> None:
    prefix = f"[{arch}] " if arch in ("i386", "x32") else ""
    for nr, name in sorted(syscalls_table(arch).items()):
        for args in ((0,) * 6, (M64,) * 6, (1, 2, 3, 4, 5, 6)):
            for retval in (0, -14, None):
                event = SyscallEvent(1, arch, nr, args, retval, (b"x",) * 6)  # type: ignore[arg-type]
                line = format_line(event, show_pid=True)
                assert line.startswith(f"[pid 1] {prefix}{name}(")
                assert to_json(event)["syscall"] == name
