"""The C core's enforcing paths in-process (so the ASan pass covers them): filters installed
before exec, phase switches injected at a trigger, complain-mode counting, kill attribution."""

from __future__ import annotations

import signal

import pytest

from sysphase._host import seccomp, tracer
from sysphase.model import profile_build
from sysphase.model.phases import parse_trigger
from sysphase.model.tree import NodeEnd
from sysphase.policy.generate import generate
from tests.conftest import TRACEE_ENV

TRIGGER = parse_trigger("serve=syscall:getpid")


@pytest.fixture(scope="module")
def filters(fx) -> list[bytes]:
    argv = [fx["twophase"], "before", "3"]
    rec = tracer.trace_command(argv, env=TRACEE_ENV, phases=tracer.PhaseConfig(triggers=(TRIGGER,)))
    policy = generate(profile_build.from_tree(rec.tree, argv, "x86_64"))
    return [
        seccomp.compile_filter(p.allow_list(), "kill", phase=p.name)
        for p in policy.root_program.phases
    ]


def enforce(fx, mode: str, filters: list[bytes]) -> tracer.TraceResult:
    return tracer.trace_command(
        [fx["twophase"], mode, "3"],
        env=TRACEE_ENV,
        enforce=tracer.Enforce(
            filters[0],
            phases=tracer.PhaseConfig(triggers=(TRIGGER,)),
            phase_filters={"serve": filters[1]},
            program=(fx["twophase"], ""),
        ),
    )


def test_switch_is_injected_once_and_the_program_runs(fx, filters):
    r = enforce(fx, "before", filters)
    assert r.exit_status == 0
    assert r.switches == 1 and r.switch_ns > 0


def test_call_after_the_switch_kills_and_is_attributed(fx, filters):
    r = enforce(fx, "after", filters)
    assert r.exit_status == 128 + signal.SIGSYS
    culprits = {n.exit_nr for n in r.tree.nodes if n.end is NodeEnd.SIGNALED and n.exit_nr == 41}
    assert culprits == {41}  # socket


def test_complain_counts_instead_of_killing(fx):
    # a filter allowing only exit_group, every other call sent to the tracer and let through
    everything_else = seccomp.compile_filter({"exit_group": ()}, "trace")
    r = tracer.trace_command(
        [fx["markers"], "2", "1"],
        env=TRACEE_ENV,
        enforce=tracer.Enforce(everything_else, complain=True, supervise=False),
    )
    assert r.exit_status == 0
    names = {c.name: c.calls for c in r.violations}
    assert names["getppid"] == 2 and names["fchdir"] == 1 and "exit_group" not in names
