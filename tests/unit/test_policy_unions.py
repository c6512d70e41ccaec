"""Policy generation: each phase allows the union of what the process tree needs from it on.

The expected sets are written out in full: every phase's allow-list is
exactly what its process, its later phases, its children and its exec'd
programs need, plus the always-added and enforcer calls.
"""

from __future__ import annotations

import itertools

from sysphase.model import syscalls
from sysphase.model.profile import Profile
from sysphase.model.tree import NodeKind
from sysphase.policy import generate
from sysphase.policy.ir import Provenance
from tests.unit.policy_samples import (
    ALWAYS,
    SERVE,
    SERVER,
    SH,
    names,
    phase,
    proc,
    server_profile,
    the_phase,
)

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
