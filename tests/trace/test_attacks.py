"""Attacks on enforced phase switches, made against the real kernel (docs/security.md).

The fixture ``escape`` (tests/fixtures/escape.c) records an honest run with a start-up
phase that may open sockets and a serving phase that may not; each attack mode then
tries to open a socket after the switch. Every attack must end with the program killed:
by the serving filter (exit 159, culprit socket) or by sysphase refusing the switch
(SwitchRefused); never with the socket opened (exit 42, "ESCAPED" on stdout).

Races are repeated, bounded by a count and a time budget (smaller under the ASan pass),
and each test prints its tally (attempts, escapes, times the race window was hit) for
the record; the assertions are on escapes, which must be 0.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from sysphase._host import enforcement, tracer
from sysphase.errors import SwitchRefused
from sysphase.model import profile_build
from sysphase.model.phases import parse_trigger
from sysphase.model.tree import NodeEnd, NodeKind
from sysphase.policy.generate import generate
from sysphase.policy.ir import Policy
from tests.conftest import TRACEE_ENV, need_root

SANITIZED = os.environ.get("SYSPHASE_EXPECT_SANITIZED") == "1"
#: attempts and seconds per racy attack
RACE_RUNS, RACE_SECONDS = (60, 10.0) if SANITIZED else (200, 25.0)
SOCKET = 41


@dataclass
class Outcome:
    """A run under enforcement: its result, or the refusal of its switch."""

    result: tracer.TraceResult | None = None
    refused: str = ""

    @property
    def escaped(self) -> bool:
        return self.result is not None and self.result.exit_status == 42


def _policy(fx, *triggers: str, mode: str = "honest") -> Policy:
    phases = tracer.PhaseConfig(triggers=tuple(parse_trigger(t) for t in triggers))
    argv = [fx["escape"], mode]
    rec = tracer.trace_command(argv, env=TRACEE_ENV, phases=phases)
    assert rec.exit_status == 0
    return generate(profile_build.from_tree(rec.tree, argv, "x86_64"))


@pytest.fixture(scope="module")
def by_syscall(fx) -> Policy:
    need_root()  # PTRACE_SECCOMP_GET_FILTER, the check of a filter's bytes, needs root
    return _policy(fx, "serve=syscall:chdir")


@pytest.fixture(scope="module")
def by_symbol(fx) -> Policy:
    return _policy(fx, "serve=symbol:escape_serve")


def enforce(fx, policy: Policy, mode: str) -> Outcome:
    plan = enforcement.prepare(policy, fx["escape"], "kill", "the test policy")
    try:
        return Outcome(
            tracer.trace_command([fx["escape"], mode], env=TRACEE_ENV, enforce=plan.enforce(False))
        )
    except SwitchRefused as err:
        return Outcome(refused=str(err))


def killed_for_socket(out: Outcome) -> bool:
    r = out.result
    return (
        r is not None
        and r.exit_status == 128 + signal.SIGSYS
        and any(n.exit_nr == SOCKET for n in r.tree.nodes if n.end is NodeEnd.SIGNALED)
    )


def test_the_honest_program_runs_and_switches_once(fx, by_syscall, by_symbol, capfd):
    for policy in (by_syscall, by_symbol):
        out = enforce(fx, policy, "honest")
        assert out.result is not None, out.refused
        assert out.result.exit_status == 0 and out.result.switches == 1
    assert capfd.readouterr().out.count("serving honest") == 2


def test_calls_in_flight_at_a_switch_belong_to_the_new_phase(by_syscall):
    # the listener thread waits in ioctl and the helper in pause across the trigger: the
    # switch restarts both under the serving filter, so the policy allows them there
    serve = by_syscall.root_program.phase("serve")
    assert serve is not None
    assert {"ioctl", "pause"} <= {a.syscall for a in serve.allowed}


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("errno0", "carries 2 seccomp filters after installing phase serve's, not 3"),
        ("eperm", "seccomp() failed in thread"),
        ("trap", "returned 317 installing phase serve's filter"),
        ("killthread", "died installing phase serve's filter"),
    ],
)
def test_a_filter_that_lies_about_the_switch_gets_the_program_killed(
    fx, by_syscall, capfd, mode, why
):
    out = enforce(fx, by_syscall, mode)
    assert out.refused.startswith("phase switch refused, the program was killed: ")
    assert why in out.refused
    assert "ESCAPED" not in capfd.readouterr().out


def test_a_listener_that_never_answers_for_the_kernel_hits_the_deadline(fx, by_syscall, capfd):
    # the listener thread is held with every other thread, so seccomp() never returns
    out = enforce(fx, by_syscall, "notif")
    assert "seccomp() for phase serve did not return within 10 s" in out.refused
    assert "ESCAPED" not in capfd.readouterr().out


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("untraced", "a child of traced process"),
        ("untracedthread", "runs untraced (made with CLONE_UNTRACED)"),
    ],
)
def test_untraced_processes_and_threads_get_the_program_killed(fx, by_syscall, capfd, mode, why):
    out = enforce(fx, by_syscall, mode)
    assert why in out.refused
    time.sleep(0.4)  # the untraced child and grandchild would have tried after 100, 150 ms
    assert "ESCAPED" not in capfd.readouterr().out


def test_a_breakpoint_switch_holds_while_the_thread_spins(fx, by_symbol, capfd):
    # after escape_serve() the main thread makes no call for 300 ms; the helper's socket
    # 50 ms in must already meet the serving filter
    out = enforce(fx, by_symbol, "spin")
    assert killed_for_socket(out), out.refused or out.result
    assert "ESCAPED" not in capfd.readouterr().out


def test_a_breakpoint_switch_carried_by_another_threads_call_completes(fx, capfd):
    # the main thread hits escape_serve while the helper is in a sched_yield loop: the
    # helper's next call carries the switch; it must not wait for its own stop (nginx's
    # thread pools stalled this way for 10 s, then were killed)
    policy = _policy(fx, "serve=symbol:escape_serve", mode="busy")
    runs = 5 if SANITIZED else 12
    capfd.readouterr()  # the recording's own output
    for _ in range(runs):
        out = enforce(fx, policy, "busy")
        assert out.result is not None, out.refused
        assert out.result.exit_status == 0 and out.result.switches == 1
    assert capfd.readouterr().out.count("serving busy") == runs


def test_a_switch_does_not_wait_for_a_leader_that_has_exited(fx, capfd):
    # the main thread ended with pthread_exit: its death is reported only with the last
    # thread's, and it runs no code; the switch goes on without it (by syscall and symbol)
    for trigger in ("serve=syscall:chdir", "serve=symbol:escape_serve"):
        policy = _policy(fx, trigger, mode="leaderexit")
        capfd.readouterr()
        out = enforce(fx, policy, "leaderexit")
        assert out.result is not None, out.refused
        assert out.result.exit_status == 0 and out.result.switches == 1
        assert "serving leaderexit" in capfd.readouterr().out


def _repeat(fx, policy: Policy, mode: str, check) -> Counter[str]:
    tally: Counter[str] = Counter()
    deadline = time.monotonic() + RACE_SECONDS
    while tally["attempts"] < RACE_RUNS and time.monotonic() < deadline:
        tally["attempts"] += 1
        check(enforce(fx, policy, mode), tally)
    print(f"{mode}: {dict(tally)}")
    return tally


def test_threads_rewriting_the_filter_memory_never_get_an_allow_all_filter(fx, by_syscall, capfd):
    def check(out: Outcome, tally: Counter[str]) -> None:
        tally["escapes"] += out.escaped
        tally["killed for socket"] += killed_for_socket(out)
        tally["refused"] += bool(out.refused)

    tally = _repeat(fx, by_syscall, "race", check)
    assert tally["escapes"] == 0
    assert tally["killed for socket"] + tally["refused"] == tally["attempts"]
    assert "ESCAPED" not in capfd.readouterr().out


@pytest.mark.parametrize("mode", ["forkrace", "vforkrace"])
def test_processes_forked_around_a_switch_run_under_their_phase(fx, by_syscall, mode):
    serve_children = Counter[str]()

    def check(out: Outcome, tally: Counter[str]) -> None:
        assert out.result is not None, out.refused
        names = [n for n, _ in out.result.tree.phase_names]
        for node in out.result.tree.nodes:
            if node.kind not in (NodeKind.FORK, NodeKind.VFORK):
                continue
            phases = [names[p] for p in node.phases]
            if node.end is NodeEnd.SIGNALED and node.exit_nr == 317:
                tally["killed for a seccomp() it never made"] += 1
            if phases == ["serve"]:
                tally["children in serve"] += 1
                tally["escapes"] += node.end is NodeEnd.EXITED and node.end_value == 42
                serve_children[node.end.value] += 1

    tally = _repeat(fx, by_syscall, mode, check)
    print(f"{mode}: children created in serve ended {dict(serve_children)}")
    assert tally["escapes"] == 0
    assert tally["killed for a seccomp() it never made"] == 0


def test_the_re_run_of_a_trigger_call_is_not_the_next_trigger(fx, capfd):
    triggers = ("a=syscall:chdir", "b=syscall:chdir")
    policy = _policy(fx, *triggers, mode="twice")
    plan = enforcement.prepare(policy, fx["escape"], "kill", "the test policy")
    r = tracer.trace_command([fx["escape"], "twice"], env=TRACEE_ENV, enforce=plan.enforce(False))
    assert r.exit_status == 0 and r.switches == 2
    capfd.readouterr()


@pytest.mark.parametrize("how", ["full", "sets_only", "baseline"])
def test_two_triggers_on_one_syscall_fire_once_each_when_recording(fx, how):
    config = tracer.PhaseConfig(
        triggers=tuple(parse_trigger(t) for t in ("a=syscall:chdir", "b=syscall:chdir"))
    )
    argv = [fx["escape"], "twice"]
    kw: dict[str, object] = {}
    if how == "sets_only":
        kw["sets_only"] = True
    elif how == "baseline":  # the trigger call is swapped to stack a's known set, then re-run
        first = tracer.trace_command(argv, env=TRACEE_ENV, phases=config)
        kw["baseline"] = profile_build.from_tree(first.tree, argv, "x86_64")
    r = tracer.trace_command(argv, env=TRACEE_ENV, phases=config, **kw)  # type: ignore[arg-type]
    root = profile_build.from_tree(r.tree, argv, "x86_64").processes[0]
    calls = {
        ph.name: {k: s.calls for k, s in ph.syscalls.items() if k in ("chdir", "getppid", "fchdir")}
        for ph in root.phases
    }
    if how == "baseline":  # known calls run without a stop; a trigger's syscall always stops
        assert calls["a"].get("chdir") == 1 and calls["b"].get("chdir") == 1
        assert "fchdir" not in calls["a"] and "getppid" not in calls["b"]
    else:
        assert calls["a"] == {"chdir": 1, "getppid": 1}
        assert calls["b"] == {"chdir": 1, "fchdir": 1}
