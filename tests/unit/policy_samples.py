"""Synthetic profiles for the policy generation tests (tests/unit/test_policy_*.py).

``server_profile`` is a server with a start and a serve phase, threads, two
forks and an exec; ``marker_profile`` is one process with many marker
phases; ``phase`` and ``proc`` build any other. ``names`` and ``the_phase``
read a generated policy; ALWAYS is what every phase allows whatever was seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Phase, ProcessNode, Profile, SyscallStat
from sysphase.model.tree import NodeKind
from sysphase.policy.ir import Policy, PolicyPhase

ALWAYS = {
    "clock_gettime",
    "gettimeofday",
    "time",
    "getcpu",
    "restart_syscall",
    "rt_sigreturn",
    "exit",
    "exit_group",
}


Calls = Mapping[str, int | tuple[int, int]]
Args = Mapping[str, Mapping[str, Sequence[int]]]


def phase(index: int, name: str, trigger: str, calls: Calls, args: Args | None = None) -> Phase:
    """A phase; a call count may be (calls, unfinished)."""
    stats = {
        k: SyscallStat(v[0], 0, 0, v[1]) if isinstance(v, tuple) else SyscallStat(v)
        for k, v in calls.items()
    }
    values = {
        sc: FrozenMap({i: tuple(sorted(vals)) for i, vals in by.items()})
        for sc, by in (args or {}).items()
    }
    return Phase(index, name, trigger, FrozenMap(stats), FrozenMap(values))


def proc(ident: int, parent: int | None, kind: NodeKind, exe: str, *phases: Phase) -> ProcessNode:
    argv = (exe.rsplit("/", 1)[-1],)
    return ProcessNode(ident, parent, kind, exe, argv, None, None, None, tuple(phases))


SOCK_NONBLOCK, SOCK_CLOEXEC = 0o4000, 0o2000000
SERVER = "/usr/bin/server"
SH = "/bin/sh"
SERVE = "syscall:epoll_wait"


def server_profile() -> Profile:
    """A server with a start and a serve phase, threads, two forks and an exec.

    0 server (spawn): start {openat 2, read 3, clone 1, socket 1, mmap 2},
                      serve {epoll_wait 5, accept4 2, i386:getpid 1}
    1 └ thread (in start): start {futex 1}, serve {futex 4, recvfrom 3}
    2   └ thread of the thread (in serve): serve {sendto 2}
    3 ├ fork in start: start {write 1}
    4 └ fork by thread 1 in serve: serve {pipe2 1, execve 1}
    5   └ exec /bin/sh: sh {getpid 1, exit_group unfinished 1}
    """
    return Profile(
        (SERVER,),
        "x86_64",
        1,
        True,
        (
            proc(
                0,
                None,
                NodeKind.SPAWN,
                SERVER,
                phase(
                    0,
                    "start",
                    "start",
                    {"openat": 2, "read": 3, "clone": 1, "socket": 1, "mmap": 2},
                    {
                        "socket": {"0": [2], "1": [1 | SOCK_CLOEXEC]},
                        "mmap": {"2": [1, 3]},
                        "clone": {"0": [0x3D0F00]},
                    },
                ),
                phase(1, "serve", SERVE, {"epoll_wait": 5, "accept4": 2, "i386:getpid": 1}),
            ),
            proc(
                1,
                0,
                NodeKind.THREAD,
                SERVER,
                phase(0, "start", "start", {"futex": 1}),
                phase(1, "serve", SERVE, {"futex": 4, "recvfrom": 3}),
            ),
            proc(2, 1, NodeKind.THREAD, SERVER, phase(0, "serve", SERVE, {"sendto": 2})),
            proc(3, 0, NodeKind.FORK, SERVER, phase(0, "start", "start", {"write": 1})),
            proc(4, 1, NodeKind.FORK, SERVER, phase(0, "serve", SERVE, {"pipe2": 1, "execve": 1})),
            proc(
                5,
                4,
                NodeKind.EXEC,
                SH,
                phase(0, "sh", "exec", {"getpid": 1, "exit_group": (0, 1)}),
            ),
        ),
    )


def names(p: PolicyPhase) -> set[str]:
    return set(p.syscall_names())


def the_phase(policy: Policy, exe: str, name: str) -> PolicyPhase:
    program = policy.program(exe)
    assert program is not None
    found = program.phase(name)
    assert found is not None
    return found


def marker_profile(count: int, exe: str = "/m", calls: Calls | None = None) -> Profile:
    """One process with ``count`` phases (start, m1, ...), each making ``calls``."""
    made = calls if calls is not None else {"read": 1}
    return Profile(
        ("m",),
        "x86_64",
        1,
        True,
        (
            proc(
                0,
                None,
                NodeKind.SPAWN,
                exe,
                *(
                    phase(k, "start" if k == 0 else f"m{k}", "start" if k == 0 else "marker", made)
                    for k in range(count)
                ),
            ),
        ),
    )
