"""Phase boundaries decided in the C core: exact marker counts per phase."""

from __future__ import annotations

import collections
import signal

import pytest

from sysphase._host.tracer import PhaseConfig, TraceResult, trace_command
from sysphase.errors import UsageError
from sysphase.model.phases import parse_trigger
from tests.conftest import TRACEE_ENV

MARKERS = ("getppid", "fchdir", "getpid")


def per_phase(r: TraceResult, node: int) -> dict[str, dict[str, int]]:
    names = r.tree.phase_names
    out: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for c in r.tree.counts_of(node):
        if c.name in MARKERS:
            out[names[c.phase][0]][c.name] = c.calls
    return dict(out)


def phase_list(r: TraceResult, node: int) -> list[tuple[str, str]]:
    return [r.tree.phase_names[p] for p in r.tree.nodes[node].phases]


def run(argv: list[str], **phases: object) -> TraceResult:
    r = trace_command(argv, env=TRACEE_ENV, phases=PhaseConfig(**phases))  # type: ignore[arg-type]
    assert r.exit_status == 0
    return r


def test_phase_signal_is_swallowed_and_starts_numbered_phases(fx):
    r = run([fx["phases"], "signal"], signal=signal.SIGUSR2)
    assert phase_list(r, 0) == [
        ("start", "start"),
        ("phase-1", "signal:SIGUSR2"),
        ("phase-2", "signal:SIGUSR2"),
    ]
    got = per_phase(r, 0)
    assert {k: v["getppid"] for k, v in got.items()} == {"start": 2, "phase-1": 3, "phase-2": 4}
    # swallowed: the program's handler never ran, so no rt_sigreturn anywhere
    assert not [c for c in r.tree.counts if c.name == "rt_sigreturn"]


def test_phase_signal_names(fx):
    r = run([fx["phases"], "signal"], signal=signal.SIGUSR2, signal_names=("load", "serve"))
    assert [n for n, _ in phase_list(r, 0)] == ["start", "load", "serve"]


def test_marker_header(fx):
    r = run([fx["phases"], "mark"])
    assert phase_list(r, 0) == [("start", "start"), ("serve", "marker"), ("drain", "marker")]
    assert per_phase(r, 0) == {
        "start": {"getppid": 2},
        "serve": {"getppid": 3},
        "drain": {"fchdir": 4},
    }
    # the marker calls themselves are boundaries, not calls of the program
    assert not [c for c in r.tree.counts if c.name == "write"]


def test_symbol_breakpoint_hit_by_many_threads_at_once(fx):
    trig = parse_trigger("serve=symbol:sysphase_fixture_serve")
    r = run([fx["phases"], "func", "16"], triggers=(trig,))
    threads = [n for n in r.tree.nodes if n.is_thread]
    assert len(threads) == 16
    for n in threads:
        assert per_phase(r, n.index) == {"start": {"getppid": 1}, "serve": {"getppid": 2}}
    assert phase_list(r, 0)[-1] == ("serve", "symbol:sysphase_fixture_serve")


def test_address_trigger_equals_symbol_trigger(fx):
    from sysphase.model import elf

    with open(fx["phases"], "rb") as f:
        offset = elf.symbol_offset(f.read(), "sysphase_fixture_serve")
    r = run([fx["phases"], "func", "2"], triggers=(parse_trigger(f"serve=addr:{offset:#x}"),))
    for n in r.tree.nodes[1:]:
        assert per_phase(r, n.index) == {"start": {"getppid": 1}, "serve": {"getppid": 2}}


def test_syscall_trigger_and_children_inherit_the_phase(fx):
    r = run([fx["phases"], "syscall"], triggers=(parse_trigger("serve=syscall:getpid"),))
    assert per_phase(r, 0) == {"start": {"getppid": 2}, "serve": {"getpid": 1, "getppid": 3}}
    child = r.tree.nodes[1]
    assert child.kind.value == "fork"
    assert phase_list(r, 1) == [("serve", "syscall:getpid")]
    assert per_phase(r, 1) == {"serve": {"getppid": 5}}


def test_exec_starts_a_phase_named_after_the_program(fx):
    r = run([fx["exec_thread"], "2", fx["markers"]])
    execd = next(n for n in r.tree.nodes if n.kind.value == "exec")
    assert phase_list(r, execd.index) == [("markers", "exec")]
    assert execd.load_base and execd.entry > execd.load_base


def test_missing_symbol_is_an_error_before_the_program_starts(fx):
    with pytest.raises(UsageError, match="no symbol 'no_such_function'"):
        trace_command(
            [fx["markers"], "1", "0"],
            phases=PhaseConfig(triggers=(parse_trigger("x=symbol:no_such_function"),)),
        )


@pytest.mark.parametrize(
    "spec",
    [
        "serve",
        "serve=bogus:x",
        "=syscall:read",
        "serve=syscall:nope",
        "start=syscall:read",
        "s=addr:zz",
    ],
)
def test_bad_phase_specs(spec):
    with pytest.raises(UsageError) as err:
        parse_trigger(spec)
    assert spec in str(err.value) and "\n" not in str(err.value)
