"""Policy generation: the phase unions on synthetic process trees, added calls, --args, --portable.

The expected sets are written out in full: every phase's allow-list is
exactly what its process, its later phases, its children and its exec'd
programs need, plus the always-added and enforcer calls.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from sysphase.bench.policygen import synthetic_profile
from sysphase.errors import PolicyError, UsageError
from sysphase.model import syscalls
from sysphase.model.profile import FrozenMap, Phase, ProcessNode, Profile, SyscallStat
from sysphase.model.tree import NodeKind
from sysphase.policy import encode, explain, generate
from sysphase.policy.generate import (
    CLONE_NS_FLAGS,
    MAX_PHASES,
    PROVENANCE_LIMIT,
    SOCK_TYPE_MASK,
)
from sysphase.policy.ir import ArgCondition, Policy, PolicyPhase, Provenance, Rule

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


# --- unions ---------------------------------------------------------------------------------

SERVE_NEEDS = {"epoll_wait", "accept4", "futex", "recvfrom", "sendto", "pipe2", "execve", "getpid"}


def test_unions_over_threads_forks_and_execs() -> None:
    policy = generate(server_profile())
    assert [p.executable for p in policy.programs] == [SERVER, SH]
    assert policy.root_program.executable == SERVER
    server = policy.root_program
    assert [(p.name, p.trigger) for p in server.phases] == [("start", "start"), ("serve", SERVE)]
    start, serve = server.phases
    # its thread was made in start: its start calls (futex) may come after the switch
    assert names(serve) == ALWAYS | SERVE_NEEDS
    assert names(start) == ALWAYS | SERVE_NEEDS | {
        "openat",
        "read",
        "clone",
        "socket",
        "mmap",
        "write",
        "seccomp",
        "prctl",
    }
    (sh,) = policy.programs[1].phases
    assert (sh.name, sh.trigger) == ("sh", "start")
    assert names(sh) == ALWAYS | {"getpid"}


def test_a_threads_calls_before_the_switch_are_allowed_after_it() -> None:
    # a thread runs concurrently with its process's trigger: its start-up call (prctl, as
    # redis's bio threads name themselves) may come after the switch in another run; the
    # main thread's calls are ordered with its trigger and stay in start
    main = proc(
        0,
        None,
        NodeKind.SPAWN,
        SERVER,
        phase(0, "start", "start", {"socket": 1, "clone3": 1}),
        phase(1, "serve", SERVE, {"epoll_wait": 1}),
    )
    worker = proc(
        1,
        0,
        NodeKind.THREAD,
        SERVER,
        phase(0, "start", "start", {"prctl": 1}),
        phase(1, "serve", SERVE, {"futex": 2}),
    )
    short = proc(2, 0, NodeKind.THREAD, SERVER, phase(0, "start", "start", {"madvise": 1}))
    profile = Profile((SERVER,), "x86_64", 1, True, (main, worker, short))
    serve = the_phase(generate(profile), SERVER, "serve")
    assert names(serve) == ALWAYS | {"epoll_wait", "futex", "prctl"}
    prctl = serve.get("prctl")
    assert prctl is not None and prctl.provenance == (Provenance(SERVER, "start", 1),)


def test_every_later_phase_is_narrower() -> None:
    policy = generate(server_profile(), args=True, portable=True)
    for program in policy.programs:
        for earlier, later in itertools.pairwise(program.phases):
            assert later.syscall_names() <= earlier.syscall_names()


def test_the_root_first_phase_allows_everything_the_tree_needs() -> None:
    profile = server_profile()
    first = generate(profile).root_program.phases[0].syscall_names()
    seen = {k for n in profile.processes for p in n.phases for k in p.syscalls if ":" not in k}
    assert seen <= first


def test_other_abis_are_refused_and_listed() -> None:
    policy = generate(server_profile())
    for p in policy.root_program.phases:
        assert "i386:getpid" not in p.syscall_names()
        (refused,) = p.refused
        assert refused.syscall == "i386:getpid"
        assert refused.provenance == (Provenance(SERVER, "serve", 1),)
        assert "other ABI" in refused.reason
    assert policy.programs[1].phases[0].refused == ()


def test_provenance_sums_nodes_per_program_and_phase() -> None:
    policy = generate(server_profile())
    start = the_phase(policy, SERVER, "start")
    futex = start.get("futex")
    assert futex is not None
    assert futex.provenance == (Provenance(SERVER, "start", 1), Provenance(SERVER, "serve", 4))
    assert futex.reason is None
    getpid = start.get("getpid")
    assert getpid is not None and getpid.provenance == (Provenance(SH, "sh", 1),)
    # unfinished calls count: exit_group is seen once (and always added)
    exit_group = the_phase(policy, SH, "sh").get("exit_group")
    assert exit_group is not None
    assert exit_group.provenance == (Provenance(SH, "sh", 1),)
    assert exit_group.reason is not None and exit_group.reason.startswith("always added")


def test_always_added_and_enforcer_calls_carry_reasons() -> None:
    policy = generate(server_profile())
    start, serve = policy.root_program.phases
    for p in (start, serve):
        for call in ALWAYS:
            added = p.get(call)
            assert added is not None and added.reason is not None, call
    seccomp, prctl = start.get("seccomp"), start.get("prctl")
    assert seccomp is not None and seccomp.reason is not None
    assert "SECCOMP_SET_MODE_FILTER" in seccomp.reason
    assert prctl is not None and prctl.reason is not None
    assert "PR_SET_NO_NEW_PRIVS" in prctl.reason
    assert seccomp.rule == Rule("seccomp") and prctl.rule == Rule("prctl")
    # the last phase switches no more: no seccomp; prctl is for the first filter only
    assert serve.get("seccomp") is None and serve.get("prctl") is None


def test_a_child_program_with_phases_needs_seccomp_under_its_parents_filter() -> None:
    redis = "/usr/bin/redis-server"
    profile = Profile(
        ("sh", "-c", "redis-server"),
        "x86_64",
        1,
        True,
        (
            proc(0, None, NodeKind.SPAWN, SH, phase(0, "start", "start", {"execve": 1})),
            proc(
                1,
                0,
                NodeKind.EXEC,
                redis,
                phase(0, "redis-server", "exec", {"openat": 1}),
                phase(1, "serve", SERVE, {"epoll_wait": 9}),
            ),
        ),
    )
    policy = generate(profile)
    (sh_start,) = policy.root_program.phases
    seccomp = sh_start.get("seccomp")
    assert seccomp is not None and seccomp.reason is not None
    assert seccomp.reason.endswith(f"needed by {redis}")
    assert names(sh_start) == ALWAYS | {"execve", "openat", "epoll_wait", "seccomp", "prctl"}
    first, serve = policy.programs[1].phases
    assert names(first) == ALWAYS | {"openat", "epoll_wait", "seccomp"}
    assert names(serve) == ALWAYS | {"epoll_wait"}
    assert (first.trigger, serve.trigger) == ("start", SERVE)


def test_a_fork_counts_from_the_phase_it_was_created_in() -> None:
    profile = Profile(
        ("x",),
        "x86_64",
        1,
        True,
        (
            proc(
                0,
                None,
                NodeKind.SPAWN,
                "/x",
                phase(0, "start", "start", {"read": 1}),
                phase(1, "load", "marker", {"mmap": 1}),
                phase(2, "serve", "signal:SIGUSR2", {"poll": 1}),
            ),
            # created in "load": counts for start and load, not for serve
            proc(1, 0, NodeKind.VFORK, "/y", phase(0, "load", "marker", {"kill": 1})),
            # first phase unknown to the parent: counts everywhere
            proc(2, 0, NodeKind.CLONE, "/z", phase(0, "elsewhere", "marker", {"mkdir": 1})),
        ),
    )
    start, load, serve = generate(profile).root_program.phases
    base = ALWAYS | {"mkdir", "poll"}
    assert names(serve) == base
    assert names(load) == base | {"mmap", "kill", "seccomp"}
    assert names(start) == base | {"mmap", "kill", "read", "seccomp", "prctl"}
    assert (load.trigger, serve.trigger) == ("marker", "signal:SIGUSR2")


def test_a_program_phase_unites_every_node_of_the_program() -> None:
    # the same executable as root and as a fork child that switched later on its own
    profile = Profile(
        ("w",),
        "x86_64",
        1,
        True,
        (
            proc(
                0,
                None,
                NodeKind.SPAWN,
                "/w",
                phase(0, "start", "start", {"read": 1}),
                phase(1, "serve", SERVE, {"epoll_wait": 1}),
            ),
            proc(
                1,
                0,
                NodeKind.FORK,
                "/w",
                phase(0, "start", "start", {"write": 1}),
                phase(1, "serve", SERVE, {"sendmsg": 1}),
            ),
        ),
    )
    start, serve = generate(profile).root_program.phases
    assert names(serve) == ALWAYS | {"epoll_wait", "sendmsg"}
    assert names(start) == ALWAYS | {"epoll_wait", "sendmsg", "read", "write", "seccomp", "prctl"}
    send = serve.get("sendmsg")
    assert send is not None and send.provenance == (Provenance("/w", "serve", 1),)


def test_merged_phases_at_one_index_are_ordered_and_narrow() -> None:
    profile = Profile(
        ("m",),
        "x86_64",
        2,
        True,
        (
            proc(
                0,
                None,
                NodeKind.SPAWN,
                "/m",
                phase(0, "start", "start", {"read": 1}),
                phase(1, "a", "marker", {"write": 1}),
                phase(1, "b", "marker", {"sync": 1}),
            ),
        ),
    )
    start, a, b = generate(profile).root_program.phases
    assert (start.name, a.name, b.name) == ("start", "a", "b")
    assert names(b) == ALWAYS | {"sync"}
    assert names(a) == ALWAYS | {"sync", "write", "seccomp"}
    assert names(start) == ALWAYS | {"sync", "write", "read", "seccomp", "prctl"}


def test_bad_inputs() -> None:
    with pytest.raises(PolicyError, match="no processes"):
        generate(Profile((), "x86_64", 1, True, ()))
    with pytest.raises(UsageError, match="unknown default action 'allow'"):
        generate(server_profile(), default_action="allow")


@pytest.mark.parametrize("action", ["kill", "errno", "trap", "log"])
def test_the_default_action_and_options_are_recorded(action: str) -> None:
    policy = generate(server_profile(), default_action=action, portable=True)
    assert policy.default_action == action
    assert dict(policy.options) == {"args": False, "portable": True}
    assert policy.command == (SERVER,) and policy.arch == "x86_64"


# --- the stored policy ------------------------------------------------------------------------

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots" / "policy"
STORED = SNAPSHOTS / "server.sysphase.json"


def test_the_stored_policy_is_what_generate_makes() -> None:
    """tests/unit/snapshots/policy/server.sysphase.json: the format tests render it.

    SYSPHASE_UPDATE_SNAPSHOTS=1 rewrites it.
    """
    text = encode(generate(server_profile(), args=True))
    if os.environ.get("SYSPHASE_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        STORED.write_text(text)
    assert STORED.read_text() == text


# --- --args ---------------------------------------------------------------------------------


def args_profile(args: Args, calls: Calls | None = None) -> Profile:
    seen = calls if calls is not None else dict.fromkeys(args, 1)
    return Profile(
        ("a",),
        "x86_64",
        1,
        True,
        (proc(0, None, NodeKind.SPAWN, "/a", phase(0, "start", "start", seen, args)),),
    )


def only_phase(profile: Profile, args: bool = False, portable: bool = False) -> PolicyPhase:
    (p,) = generate(profile, args=args, portable=portable).root_program.phases
    return p


def test_socket_allows_the_seen_domains_and_types() -> None:
    p = only_phase(
        args_profile({"socket": {"0": [2, 10], "1": [1 | SOCK_CLOEXEC, 2 | SOCK_NONBLOCK]}}),
        args=True,
    )
    call = p.get("socket")
    assert call is not None
    assert call.rule.when == tuple(
        (ArgCondition(0, "eq", d), ArgCondition(1, "masked_eq", t, SOCK_TYPE_MASK))
        for d, t in [(2, 1), (2, 2), (10, 1), (10, 2)]
    )
    assert call.note is not None and "every seen domain" in call.note
    assert SOCK_TYPE_MASK == 0xFFF7F7FF
    allows = call.rule.allows
    assert allows([2, 1, 0, 0, 0, 0])
    assert allows([10, 2 | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, 0, 0, 0])
    assert not allows([16, 3, 0, 0, 0, 0])  # netlink, raw
    assert not allows([2, 3, 0, 0, 0, 0])  # raw socket
    # without --args: unconditional
    plain = only_phase(args_profile({"socket": {"0": [2], "1": [1]}})).get("socket")
    assert plain is not None and plain.rule == Rule("socket") and plain.note is None


def test_prctl_ioctl_and_clone_conditions() -> None:
    clone_thread = 0x3D0F00
    p = only_phase(
        args_profile(
            {
                "prctl": {"0": [15]},
                "ioctl": {"1": [0x5401, 0xFFFFFFFF80045402]},
                "clone": {"0": [clone_thread, 0x01200011]},
            }
        ),
        args=True,
    )
    prctl, ioctl, clone = p.get("prctl"), p.get("ioctl"), p.get("clone")
    assert prctl is not None and ioctl is not None and clone is not None
    # the seen option, plus PR_SET_NO_NEW_PRIVS for the enforcer in the first phase
    assert prctl.rule.when == ((ArgCondition(0, "eq", 15),), (ArgCondition(0, "eq", 38),))
    assert prctl.provenance and prctl.reason is not None
    mask = 0xFFFFFFFF
    assert ioctl.rule.when == (
        (ArgCondition(1, "masked_eq", 0x5401, mask),),
        (ArgCondition(1, "masked_eq", 0x80045402, mask),),
    )
    assert ioctl.rule.allows([1, 0x5401, 0, 0, 0, 0]) and not ioctl.rule.allows(
        [1, 0x5402] + [0] * 4
    )
    assert clone.rule.when == ((ArgCondition(0, "masked_eq", 0, CLONE_NS_FLAGS),),)
    assert clone.note is None
    assert clone.rule.allows([clone_thread, 0, 0, 0, 0, 0])
    for ns in (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000):
        assert not clone.rule.allows([clone_thread | ns, 0, 0, 0, 0, 0])


def test_clone_with_seen_namespaces_allows_exactly_those() -> None:
    newuser_newns = 0x10000000 | 0x00020000
    p = only_phase(args_profile({"clone": {"0": [0x11, 0x11 | newuser_newns]}}), args=True)
    clone = p.get("clone")
    assert clone is not None
    assert clone.rule.when == (
        (ArgCondition(0, "masked_eq", 0, CLONE_NS_FLAGS),),
        (ArgCondition(0, "masked_eq", newuser_newns, CLONE_NS_FLAGS),),
    )
    assert clone.note is not None
    assert not clone.rule.allows([0x11 | 0x40000000, 0, 0, 0, 0, 0])


def test_mmap_and_mprotect_are_never_writable_and_executable() -> None:
    p = only_phase(args_profile({"mmap": {"2": [1, 3, 5]}, "mprotect": {"2": [7]}}), args=True)
    mmap, mprotect = p.get("mmap"), p.get("mprotect")
    assert mmap is not None and mprotect is not None
    assert mmap.rule.when == (
        (ArgCondition(2, "masked_eq", 0, 4),),
        (ArgCondition(2, "masked_eq", 0, 2),),
    )
    for prot, ok in ((0, True), (1, True), (3, True), (5, True), (6, False), (7, False)):
        assert mmap.rule.allows([0, 4096, prot, 0, 0, 0]) is ok, prot
    # the trace saw W+X memory (a JIT): unconditional, and said so
    assert mprotect.rule == Rule("mprotect")
    assert mprotect.note is not None and "writable and executable" in mprotect.note


def test_calls_without_values_and_clone3_stay_unconditional() -> None:
    p = only_phase(args_profile({}, {"socket": 1, "clone3": 2, "read": 1}), args=True)
    socket, clone3, read = p.get("socket"), p.get("clone3"), p.get("read")
    assert socket is not None and clone3 is not None and read is not None
    assert socket.rule == Rule("socket") and socket.note is not None
    assert "no argument values" in socket.note
    assert clone3.rule == Rule("clone3")
    assert clone3.note is not None and "out of seccomp's reach" in clone3.note
    assert read.note is None


def test_a_source_without_values_makes_the_union_unconditional() -> None:
    # two processes of one program, one recorded without argument values
    profile = Profile(
        ("a",),
        "x86_64",
        1,
        True,
        (
            proc(
                0,
                None,
                NodeKind.SPAWN,
                "/a",
                phase(0, "start", "start", {"ioctl": 1}, {"ioctl": {"1": [0x5401]}}),
            ),
            proc(1, 0, NodeKind.FORK, "/a", phase(0, "start", "start", {"ioctl": 1})),
        ),
    )
    ioctl = only_phase(profile, args=True).get("ioctl")
    assert ioctl is not None and ioctl.rule == Rule("ioctl")


def test_later_phase_conditions_are_covered_by_earlier_ones() -> None:
    profile = Profile(
        ("a",),
        "x86_64",
        1,
        True,
        (
            proc(
                0,
                None,
                NodeKind.SPAWN,
                "/a",
                phase(0, "start", "start", {"ioctl": 1}, {"ioctl": {"1": [1, 2]}}),
                phase(1, "serve", SERVE, {"ioctl": 1}, {"ioctl": {"1": [3]}}),
            ),
        ),
    )
    start, serve = generate(profile, args=True).root_program.phases
    for request in range(6):
        args = [0, request, 0, 0, 0, 0]
        start_ioctl, serve_ioctl = start.get("ioctl"), serve.get("ioctl")
        assert start_ioctl is not None and serve_ioctl is not None
        if serve_ioctl.rule.allows(args):
            assert start_ioctl.rule.allows(args)
        assert start_ioctl.rule.allows(args) is (request in (1, 2, 3))


# --- --portable -----------------------------------------------------------------------------


def test_portable_widens_to_equivalents_with_the_sources_provenance() -> None:
    p = only_phase(args_profile({}, {"openat": 3, "newfstatat": 1, "clone": 1}), portable=True)
    got = names(p)
    assert {"open", "openat", "openat2"} <= got
    assert {"stat", "lstat", "fstat", "newfstatat", "statx"} <= got
    assert {"fork", "vfork", "clone", "clone3"} <= got
    assert not {"poll", "dup2", "accept"} & got
    opened = p.get("open")
    assert opened is not None
    assert opened.reason == "portable: equivalent of openat"
    assert opened.provenance == (Provenance("/a", "start", 3),)
    seen = p.get("openat")
    assert seen is not None and seen.reason is None
    plain = only_phase(args_profile({}, {"openat": 3}))
    assert names(plain) == ALWAYS | {"openat", "prctl"}


def test_portable_names_several_sources_and_keeps_args() -> None:
    p = only_phase(
        args_profile({}, {"epoll_wait": 1, "poll": 2, "fork": 1}), portable=True, args=True
    )
    select = p.get("select")
    assert select is not None
    assert select.reason == "portable: equivalent of poll, epoll_wait"
    assert select.provenance == (Provenance("/a", "start", 3),)
    clone, clone3 = p.get("clone"), p.get("clone3")
    assert clone is not None and clone3 is not None
    assert clone.rule.when == ((ArgCondition(0, "masked_eq", 0, CLONE_NS_FLAGS),),)
    assert clone3.rule == Rule("clone3") and clone3.note is not None


def test_portable_only_adds_what_the_architecture_has() -> None:
    profile = Profile(
        ("a",),
        "aarch64",
        1,
        True,
        (proc(0, None, NodeKind.SPAWN, "/a", phase(0, "start", "start", {"openat": 1})),),
    )
    (p,) = generate(profile, portable=True).root_program.phases
    assert "openat2" in names(p)
    assert "open" not in names(p) and "time" not in names(p)  # aarch64 has neither


# --- explain --------------------------------------------------------------------------------


def test_explain_says_where_every_call_came_from() -> None:
    text = explain(generate(server_profile(), args=True))
    lines = text.splitlines()
    assert lines[:3] == [
        "Policy for /usr/bin/server (x86_64)",
        "Default action: kill (kill the process)",
        "Options: --args",
    ]
    assert f"{SERVER} (root program)" in lines
    assert "  phase start (trigger: start): 24 syscalls allowed" in lines
    assert f"  phase serve (trigger: {SERVE}): 16 syscalls allowed" in lines
    assert f"    futex                {SERVER} start: 1 call; {SERVER} serve: 4 calls" in lines
    assert f"    getpid               {SH} sh: 1 call" in lines
    assert any(line.startswith("    time                 always added: vDSO") for line in lines)
    assert any(line.startswith("    seccomp              enforcer: ") for line in lines)
    assert any(
        line.startswith(f"    i386:getpid          {SERVER} serve: 1 call; seen but refused")
        for line in lines
    )
    when = " " * 25 + "when arg0 == 2 and arg1 & 0xfff7f7ff == 0x1"
    assert lines[lines.index(f"    socket               {SERVER} start: 1 call") + 1] == when
    assert text.endswith("\n")
    every = {
        call.syscall
        for program in generate(server_profile()).programs
        for p in program.phases
        for call in p.allowed
    }
    for call in every:
        assert any(line.startswith(f"    {call} ") for line in lines), call


# --- the documented example -----------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "formats" / "policy.md"


def greeter_profile() -> Profile:
    """docs/formats/policy.md's example: a server that forks a child that execs date."""
    greeter = "/usr/bin/greeter"
    return Profile(
        ("greeter",),
        "x86_64",
        1,
        True,
        (
            proc(
                0,
                None,
                NodeKind.SPAWN,
                greeter,
                phase(
                    0,
                    "start",
                    "start",
                    {"openat": 2, "read": 2, "socket": 1},
                    {"socket": {"0": [10], "1": [1 | SOCK_CLOEXEC]}},
                ),
                phase(1, "serve", "syscall:accept4", {"accept4": 3, "write": 3, "close": 3}),
            ),
            proc(1, 0, NodeKind.FORK, greeter, phase(0, "serve", "syscall:accept4", {"execve": 1})),
            proc(
                2,
                1,
                NodeKind.EXEC,
                "/usr/bin/date",
                phase(0, "date", "exec", {"write": 1, "exit_group": 1}),
            ),
        ),
    )


def test_the_documented_example_is_what_generate_makes() -> None:
    text = DOC.read_text()
    block = text.split("```json\n", 1)[1].split("```", 1)[0]
    assert block == encode(generate(greeter_profile(), args=True))


def test_a_program_started_and_execd_has_one_entry_phase() -> None:
    """Merged runs where sqlite3 was the started program once and exec'd by sh once."""
    sqlite, sh = "/usr/bin/sqlite3", SH
    profile = Profile(
        ("sqlite3",),
        "x86_64",
        2,
        True,
        (
            proc(0, None, NodeKind.SPAWN, sqlite, phase(0, "start", "start", {"read": 1})),
            proc(1, None, NodeKind.SPAWN, sh, phase(0, "start", "start", {"vfork": 1})),
            proc(2, 1, NodeKind.VFORK, sh, phase(0, "start", "inherited", {"execve": 1})),
            proc(3, 2, NodeKind.EXEC, sqlite, phase(0, "sqlite3", "exec", {"pwrite64": 1})),
        ),
    )
    policy = generate(profile)
    (program,) = [p for p in policy.programs if p.executable == sqlite]
    assert [(ph.name, ph.trigger) for ph in program.phases] == [("start", "start")]
    assert {"read", "pwrite64"} <= set(program.phases[0].allow_list())


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


def test_policy_size_grows_linearly_with_phases() -> None:
    """A phase allows what every later one does: its provenance must not list them all."""
    sizes = {}
    for n in (100, 1_000):
        policy = generate(synthetic_profile(n), max_phases=n)
        for program in policy.programs:
            for p in program.phases:
                for call in (*p.allowed, *p.refused):
                    assert len(call.provenance) <= PROVENANCE_LIMIT
        sizes[n] = len(encode(policy))
    # 10x the phases: about 10x the size (listing every later phase would make it 100x)
    assert sizes[1_000] < 15 * sizes[100]


def test_many_phases_allow_exactly_their_unions() -> None:
    """The union from the last phase backwards, against a plain union per phase."""
    pool = sorted(syscalls.names("x86_64"))[:60]
    made = [{pool[(7 * k + i) % 60]: 1 + i for i in range(k % 4)} for k in range(300)]
    profile = Profile(
        ("m",),
        "x86_64",
        1,
        True,
        (
            proc(
                0,
                None,
                NodeKind.SPAWN,
                "/m",
                *(phase(k, f"p{k}", "marker", made[k]) for k in range(300)),
            ),
        ),
    )
    phases = generate(profile, max_phases=300).root_program.phases
    assert len(phases) == 300
    for k, p in enumerate(phases):
        want = set().union(*made[k:]) | ALWAYS
        want |= {"seccomp"} if k < 299 else set()
        want |= {"prctl"} if k == 0 else set()
        assert names(p) == want, k


def test_provenance_lists_at_most_the_limit_and_says_how_many_there_were() -> None:
    count = PROVENANCE_LIMIT + 4
    base = marker_profile(count, calls={"read": 2})
    child = proc(1, 0, NodeKind.EXEC, SH, phase(0, "sh", "exec", {"read": 5}))
    profile = replace(base, processes=(*base.processes, child))
    program = generate(profile).root_program
    read = program.phases[0].get("read")
    assert read is not None
    # every program first (sh), then the nearest phases of this one
    assert read.provenance == (
        Provenance("/m", "start", 2),
        *(Provenance("/m", f"m{k}", 2) for k in range(1, PROVENANCE_LIMIT - 1)),
        Provenance(SH, "sh", 5),
    )
    total = 2 * count + 5
    assert read.note == (
        f"provenance: {PROVENANCE_LIMIT} of {count + 1} program phases shown, {total} calls in all"
    )
    assert f"note: {read.note}" in explain(generate(profile))
    # a later phase covers fewer sources: all of them, no note
    last = program.phases[-1].get("read")
    assert last is not None and last.note is None
    assert last.provenance == (Provenance("/m", f"m{count - 1}", 2), Provenance(SH, "sh", 5))


def test_a_program_with_more_phases_than_the_limit_is_refused() -> None:
    assert generate(marker_profile(MAX_PHASES)).root_program.phases[-1].name == (
        f"m{MAX_PHASES - 1}"
    )
    with pytest.raises(PolicyError) as err:
        generate(marker_profile(3_000, exe="/usr/bin/chatty"))
    assert str(err.value) == (
        f'program "/usr/bin/chatty" has 3,000 phases, more than the {MAX_PHASES} a policy '
        "allows per program (record it with fewer phase triggers or markers)"
    )
    # the limit is per program: the phases of all its processes count together
    base = marker_profile(MAX_PHASES)
    other = proc(
        1,
        0,
        NodeKind.FORK,
        "/m",
        *(phase(k, f"other{k}", "marker", {"write": 1}) for k in range(2)),
    )
    with pytest.raises(PolicyError, match=f"has {MAX_PHASES + 2} phases"):
        generate(replace(base, processes=(*base.processes, other)))
    # raised on purpose (benchmarks, tests)
    assert len(generate(marker_profile(300), max_phases=300).root_program.phases) == 300
