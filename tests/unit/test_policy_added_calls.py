"""Policy generation: the calls a policy holds beyond what was seen, and those it refuses.

Every phase is given the always-added calls (vDSO time calls, exits,
rt_sigreturn); a phase that switches to a later one, or runs a child
program that does, gets the enforcer's seccomp (and the first its prctl);
calls of another ABI are refused and listed.
"""

from __future__ import annotations

from sysphase.model.profile import Profile
from sysphase.model.tree import NodeKind
from sysphase.policy import generate
from sysphase.policy.ir import Provenance, Rule
from tests.unit.policy_samples import (
    ALWAYS,
    SERVE,
    SERVER,
    SH,
    names,
    phase,
    proc,
    server_profile,
)


def test_other_abis_are_refused_and_listed() -> None:
    policy = generate(server_profile())
    for p in policy.root_program.phases:
        assert "i386:getpid" not in p.syscall_names()
        (refused,) = p.refused
        assert refused.syscall == "i386:getpid"
        assert refused.provenance == (Provenance(SERVER, "serve", 1),)
        assert "other ABI" in refused.reason
    assert policy.programs[1].phases[0].refused == ()


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
