"""strace-like decoding of synthetic events against goldens taken from strace 6.1 output.

Each golden line must come out whole, from its call and result parts, and
from the styled spans the terminal view prints.
"""

from __future__ import annotations

import pytest

from sysphase.model.events import SyscallEvent
from sysphase.report.decode import format_call, format_line, format_result, spans
from tests.unit.decode_samples import PATH, ev

GOLDEN = [
    (
        ev("openat", (-100, PATH, 0o2000000), 3, {1: b"/etc/ld.so.cache"}),
        'openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3',
    ),
    (
        ev(
            "openat",
            (-100, PATH, 0o2 | 0o7700 | 0o4010000 | 0o1400000 | 0o2000000, 0o640),
            3,
            {1: b"/f"},
        ),
        'openat(AT_FDCWD, "/f", O_RDWR|O_CREAT|O_EXCL|O_NOCTTY|O_TRUNC|O_APPEND|O_NONBLOCK'
        "|O_SYNC|O_NOFOLLOW|O_NOATIME|O_CLOEXEC, 0640) = 3",
    ),
    (
        ev("openat", (-100, PATH, 0o10000 | 0o40000 | 0o2000000 | 0o10000000 | 0o220000), 3),
        "openat(AT_FDCWD, 0x7ffd0000, O_RDONLY|O_DSYNC|O_DIRECT|O_CLOEXEC|O_PATH|O_DIRECTORY"
        "|FASYNC) = 3",
    ),
    (
        ev("openat", (-100, PATH, 0o20200002 | 0o2000000, 0), 4, {1: b"/tmp"}),
        'openat(AT_FDCWD, "/tmp", O_RDWR|O_CLOEXEC|O_TMPFILE, 000) = 4',
    ),
    (
        ev("mmap", (0, 4096, 0, 0x22 | 0x40 | 0x80000 | 0x200, -1, 0x1000), 0x402B6000),
        "mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_32BIT|MAP_SYNC|0x200, -1, "
        "0x1000) = 0x402b6000",
    ),
    (
        ev("mmap", (0x10000, 4096, 3, 0x3 | 0x10 | 0x20 | 0x4000 | 0x80000 | 1 << 26, -1, 0), -22),
        "mmap(0x10000, 4096, PROT_READ|PROT_WRITE, MAP_SHARED_VALIDATE|MAP_FIXED|MAP_ANONYMOUS"
        "|MAP_NORESERVE|MAP_SYNC|1<<MAP_HUGE_SHIFT, -1, 0) = -1 EINVAL (Invalid argument)",
    ),
    (
        ev("mprotect", (0x10000, 4096, 0x10)),
        "mprotect(0x10000, 4096, 0x10 /* PROT_??? */) = 0",
    ),
    (
        ev("clone", (0x1200011, 0, 0, 0x7F3EF2B6AA10, 0), 12345),
        "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, "
        "child_tidptr=0x7f3ef2b6aa10) = 12345",
    ),
    (
        ev("clone", (0x3D0F00, 0x7F00AA, 0x7F00BB, 0x7F00CC, 0x7F00DD), 12346),
        "clone(child_stack=0x7f00aa, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND"
        "|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, "
        "parent_tid=0x7f00bb, tls=0x7f00dd, child_tidptr=0x7f00cc) = 12346",
    ),
    (
        ev("socket", (2, 1 | 0o2000000 | 0o4000, 0), 5),
        "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, IPPROTO_IP) = 5",
    ),
    (ev("socket", (10, 2, 17), 6), "socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDP) = 6"),
    (ev("socket", (1, 5, 0), 7), "socket(AF_UNIX, SOCK_SEQPACKET, 0) = 7"),
    (ev("socket", (16, 3, 0), 8), "socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) = 8"),
    (ev("socket", (17, 3, 768), 9), "socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)) = 9"),
    (
        ev("access", (PATH, 4), -2, {0: b"/etc/ld.so.preload"}),
        'access("/etc/ld.so.preload", R_OK) = -1 ENOENT (No such file or directory)',
    ),
    (ev("access", (PATH, 0), 0, {0: b"/x"}), 'access("/x", F_OK) = 0'),
    (
        ev("access", (PATH, 2 | 8), -22, {0: b"/x"}),
        'access("/x", W_OK|0x8) = -1 EINVAL (Invalid argument)',
    ),
    (
        ev("lseek", (999, -5, 5), -9),
        "lseek(999, -5, 0x5 /* SEEK_??? */) = -1 EBADF (Bad file descriptor)",
    ),
    (ev("lseek", (3, 0, 0), 0), "lseek(3, 0, SEEK_SET) = 0"),
    (ev("fcntl", (3, 1), 1), "fcntl(3, F_GETFD) = 0x1 (flags FD_CLOEXEC)"),
    (ev("fcntl", (3, 3), 0x8000), "fcntl(3, F_GETFL) = 0x8000 (flags O_RDONLY|O_LARGEFILE)"),
    (ev("fcntl", (3, 2, 1)), "fcntl(3, F_SETFD, FD_CLOEXEC) = 0"),
    (ev("fcntl", (3, 1030, 10), 11), "fcntl(3, F_DUPFD_CLOEXEC, 10) = 11"),
    (
        ev("fcntl", (999, 99, 1), -9),
        "fcntl(999, 0x63 /* F_??? */, 0x1) = -1 EBADF (Bad file descriptor)",
    ),
    (ev("kill", (99999999, 40), -3), "kill(99999999, SIGRT_8) = -1 ESRCH (No such process)"),
    (ev("tgkill", (7, 8, 9)), "tgkill(7, 8, SIGKILL) = 0"),
    (ev("rt_sigaction", (2, 0, 0, 8)), "rt_sigaction(SIGINT, NULL, NULL, 8) = 0"),
    (ev("rt_sigprocmask", (2, 0, 0, 8)), "rt_sigprocmask(SIG_SETMASK, NULL, NULL, 8) = 0"),
    (ev("prctl", (38, 1, 0, 0, 0)), "prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) = 0"),
    (
        ev("prctl", (22, 2, 0x1234), -14),
        "prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, 0x1234) = -1 EFAULT (Bad address)",
    ),
    (ev("prctl", (3,), 1), "prctl(PR_GET_DUMPABLE) = 1 (SUID_DUMP_USER)"),
    (ev("prctl", (23, 0), 1), "prctl(PR_CAPBSET_READ, CAP_CHOWN) = 1"),
    (
        ev("prctl", (99, 0, 0, 0, 0), -22),
        "prctl(0x63 /* PR_??? */, 0, 0, 0, 0) = -1 EINVAL (Invalid argument)",
    ),
    (ev("arch_prctl", (0x1002, 0x7FAA035C5B80)), "arch_prctl(ARCH_SET_FS, 0x7faa035c5b80) = 0"),
    (ev("arch_prctl", (0x1011,), 1), "arch_prctl(ARCH_GET_CPUID) = 1"),
    (
        ev("futex", (0x7F0, 128, 2, 0), -11),
        "futex(0x7f0, FUTEX_WAIT_PRIVATE, 2, NULL) = -1 EAGAIN (Resource temporarily unavailable)",
    ),
    (ev("futex", (0x7F0, 129, 1)), "futex(0x7f0, FUTEX_WAKE_PRIVATE, 1) = 0"),
    (
        ev("futex", (0x7F0, 137, 2, 0, 0, 0xFFFFFFFF), -11),
        "futex(0x7f0, FUTEX_WAIT_BITSET_PRIVATE, 2, NULL, FUTEX_BITSET_MATCH_ANY) "
        "= -1 EAGAIN (Resource temporarily unavailable)",
    ),
    (
        ev("futex", (0x7F0, 133, 1, 1, 0x7F0, 0x14000001)),
        "futex(0x7f0, FUTEX_WAKE_OP_PRIVATE, 1, 1, 0x7f0, "
        "FUTEX_OP_ADD<<28|0<<12|FUTEX_OP_CMP_GT<<24|0x1) = 0",
    ),
    (
        ev("futex", (0x7F0, 0x101, 1), -38),
        "futex(0x7f0, 0x101 /* FUTEX_??? */, 1) = -1 ENOSYS (Function not implemented)",
    ),
    (ev("ioctl", (1, 0x5401, 0x7FFD10)), "ioctl(1, TCGETS, 0x7ffd10) = 0"),
    (ev("ioctl", (1, 0x5413, 0x7FFD10)), "ioctl(1, TIOCGWINSZ, 0x7ffd10) = 0"),
    (ev("ioctl", (3, 0x5451)), "ioctl(3, FIOCLEX) = 0"),
    (
        ev("ioctl", (999, 0x1234, 0), -9),
        "ioctl(999, _IOC(_IOC_NONE, 0x12, 0x34, 0), 0) = -1 EBADF (Bad file descriptor)",
    ),
    (
        ev("wait4", (-1, 0, 1 | 0x40000000, 0), -10),
        "wait4(-1, NULL, WNOHANG|__WALL, NULL) = -1 ECHILD (No child processes)",
    ),
    (
        ev("wait4", (-1, 0, 0x80000000 | 0x20000000 | 1, 0), 0),
        "wait4(-1, NULL, WNOHANG|__WCLONE|__WNOTHREAD, NULL) = 0",
    ),
    (ev("exit_group", (3,), None), "exit_group(3) = ?"),
    (
        ev("write", (999, PATH, 15), -9, {1: b"hello\nworld\0\x01\x00123"}),
        'write(999, "hello\\nworld\\0\\1\\0001", 15) = -1 EBADF (Bad file descriptor)',
    ),
    (
        ev("write", (999, PATH, 40), -9, {1: b"01234567890123456789012345678901"}),
        'write(999, "01234567890123456789012345678901"..., 40) = -1 EBADF (Bad file descriptor)',
    ),
    (
        ev(
            "readlink",
            (PATH, PATH + 64, 300),
            43,
            {0: b"/proc/self/exe", 1: b"/root/.pyenv/versions/3.11.7/bin/python3.11"},
        ),
        'readlink("/proc/self/exe", "/root/.pyenv/versions/3.11.7/bin"..., 300) = 43',
    ),
    (ev("read", (3, PATH, 300), 3, {1: b"vm\n"}), 'read(3, "vm\\n", 300) = 3'),
    (ev("read", (3, PATH, 300), -9), "read(3, 0x7ffd0000, 300) = -1 EBADF (Bad file descriptor)"),
    (ev("getcwd", (PATH, 300), 8, {0: b"/tmp/sp\0"}), 'getcwd("/tmp/sp", 300) = 8'),
    (
        ev("getrandom", (PATH, 8, 0), 8, {0: bytes.fromhex("504a32483d73dfc9")}),
        'getrandom("\\x50\\x4a\\x32\\x48\\x3d\\x73\\xdf\\xc9", 8, 0) = 8',
    ),
    (
        ev("openat", (-100, PATH, 0), -2, {1: b'/tmp/\x01\x02\n\t"\\abc\x7f\xff'}),
        'openat(AT_FDCWD, "/tmp/\\1\\2\\n\\t\\"\\\\abc\\177\\377", O_RDONLY) '
        "= -1 ENOENT (No such file or directory)",
    ),
    (
        ev("openat", (-100, PATH, 0), -2, {1: b"\x1b0\x1b9a"}),
        'openat(AT_FDCWD, "\\0330\\339a", O_RDONLY) = -1 ENOENT (No such file or directory)',
    ),
    (
        ev("openat", (-100, PATH, 0), 3, {1: b"a" * 256}),
        'openat(AT_FDCWD, "' + "a" * 256 + '"..., O_RDONLY) = 3',
    ),
    (
        ev("execve", (PATH, PATH + 8, PATH + 16), -13, {0: b"/nonexist", 1: b"a\0b c"}),
        'execve("/nonexist", ["a", "b c"], 0x7ffd0010) = -1 EACCES (Permission denied)',
    ),
    (
        ev("mknodat", (-100, PATH, 0o20600, 0x103), -20, {1: b"/x"}),
        'mknodat(AT_FDCWD, "/x", S_IFCHR|0600, makedev(0x1, 0x3)) = -1 ENOTDIR (Not a directory)',
    ),
    (ev("mknod", (PATH, 0o100644, 0), 0, {0: b"/x"}), 'mknod("/x", S_IFREG|0644) = 0'),
    (ev("umask", (0o22,), 0o22), "umask(022) = 022"),
    (ev("brk", (0,), 0x55B6B76FC000), "brk(NULL) = 0x55b6b76fc000"),
    (ev("getpid", (), 42), "getpid() = 42"),
    (ev("poll", (0, 0, 100), 0), "poll(NULL, 0, 100) = 0 (Timeout)"),
    (
        ev("mremap", (0x10000, 4096, 8192, 1), -14),
        "mremap(0x10000, 4096, 8192, MREMAP_MAYMOVE) = -1 EFAULT (Bad address)",
    ),
    (
        ev("pipe2", (0, 0o2004000), -14),
        "pipe2(NULL, O_NONBLOCK|O_CLOEXEC) = -1 EFAULT (Bad address)",
    ),
    (
        ev("eventfd2", (0, 0o2004001), 17),
        "eventfd2(0, EFD_SEMAPHORE|EFD_CLOEXEC|EFD_NONBLOCK) = 17",
    ),
    (
        ev("statx", (-100, PATH, 0x2800, 0x206, 0), -14, {1: b"/n"}),
        'statx(AT_FDCWD, "/n", AT_STATX_FORCE_SYNC|AT_NO_AUTOMOUNT,'
        " STATX_MODE|STATX_NLINK|STATX_SIZE, NULL) = -1 EFAULT (Bad address)",
    ),
    (
        ev("sendto", (999, PATH, 3, 0x4040, 0, 0), -9, {1: b"abc"}),
        'sendto(999, "abc", 3, MSG_DONTWAIT|MSG_NOSIGNAL, NULL, 0) '
        "= -1 EBADF (Bad file descriptor)",
    ),
    (
        ev("setsockopt", (999, 6, 1, 0, 4), -9),
        "setsockopt(999, SOL_TCP, TCP_NODELAY, NULL, 4) = -1 EBADF (Bad file descriptor)",
    ),
    (
        ev("mount", (PATH, PATH + 8, PATH + 16, 0x403, 0), -1, {0: b"src", 1: b"/n", 2: b"tmpfs"}),
        'mount("src", "/n", "tmpfs", MS_RDONLY|MS_NOSUID|MS_NOATIME, NULL) '
        "= -1 EPERM (Operation not permitted)",
    ),
    (
        ev("clock_gettime", (0xFFFFFFFA, 0), -14),
        "clock_gettime(0xfffffffa /* CLOCK_??? */, NULL) = -1 EFAULT (Bad address)",
    ),
    (ev("prlimit64", (0, 7, 0, 0)), "prlimit64(0, RLIMIT_NOFILE, NULL, NULL) = 0"),
    (
        ev("read", (0, PATH, 4096), -512),
        "read(0, 0x7ffd0000, 4096) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)",
    ),
    (
        ev("nanosleep", (PATH, 0), -516),
        "nanosleep(0x7ffd0000, NULL) = ? ERESTART_RESTARTBLOCK (Interrupted by signal)",
    ),
]


@pytest.mark.parametrize(("event", "expected"), GOLDEN, ids=[g[1][:40] for g in GOLDEN])
def test_golden_lines(event: SyscallEvent, expected: str) -> None:
    assert format_line(event, show_pid=False) == expected
    assert format_call(event) + format_result(event) == expected


def test_pid_prefix() -> None:
    event = ev("openat", (-100, PATH, 0o2000000), 3, {1: b"/etc/ld.so.cache"}, pid=1234)
    assert format_line(event, show_pid=True) == (
        '[pid 1234] openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3'
    )


def test_spans_join_to_the_line_and_use_known_styles() -> None:
    styles = {"name", "string", "number", "flag", "error", "result", "pid", "plain"}
    for event, _ in GOLDEN:
        for show_pid in (False, True):
            pieces = spans(event, show_pid)
            assert "".join(text for text, _ in pieces) == format_line(event, show_pid)
            assert {style for _, style in pieces} <= styles
    failing = spans(ev("access", (PATH, 4), -2, {0: b"/x"}), show_pid=True)
    assert ("[pid 1234]", "pid") in failing
    assert ("access", "name") in failing
    assert ('"/x"', "string") in failing
    assert ("R_OK", "flag") in failing
    assert ("ENOENT", "error") in failing
    ok = spans(ev("getpid", (), 42))
    assert ok[-1] == ("42", "result")
