"""The guard library's generated C source: a program's phases as filters, and its interposers.

``sysphase patch`` compiles this source with ``sysphase/guard/guard.c``
(docs/patch.md). Pure: a :class:`~sysphase.policy.ir.ProgramPolicy`, the
filters libseccomp compiled for its phases (bytes) and the info to embed
in, C text out; and the info read back from a guard's bytes. The OS side
(compiling, patchelf, files) is :mod:`sysphase._host.patch`.

- :data:`INTERPOSABLE`: the glibc functions that always make one system
  call, nothing before it; a trigger ``syscall:NAME`` can be followed by
  the guard when NAME is there.
- :func:`phase_hooks`: which of those functions start which later phases
  (a one-sentence :class:`~sysphase.errors.UsageError` for a trigger the
  guard cannot follow).
- :func:`guard_source`: the C file: one ``struct sock_filter`` array per
  phase (the same rendering as the ``c-bpf`` format), the Landlock rulesets
  and the interposers for their switches (:mod:`sysphase.policy.guard_landlock`),
  the phase table, the info string and one interposer per hooked function.
- :func:`read_guard_info`: the info JSON compiled into a guard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from sysphase.errors import UsageError
from sysphase.policy import guard_landlock
from sysphase.policy.bpf_sim import INSN
from sysphase.policy.formats._c_common import c_comment, c_string, sock_filter_array
from sysphase.policy.ir import ProgramPolicy

__all__ = [
    "GUARD_SUFFIX",
    "INFO_MAGIC",
    "INTERPOSABLE",
    "MAX_PHASES",
    "PROBE_ERRNO",
    "LibcFunction",
    "guard_entries",
    "guard_source",
    "phase_hooks",
    "read_guard_info",
]

#: The guard of OUT is OUT's file name plus this, in OUT's directory.
GUARD_SUFFIX: Final = ".sysphase-guard.so"
#: The start of the info string compiled into every guard (JSON follows, then a NUL).
INFO_MAGIC: Final = b"sysphase-guard/1 "
#: How many phases a guard can hold (a phase set is a 64-bit mask in guard.c).
MAX_PHASES: Final = 64
#: Phase k's filter answers the probe prctl (seccomp.PROBE_OPTION) with errno PROBE_ERRNO + k
#: (SYSPHASE_GUARD_PROBE_ERRNO in guard.h): the guard's check that an install took effect.
PROBE_ERRNO: Final = 3000


# --- the functions the guard can interpose --------------------------------------------------


@dataclass(frozen=True, slots=True)
class LibcFunction:
    """A glibc function, given as its C prototype, that always makes one system call.

    ``params`` is the parameter list as glibc's header declares it (with
    glibc's own argument types such as ``__SOCKADDR_ARG``, so the definition
    the guard writes is compatible with the declaration: gcc checks it).
    """

    name: str
    ret: str
    params: str
    header: str

    @property
    def args(self) -> str:
        """The parameter names, comma-separated, to pass the call on."""
        if self.params == "void":
            return ""
        return ", ".join(
            re.findall(r"\w+", re.sub(r"\[.*?\]", "", p))[-1] for p in self.params.split(",")
        )


def _table(rows: str) -> dict[str, tuple[LibcFunction, ...]]:
    """Parse :data:`INTERPOSABLE`'s table: ``<header>`` lines, then ``[SYSCALL:] PROTOTYPE``."""
    out: dict[str, list[LibcFunction]] = {}
    header = ""
    for line in rows.strip().splitlines():
        if line.startswith("<"):
            header = line.strip("<>")
            continue
        m = re.fullmatch(r"(?:(\w+): )?(.+?)\b(\w+)\((.*)\)", line.strip())
        if m is None:
            raise ValueError(f"bad prototype line {line!r}")
        syscall, ret, name, params = m.groups()
        fn = LibcFunction(name, ret.strip(), params, header)
        out.setdefault(syscall or name, []).append(fn)
    return {k: tuple(v) for k, v in out.items()}


#: system call -> the glibc functions that make it, and nothing else first: each always
#: makes that call (no answer from user space, no other call before it) on x86_64 glibc
#: 2.36, which tests/e2e/test_patch_interposable.py checks with strace. A trigger ``syscall:NAME``
#: can be followed by the guard when NAME is here. (The table: a ``<header>`` line, then
#: one prototype per line, preceded by the system call's name where it differs.
#: Parameters are declared as glibc does, less ``restrict``, which compatibility ignores.)
INTERPOSABLE: Final[Mapping[str, tuple[LibcFunction, ...]]] = _table(
    """
<sys/socket.h>
int accept(int fd, __SOCKADDR_ARG addr, socklen_t *len)
int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *len, int flags)
int bind(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
int listen(int fd, int backlog)
int socket(int domain, int type, int protocol)
int socketpair(int domain, int type, int protocol, int fds[2])
int shutdown(int fd, int how)
int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
int getsockopt(int fd, int level, int name, void *value, socklen_t *len)
ssize_t sendto(int fd, const void *buf, size_t n, int flags, __CONST_SOCKADDR_ARG a, socklen_t len)
sendto: ssize_t send(int fd, const void *buf, size_t n, int flags)
ssize_t recvfrom(int fd, void *buf, size_t n, int flags, __SOCKADDR_ARG addr, socklen_t *len)
recvfrom: ssize_t recv(int fd, void *buf, size_t n, int flags)
ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
int sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags)
int recvmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags, struct timespec *timeout)
<sys/epoll.h>
int epoll_create1(int flags)
int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
int epoll_wait(int epfd, struct epoll_event *events, int n, int timeout)
int epoll_pwait(int epfd, struct epoll_event *events, int n, int timeout, const sigset_t *mask)
<poll.h>
int poll(struct pollfd *fds, nfds_t n, int timeout)
int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask)
<unistd.h>
ssize_t read(int fd, void *buf, size_t n)
ssize_t write(int fd, const void *buf, size_t n)
pread64: ssize_t pread(int fd, void *buf, size_t n, off_t offset)
ssize_t pread64(int fd, void *buf, size_t n, off64_t offset)
pwrite64: ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset)
ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t offset)
pipe2: int pipe(int fds[2])
int pipe2(int fds[2], int flags)
pid_t getppid(void)
clock_nanosleep: int usleep(useconds_t usec)
clock_nanosleep: unsigned int sleep(unsigned int seconds)
int chdir(const char *path)
int fchdir(int fd)
int chroot(const char *path)
int setuid(uid_t uid)
int setgid(gid_t gid)
int setresuid(uid_t ruid, uid_t euid, uid_t suid)
int setresgid(gid_t rgid, gid_t egid, gid_t sgid)
<time.h>
clock_nanosleep: int nanosleep(const struct timespec *request, struct timespec *remaining)
<sys/uio.h>
ssize_t readv(int fd, const struct iovec *iov, int n)
ssize_t writev(int fd, const struct iovec *iov, int n)
<sys/eventfd.h>
eventfd2: int eventfd(unsigned int count, int flags)
<sys/signalfd.h>
signalfd4: int signalfd(int fd, const sigset_t *mask, int flags)
<sys/wait.h>
pid_t wait4(pid_t pid, int *status, int options, struct rusage *usage)
wait4: pid_t waitpid(pid_t pid, int *status, int options)
wait4: pid_t wait(int *status)
int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
<signal.h>
int kill(pid_t pid, int sig)
rt_sigtimedwait: int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *ts)
rt_sigtimedwait: int sigwaitinfo(const sigset_t *set, siginfo_t *info)
<sys/random.h>
ssize_t getrandom(void *buf, size_t n, unsigned int flags)
<grp.h>
int setgroups(size_t n, const gid_t *groups)
<sched.h>
int unshare(int flags)
int setns(int fd, int type)
"""
)


# --- which call starts which phase ----------------------------------------------------------


def _trigger_error(program: ProgramPolicy, index: int, binary: str, policy_path: str) -> str:
    phase = program.phases[index]
    kind, _, value = phase.trigger.partition(":")
    if kind == "syscall" and ("@" in value or "," in value):
        why = "it does not follow a trigger's @main or after= (every thread's call switches)"
    elif kind == "syscall":
        why = (
            f"no libc function it can interpose makes {value} (raw system calls and libc's "
            "internal calls never pass through it)"
        )
    elif kind in ("symbol", "addr"):
        why = "a function or address inside the program is out of a library's reach"
    elif kind == "signal":
        why = "it does not watch signal deliveries"
    elif kind == "marker":
        why = "it does not watch SYSPHASE_MARK calls"
    else:
        why = "it only follows syscall triggers reached through libc functions"
    return (
        f'phase "{phase.name}" of {program.executable} starts at {phase.trigger}, which the '
        f"guard cannot see: {why}; use sysphase run --policy {policy_path} -- {binary}"
    )


def phase_hooks(
    program: ProgramPolicy, binary: str = "BINARY", policy_path: str = "POLICY"
) -> dict[str, tuple[LibcFunction, int]]:
    """``{function name: (function, phase mask)}``: which call starts which later phases.

    UsageError naming the first trigger the guard cannot follow (anything but
    ``syscall:NAME`` with NAME in :data:`INTERPOSABLE`), or too many phases.
    """
    if len(program.phases) > MAX_PHASES:
        raise UsageError(
            f"{program.executable} has {len(program.phases)} phases; a guard holds at most "
            f"{MAX_PHASES}"
        )
    hooks: dict[str, tuple[LibcFunction, int]] = {}
    for i, phase in enumerate(program.phases[1:], start=1):
        kind, _, value = phase.trigger.partition(":")
        functions = INTERPOSABLE.get(value) if kind == "syscall" else None
        if not functions:
            raise UsageError(_trigger_error(program, i, binary, policy_path))
        for f in functions:
            _, mask = hooks.get(f.name, (f, 0))
            hooks[f.name] = (f, mask | (1 << i))
    return hooks


# --- the generated C file -------------------------------------------------------------------


def _prologue(program: ProgramPolicy, headers: Sequence[str]) -> list[str]:
    return [
        "/* Generated by sysphase patch: the seccomp filters and Landlock rulesets of one program,",
        " * for guard.c.",
        f" * Program: {c_comment(program.executable)}",
        " * Do not edit: sysphase patch writes it again from the policy. */",
        "#define _GNU_SOURCE",
        '#include "guard.h"',
        "",
        "#include <stddef.h>",
        *(f"#include <{h}>" for h in headers),
    ]


def _phases(program: ProgramPolicy, filters: Sequence[bytes]) -> list[str]:
    """One filter array per phase, then ``sysphase_guard_phases`` and its length."""
    lines, rulesets = guard_landlock.rulesets(program)
    table: list[str] = []
    for i, (phase, prog) in enumerate(zip(program.phases, filters, strict=True)):
        count = len(prog) // INSN.size
        lines += [
            "",
            f"/* Phase {c_comment(phase.name)} (trigger: {c_comment(phase.trigger)}): "
            f"{len(phase.allowed)} allowed system calls, {count} instructions. */",
            *sock_filter_array(f"static const struct sock_filter filter_{i}", prog),
        ]
        table.append(
            f"    {{{c_string(phase.name)}, {c_string(phase.trigger)}, filter_{i}, {count}, "
            f"{rulesets[i]}}},"
        )
    return [
        *lines,
        *guard_landlock.abi_table(),
        "",
        "const struct sysphase_guard_phase sysphase_guard_phases[] = {",
        *table,
        "};",
        f"const unsigned sysphase_guard_nphases = {len(program.phases)};",
    ]


def _info(info: Mapping[str, object]) -> list[str]:
    text = json.dumps(dict(info), sort_keys=True, separators=(",", ":"))
    return [
        "",
        "__attribute__((used)) const char sysphase_guard_info[] =",
        f"    {c_string(INFO_MAGIC.decode() + text)};",
    ]


def _interposers(
    program: ProgramPolicy, hooks: Mapping[str, tuple[LibcFunction, int]]
) -> list[str]:
    """The libc pointers, ``sysphase_guard_hooks`` and one exported definition per function
    (and the Landlock switches' interposers)."""
    names = sorted(hooks)
    landlock_names, landlock_lines = guard_landlock.interposers(program)
    pointers = [*names, *landlock_names]
    lines = ["", *(f"static __typeof__({name}) *real_{name};" for name in pointers)]
    lines += ["", "const struct sysphase_guard_hook sysphase_guard_hooks[] = {"]
    lines += [f'    {{"{name}", (void **)&real_{name}}},' for name in pointers]
    lines += ["    {NULL, NULL},", "};"]
    for name in names:
        f, mask = hooks[name]
        starts = ", ".join(
            f'"{c_comment(phase.name)}"' for k, phase in enumerate(program.phases) if mask >> k & 1
        )
        lines += [
            "",
            f"/* The first call starts phase {starts} (while the one before is in force). */",
            f"SYSPHASE_GUARD_EXPORT {f.ret} {name}({f.params})",
            "{",
            f"    sysphase_guard_enter({mask:#x}ULL);",
            f"    if (real_{name} == NULL)",
            f'        sysphase_guard_resolve("{name}", (void **)&real_{name});',
            f"    return real_{name}({f.args});",
            "}",
        ]
    return lines + landlock_lines


def guard_source(
    program: ProgramPolicy,
    filters: Sequence[bytes],
    hooks: Mapping[str, tuple[LibcFunction, int]],
    info: Mapping[str, object],
) -> str:
    """The generated C file compiled with guard.c: filters, phases, info, interposers."""
    if len(filters) != len(program.phases):
        raise ValueError(f"{len(program.phases)} phases but {len(filters)} filters")
    headers = {f.header for f, _ in hooks.values()}
    if guard_landlock.interposers(program)[0]:
        headers |= set(guard_landlock.HEADERS)
    lines = [
        *_prologue(program, sorted(headers)),
        *_phases(program, filters),
        *_info(info),
        *_interposers(program, hooks),
    ]
    return "\n".join(lines) + "\n"


# --- reading a guard back -------------------------------------------------------------------


def guard_entries(needed: Sequence[str]) -> tuple[str, ...]:
    """The needed-library entries that name a sysphase guard (``$ORIGIN/OUT.sysphase-guard.so``)."""
    return tuple(n for n in needed if n.endswith(GUARD_SUFFIX))


def read_guard_info(data: bytes) -> dict[str, object] | None:
    """The info JSON compiled into a guard's bytes, or None if there is none."""
    start = data.find(INFO_MAGIC)
    if start < 0:
        return None
    end = data.find(b"\0", start)
    try:
        info = json.loads(data[start + len(INFO_MAGIC) : end if end >= 0 else None])
    except (ValueError, UnicodeDecodeError):
        return None
    return info if isinstance(info, dict) else None
