"""`sysphase run -p PID`: sandbox a running process with one phase's filter, without a restart.

First what the kernel and the process must allow, each refusal one sentence:
the process runs a program of the policy (by real path or build-id; ``--program``
picks one on purpose), it has ``no_new_privs`` or ``CAP_SYS_ADMIN`` (the kernel
lets a process take a filter only then, and sysphase does not set
``no_new_privs`` behind a running program's back), it has no child processes
(a filter installed now would not cover them), and nothing traces it already.
Then the C core (csrc/attach.c) attaches to every thread and makes the switch a
trigger makes under ``run``: every thread held, the phase's filter installed
with TSYNC, every thread's filter count (and, as root, the filter's bytes)
checked, the process killed if that fails. The phases after the named one
switch at their triggers, with sysphase staying as supervisor; with none left
it detaches, and the filter stays for the life of the process.
"""

from __future__ import annotations

import os
from dataclasses import replace

from sysphase._host import enforcement, seccomp, tracer
from sysphase.errors import UsageError
from sysphase.policy.ir import Policy

__all__ = ["AttachPlan", "prepare"]

CAP_SYS_ADMIN = 21


class AttachPlan:
    """What ``run -p`` enforces on one running process."""

    def __init__(self, enforce: tracer.Enforce, phase: str, program: str, phases_after: int):
        self.enforce = enforce
        #: the phase's label in ``enforce.phase_filters``: the filter installed at attach
        self.phase = phase
        self.program = program
        self.phases_after = phases_after


def _status(pid: int) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except FileNotFoundError:
        raise UsageError(f"-p {pid}: no such process") from None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as f:
                found.extend(int(x) for x in f.read().split())
    except FileNotFoundError:
        pass  # a thread that ended meanwhile
    return sorted(set(found))


def check_process(pid: int) -> None:
    """UsageError, one sentence, where the kernel or the process cannot take a filter now."""
    status = _status(pid)
    if status.get("TracerPid", "0") != "0":
        raise UsageError(f"-p {pid}: process {pid} is traced already (by {status['TracerPid']})")
    caps = int(status.get("CapEff", "0"), 16)
    if status.get("NoNewPrivs", "0") == "0" and not caps >> CAP_SYS_ADMIN & 1:
        raise UsageError(
            f"-p {pid}: process {pid} has neither no_new_privs nor CAP_SYS_ADMIN, so the kernel "
            "lets it take no seccomp filter; start it with no_new_privs (systemd: "
            "NoNewPrivileges=yes) or under sysphase run"
        )
    children = _children(pid)
    if children:
        shown = ", ".join(map(str, children[:5])) + (", ..." if len(children) > 5 else "")
        raise UsageError(
            f"-p {pid}: process {pid} has child processes ({shown}) that a filter installed now "
            "would not cover; restart it under sysphase run"
        )


def prepare(
    policy: Policy,
    pid: int,
    phase: str | None,
    action: str,
    source: str,
    *,
    program: str | None = None,
    complain: bool = False,
) -> AttachPlan:
    """Check process PID and compile the filters of phase PHASE (default: the first) on."""
    check_process(pid)
    exe = os.path.realpath(tracer.program_of(pid))
    plan = enforcement.prepare(policy, exe, action, source, program=program)
    names = [p.name for p in plan.program.phases]
    chosen = phase or names[0]
    if chosen not in names:
        raise UsageError(
            f"--phase {chosen}: {plan.program.executable} has phases {', '.join(names)}"
        )
    index = names.index(chosen)
    later = {p.name for p in plan.program.phases[index + 1 :]}
    own = {p.name for p in plan.program.phases}
    # the root program's phases before CHOSEN are gone; other programs keep theirs
    triggers = tuple(t for t in plan.phases.triggers if t.name in later or t.name not in own)
    filters = {n: f for n, f in plan.later_filters.items() if n in later or n not in own}
    ph = plan.program.phases[index]
    filters[chosen] = (
        plan.first_filter
        if index == 0
        else seccomp.compile_filter(ph.allow_list(), action, phase=ph.name)
    )
    enforce = replace(
        plan.enforce(complain),
        first_filter=None,
        phases=replace(plan.phases, triggers=triggers, signal=0, signal_names=()),
        phase_filters=filters,
        supervise=True,
    )
    return AttachPlan(enforce, chosen, plan.program.executable, len(later))
