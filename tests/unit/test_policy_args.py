"""Policy generation with --args (conditions on the argument values seen) and --portable.

--args turns the values a trace saw into conditions (socket domains and
types, prctl options, ioctl requests, clone without new namespaces, never
writable-and-executable memory); --portable adds the calls equivalent to
those seen.
"""

from __future__ import annotations

from sysphase.model.profile import Profile
from sysphase.model.tree import NodeKind
from sysphase.policy import generate
from sysphase.policy.generate import CLONE_NS_FLAGS, SOCK_TYPE_MASK
from sysphase.policy.ir import ArgCondition, PolicyPhase, Provenance, Rule
from tests.unit.policy_samples import (
    ALWAYS,
    SERVE,
    SOCK_CLOEXEC,
    SOCK_NONBLOCK,
    Args,
    Calls,
    names,
    phase,
    proc,
)


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
