"""--allow and --deny: calls added and removed by hand, where the phase unions take them, refusals.

On server_profile (a server with start and serve, whose thread forks in serve
a child that execs /bin/sh): an allowed call reaches the phase it names, the
earlier ones and the filters the program runs under; a denied call leaves the
phase it names and the later ones, and is listed as refused; specs that name
what is not there, contradict each other or would break the policy are one
sentence.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sysphase.errors import UsageError
from sysphase.policy import decode, encode, explain, generate
from sysphase.policy.added_calls import ENFORCER_CALLS
from sysphase.policy.ir import AllowedCall, Policy, Provenance, Rule
from sysphase.policy.manual_calls import NEVER_DENIED, ManualSpec, parse_spec
from sysphase.policy.phase_sweep import _NEEDS
from tests.unit.policy_samples import SERVER, SH, server_profile, the_phase

BY_HAND = "allowed by hand: "


def gen(*specs: str, args: bool = False, portable: bool = False) -> Policy:
    """The server's policy with specs like "allow pwritev@sh" or "deny openat"."""
    manual = []
    for spec in specs:
        kind, text = spec.split(" ", 1)
        manual.append(parse_spec("allow" if kind == "allow" else "deny", text))
    return generate(server_profile(), args=args, portable=portable, manual=manual)


def where(policy: Policy, call: str) -> set[tuple[str, str]]:
    """The (program, phase)s that allow CALL."""
    return {
        (prog.executable, ph.name)
        for prog in policy.programs
        for ph in prog.phases
        if call in ph.syscall_names()
    }


EVERYWHERE = {(SERVER, "start"), (SERVER, "serve"), (SH, "sh")}


def test_allowed_in_a_child_program_reaches_the_filters_it_runs_under() -> None:
    policy = gen("allow pwritev@sh")
    assert where(policy, "pwritev") == EVERYWHERE
    added = the_phase(policy, SH, "sh").get("pwritev")
    assert added is not None
    assert added == AllowedCall(Rule("pwritev"), (), f"{BY_HAND}--allow pwritev@{SH}")
    assert decode(encode(policy), "p.json") == policy


def test_allowed_in_a_phase_reaches_the_earlier_phases_only() -> None:
    policy = gen(f"allow pwritev,readv@{SERVER}:start")
    assert where(policy, "pwritev") == where(policy, "readv") == {(SERVER, "start")}
    policy = gen("allow pwritev@server:serve")
    assert where(policy, "pwritev") == {(SERVER, "start"), (SERVER, "serve")}
    start = the_phase(policy, SERVER, "start").get("pwritev")
    assert start is not None and start.reason == f"{BY_HAND}--allow pwritev@{SERVER}:serve"


def test_allowed_everywhere_and_seen_keeps_the_provenance() -> None:
    policy = gen("allow getrandom", "allow read", "allow exit_group@sh")
    assert where(policy, "getrandom") == EVERYWHERE
    read = the_phase(policy, SERVER, "start").get("read")
    assert read is not None
    assert read.provenance == (Provenance(SERVER, "start", 3),)
    assert read.reason == f"{BY_HAND}--allow read"
    exits = the_phase(policy, SH, "sh").get("exit_group")
    assert exits is not None and exits.reason is not None
    assert exits.reason.startswith(f"{BY_HAND}--allow exit_group@{SH}; always added: ")
    text = explain(policy)
    assert f"getrandom            {BY_HAND}--allow getrandom" in text


def test_allowed_by_hand_is_unconditional_under_args_and_widens_under_portable() -> None:
    policy = gen("allow socket@sh", "allow pwrite64@sh", args=True, portable=True)
    socket = the_phase(policy, SERVER, "start").get("socket")
    assert socket is not None and socket.rule == Rule("socket")
    assert socket.note == "unconditional: allowed by hand"
    assert socket.provenance == (Provenance(SERVER, "start", 1),)
    pwritev = the_phase(policy, SH, "sh").get("pwritev")
    assert pwritev is not None and pwritev.reason == "portable: equivalent of pwrite64"


def test_denied_leaves_the_phase_and_the_later_ones_and_is_listed() -> None:
    policy = gen(f"deny futex@{SERVER}:serve", "deny getpid@sh", "deny time")
    assert where(policy, "futex") == {(SERVER, "start")}
    (refused,) = [r for r in the_phase(policy, SERVER, "serve").refused if r.syscall == "futex"]
    assert refused.provenance == (Provenance(SERVER, "start", 1), Provenance(SERVER, "serve", 4))
    assert refused.reason == f"denied by hand: --deny futex@{SERVER}:serve"
    # only sh's own filter: the server's phases (which sh runs under) keep getpid
    assert where(policy, "getpid") == {(SERVER, "start"), (SERVER, "serve")}
    assert where(policy, "time") == set()  # an always-added call may be denied
    listed = the_phase(policy, SH, "sh").refused
    assert [(r.syscall, r.reason) for r in listed] == [
        ("getpid", f"denied by hand: --deny getpid@{SH}"),
        ("time", "denied by hand: --deny time"),
    ]
    assert decode(encode(policy), "p.json") == policy
    # a denial of a call nothing allows changes nothing
    assert gen("deny ptrace") == gen()


def test_denied_after_portable_widening() -> None:
    policy = gen("deny pwritev", "allow write@sh", portable=True)
    assert "pwritev" not in {c for ph in policy.root_program.phases for c in ph.syscall_names()}
    assert where(policy, "writev") == EVERYWHERE


def test_the_more_specific_spec_wins() -> None:
    # every program but sh
    policy = gen("allow ptrace", "deny ptrace@sh")
    assert where(policy, "ptrace") == {(SERVER, "start"), (SERVER, "serve")}
    # the whole program, but its serve phase
    policy = gen(f"allow ptrace@{SERVER}", f"deny ptrace@{SERVER}:serve")
    assert where(policy, "ptrace") == {(SERVER, "start")}
    policy = gen(f"deny accept4@{SERVER}", f"allow accept4@{SERVER}:start")
    assert where(policy, "accept4") == {(SERVER, "start")}


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["allow pwritevv,readvv"], "--allow pwritevv,readvv: unknown syscalls pwritevv, readvv"),
        (["allow i386:open"], "--allow i386:open: unknown syscall i386:open for x86_64"),
        (["deny read@/usr/bin/nope"], "the profile has no program /usr/bin/nope (it has "),
        (["allow read@server:srv"], f"{SERVER} has no phase srv (its phases: start, serve)"),
        (["allow read@server:"], f"{SERVER} has no phase after the colon"),
        (["deny rt_sigreturn@sh"], "rt_sigreturn cannot be denied (every signal handler"),
        (["deny seccomp"], f"--deny seccomp: sysphase needs seccomp in {SERVER}'s phase start"),
        ([f"deny prctl@{SERVER}"], "sysphase needs prctl in"),
        ([f"deny epoll_wait@{SERVER}:start"], "phase serve starts at the first epoll_wait"),
        (
            [f"allow ptrace@{SERVER}:serve", f"deny ptrace@{SERVER}:start"],
            f"--allow ptrace@{SERVER}:serve and --deny ptrace@{SERVER}:start contradict "
            f"each other in {SERVER}'s phase serve",
        ),
        (
            ["allow ptrace@sh", "deny ptrace"],
            f"--allow ptrace@{SH} needs ptrace in {SERVER}'s phase ",
        ),
        (
            [f"allow ptrace@{SERVER}:serve", f"deny ptrace@{SERVER}"],
            f"--allow ptrace@{SERVER}:serve needs ptrace in {SERVER}'s phase start, which "
            f"--deny ptrace@{SERVER} takes away",
        ),
    ],
)
def test_bad_specs_are_one_sentence(specs: list[str], message: str) -> None:
    with pytest.raises(UsageError) as err:
        gen(*specs)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_basename_several_programs_share_is_ambiguous() -> None:
    profile = server_profile()
    sh = profile.processes[5]
    twin = dataclasses.replace(sh, id=6, parent=3, executable="/usr/local/bin/sh")
    profile = dataclasses.replace(profile, processes=(*profile.processes, twin))
    with pytest.raises(UsageError, match=r"several programs are called that \(/bin/sh, /usr/"):
        generate(profile, manual=[parse_spec("allow", "read@sh")])
    assert generate(profile, manual=[parse_spec("allow", "read@/bin/sh")])


@pytest.mark.parametrize(
    ("text", "message"),
    [("a,,b", "a syscall name is empty"), ("read@", "no program after @"), ("", "is empty")],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_spec("allow", text)


def test_parse() -> None:
    assert parse_spec("deny", "a, b@/x:y:serve") == ManualSpec(
        "deny", ("a", "b"), "/x:y:serve", "a, b@/x:y:serve"
    )


def test_the_refusals_cover_the_enforcer_and_the_always_added_exits() -> None:
    assert set(_NEEDS) == set(ENFORCER_CALLS)
    assert {"exit", "exit_group", "rt_sigreturn", "restart_syscall"} == set(NEVER_DENIED)


# --- property: whatever the specs, a valid policy that honours them ------------------------

CALLS = ["ptrace", "read", "futex", "pwritev", "getpid", "time"]
PLACES = ["", "@sh", f"@{SERVER}", f"@{SERVER}:start", f"@{SERVER}:serve"]
SPECS = st.lists(
    st.tuples(st.sampled_from(["allow", "deny"]), st.sampled_from(CALLS), st.sampled_from(PLACES)),
    max_size=5,
)


def covered(kind: str, place: str) -> dict[tuple[str, str], int]:
    """The (program, phase)s a spec covers, with its specificity there."""
    if place == "":
        return dict.fromkeys(EVERYWHERE, 0)
    if place == "@sh":
        return {(SH, "sh"): 1}
    if place == f"@{SERVER}":
        return {(SERVER, "start"): 1, (SERVER, "serve"): 1}
    phase = place.rsplit(":", 1)[1]
    phases = ["start", "serve"] if kind == "deny" and phase == "start" else [phase]
    return {(SERVER, ph): 2 for ph in phases}


@settings(max_examples=200)
@given(SPECS, st.booleans())
def test_specs_give_a_valid_policy_that_honours_them(
    specs: list[tuple[str, str, str]], portable: bool
) -> None:
    try:
        policy = gen(*(f"{kind} {call}{place}" for kind, call, place in specs), portable=portable)
    except UsageError:
        assume(False)
        return
    assert decode(encode(policy), "p.json") == policy  # later phases within earlier ones
    for kind, call, place in specs:
        for at, level in covered(kind, place).items():
            beaten = any(
                k != kind and c == call and covered(k, p).get(at, -1) > level for k, c, p in specs
            )
            if not beaten:
                assert (at in where(policy, call)) == (kind == "allow"), (kind, call, place, at)
