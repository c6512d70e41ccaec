"""Syscall/errno/signal tables: the generator, known numbers, libseccomp, classes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sysphase.model import syscalls
from sysphase.model.syscall_tables import SYSCALLS

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "tools" / "gen_syscall_tables.py"
TABLES = ROOT / "src" / "sysphase" / "model" / "syscall_tables.py"
HEADERS = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")

needs_headers = pytest.mark.skipif(
    not HEADERS.exists() or shutil.which("gcc") is None,
    reason="kernel UAPI headers (Debian linux-libc-dev) or gcc not installed",
)
RESOLVER = shutil.which("scmp_sys_resolver")
needs_resolver = pytest.mark.skipif(
    RESOLVER is None, reason="scmp_sys_resolver not installed (Debian package seccomp)"
)


@needs_headers
def test_generator_check_passes_on_checked_in_tables() -> None:
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


@needs_headers
def test_generator_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "syscall_tables.py"
    stale.write_text(TABLES.read_text().replace('257: "openat"', '257: "openat_old"'))
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--check", "--output", str(stale)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "out of date" in proc.stderr


@pytest.mark.parametrize(
    ("arch", "name", "nr"),
    [
        ("x86_64", "read", 0),
        ("x86_64", "getppid", 110),
        ("x86_64", "execve", 59),
        ("x86_64", "openat", 257),
        ("x86_64", "exit_group", 231),
        ("i386", "getpid", 20),
        ("i386", "mmap2", 192),
        ("i386", "socketcall", 102),
        ("x32", "read", 0x40000000),
        ("x32", "execve", 0x40000000 + 520),
        ("aarch64", "openat", 56),
        ("aarch64", "read", 63),
        ("aarch64", "write", 64),
        ("aarch64", "exit_group", 94),
        ("aarch64", "getppid", 173),
        ("aarch64", "clone", 220),
        ("aarch64", "execve", 221),
        ("aarch64", "fcntl", 25),
        ("aarch64", "newfstatat", 79),
        ("aarch64", "mmap", 222),
        ("aarch64", "renameat", 38),
    ],
)
def test_known_numbers(arch: str, name: str, nr: int) -> None:
    assert syscalls.number(arch, name) == nr
    assert syscalls.name(arch, nr) == name


def test_aarch64_has_no_legacy_calls() -> None:
    legacy = {"open", "stat", "fork", "pipe", "arch_specific_syscall", "syscalls"}
    assert not legacy & syscalls.names("aarch64")
    assert {"open", "stat", "fork", "pipe"} <= syscalls.names("x86_64")


def test_unknown_number_uses_strace_form() -> None:
    assert syscalls.name("x86_64", 999) == "syscall_0x3e7"
    assert syscalls.number("x86_64", "syscall_0x3e7") == 999
    assert syscalls.number("x86_64", "no_such_call") is None


def test_unknown_arch_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="'sparc'"):
        syscalls.name("sparc", 0)
    with pytest.raises(ValueError, match="'mips'"):
        syscalls.names("mips")


def test_arches_and_tables_agree() -> None:
    assert set(syscalls.ARCHES) == set(SYSCALLS)
    assert syscalls.ARCHES[0] == "x86_64"
    for arch in syscalls.ARCHES:
        table = SYSCALLS[arch]
        assert len(set(table.values())) == len(table), f"duplicate names on {arch}"
    assert all(nr & syscalls.X32_SYSCALL_BIT for nr in SYSCALLS["x32"])


def test_errno_names_and_texts() -> None:
    assert syscalls.errno_name(2) == "ENOENT"
    assert syscalls.errno_name(11) == "EAGAIN"  # not EWOULDBLOCK
    assert syscalls.errno_name(35) == "EDEADLK"  # not EDEADLOCK
    assert syscalls.errno_name(512) == "ERESTARTSYS"
    assert syscalls.errno_name(516) == "ERESTART_RESTARTBLOCK"
    assert syscalls.errno_name(4000) == "4000"
    assert syscalls.errno_text(2) == "No such file or directory"
    assert syscalls.errno_text(512) == "To be restarted if SA_RESTART is set"
    assert syscalls.errno_number("EWOULDBLOCK") == 11
    assert syscalls.errno_number("eperm") == 1
    assert syscalls.errno_number("13") == 13
    assert syscalls.errno_number("ENOPE") is None


@pytest.mark.parametrize(
    ("text", "nr"),
    [
        ("SIGUSR2", 12),
        ("USR2", 12),
        ("usr2", 12),
        ("12", 12),
        ("SIGKILL", 9),
        ("SIGIOT", 6),
        ("SIGRTMIN", 32),
        ("SIGRTMIN+2", 34),
        ("SIGRT_2", 34),
        ("SIGRTMAX", 64),
        ("SIGNOPE", None),
        ("65", None),
        ("0", None),
    ],
)
def test_signal_number(text: str, nr: int | None) -> None:
    assert syscalls.signal_number(text) == nr


def test_signal_names() -> None:
    assert syscalls.signal_name(6) == "SIGABRT"
    assert syscalls.signal_name(29) == "SIGIO"
    assert syscalls.signal_name(31) == "SIGSYS"
    assert syscalls.signal_name(32) == "SIGRTMIN"
    assert syscalls.signal_name(40) == "SIGRT_8"
    assert syscalls.signal_name(0) == "0"
    assert syscalls.signal_name(99) == "99"


def test_classes() -> None:
    file_class = syscalls.class_members("%file")
    assert {"open", "openat", "execve", "stat", "readlink"} <= file_class
    assert "read" not in file_class
    assert syscalls.class_members("file") == file_class
    assert {"read", "write", "close", "openat"} <= syscalls.class_members("%desc")
    assert {"socket", "connect", "sendto"} <= syscalls.class_members("%network")
    assert {"clone", "fork", "execve", "exit_group", "wait4"} <= syscalls.class_members("%process")
    assert {"mmap", "brk", "mprotect"} <= syscalls.class_members("%memory")
    assert syscalls.class_members("%%stat") >= {"stat", "lstat", "fstat", "newfstatat", "statx"}
    assert syscalls.class_members("%pure") == {
        "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getpgrp",
    }  # fmt: skip
    names = syscalls.names("x86_64")
    for cls, members in syscalls.CLASSES.items():
        assert members <= names, f"{cls} names calls x86_64 lacks: {members - names}"
    with pytest.raises(ValueError, match="'%nope'"):
        syscalls.class_members("%nope")


# libseccomp resolves the socketcall/ipc multiplexed calls to negative pseudo
# numbers on i386, so the i386 sample avoids them.
RESOLVER_SAMPLE = {
    "x86_64": "read write open close stat mmap brk ioctl pread64 access pipe select dup2 "
    "getpid socket connect clone fork execve exit wait4 kill fcntl getdents64 openat "
    "newfstatat epoll_wait prctl arch_prctl futex getrandom statx clone3 openat2",
    "x86": "read write open close stat mmap mmap2 brk ioctl access pipe dup2 getpid clone "
    "fork execve exit wait4 kill fcntl fcntl64 getdents64 openat fstatat64 epoll_wait prctl "
    "futex getrandom statx _llseek waitpid clone3",
    "x32": "read write open close stat mmap brk ioctl access pipe getpid socket connect clone "
    "fork execve exit wait4 kill fcntl openat newfstatat epoll_wait prctl futex rt_sigaction "
    "ioctl readv recvmsg getrandom statx",
    "aarch64": "read write openat close fstat mmap brk ioctl pread64 pipe2 dup3 getpid socket "
    "connect clone execve exit wait4 kill fcntl getdents64 newfstatat epoll_pwait prctl "
    "futex getrandom statx clone3 renameat lseek",
}
_OUR_ARCH = {"x86_64": "x86_64", "x86": "i386", "x32": "x32", "aarch64": "aarch64"}


@needs_resolver
@pytest.mark.parametrize("seccomp_arch", sorted(RESOLVER_SAMPLE))
def test_numbers_match_libseccomp(seccomp_arch: str) -> None:
    assert RESOLVER is not None
    arch = _OUR_ARCH[seccomp_arch]
    mismatches = []
    for name in RESOLVER_SAMPLE[seccomp_arch].split():
        proc = subprocess.run(
            [RESOLVER, "-a", seccomp_arch, name], capture_output=True, text=True, timeout=10
        )
        ours = syscalls.number(arch, name)
        if proc.stdout.strip() != str(ours):
            mismatches.append((name, ours, proc.stdout.strip()))
    assert not mismatches
