"""`--explain`: why each syscall is in a policy, as plain text.

Per program and phase: every allowed syscall with where it came from
(program, phase, number of calls) or why it was added, its argument
conditions and notes on them, then the calls the trace saw that the policy
refuses (another ABI). Where many phases made a call, its provenance lists
the first few and the note says how many there were (so the text grows
linearly with the phases).

With a ``marker`` (``policy --explain`` passes
:class:`sysphase.coverage.marks.CallMarks`), each allowed call also gets a
mark (``seen``, ``reachable``, ``added``) after its name, a legend line
heads the text, and ``unknown`` gives, per program whose reach is unknown,
the one line saying why. With ``first_seen`` (a workload recording's
profile), a call seen in training also says where it first appeared:
``first seen: scenario replica-of, step REPLICAOF``; with ``some_runs``, a
call that only some full runs made says so (``seen in 2 of 10 runs``).

A phase with a Landlock section (``policy --landlock``) then lists it: the
ABI, ports and scopes on one line, then each rule with its rights and its
provenance (the generalisation rules that made it, how many recorded paths
it covers and a few of them), and the section's note.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from typing import Final

from sysphase.model.profile import FirstSeen
from sysphase.policy.ir import AllowedCall, LandlockSection, Policy, PolicyPhase
from sysphase.report.escape import terminal_safe

__all__ = ["ACTION_TEXT", "Marker", "explain", "landlock_lines"]

#: What each default action does, in words.
ACTION_TEXT: Final = {
    "kill": "kill the process",
    "errno": "fail the call with EPERM",
    "trap": "send SIGSYS",
    "log": "allow and log the call",
}

_WIDTH: Final = 20
_MARK_WIDTH: Final = len("reachable")

#: (executable, phase name, allowed call) -> its mark
Marker = Callable[[str, str, AllowedCall], str]
#: (program, phase, syscall) -> where a workload recording first saw it
FirstSeenMap = Mapping[tuple[str, str, str], FirstSeen]
#: (program, phase, syscall) -> "seen in 2 of 10 runs", for calls not every full run made
SomeRuns = Mapping[tuple[str, str, str], str]


def explain(
    policy: Policy,
    marker: Marker | None = None,
    legend: str = "",
    unknown: Mapping[str, str] | None = None,
    first_seen: FirstSeenMap | None = None,
    some_runs: SomeRuns | None = None,
) -> str:
    """The explanation text, ending in a newline (module doc for the optional arguments)."""
    options = [f"--{k}" for k, v in policy.options.items() if v]
    lines = [
        f"Policy for {shlex.join(policy.command) or '(no command)'} ({policy.arch})",
        f"Default action: {policy.default_action} "
        f"({ACTION_TEXT.get(policy.default_action, policy.default_action)})",
        f"Options: {' '.join(options) or 'none'}",
    ]
    if legend:
        lines.append(legend)
    for pos, program in enumerate(policy.programs):
        lines.append("")
        lines.append(program.executable + (" (root program)" if pos == 0 else ""))
        why = (unknown or {}).get(program.executable)
        if why:
            lines.append(f"  reachability unknown (marks seen or added only): {why}")
        for phase in program.phases:
            lines += _phase_lines(
                phase, program.executable, marker, first_seen or {}, some_runs or {}
            )
    # names come from the profile: no control character reaches the terminal
    return "\n".join(terminal_safe(line) for line in lines) + "\n"


def _first_seen(call: AllowedCall, phase: str, first_seen: FirstSeenMap) -> str:
    """Where the call was first seen in PHASE (else in the earliest of its provenances), or ""."""
    found = [
        first_seen[(p.program, p.phase, call.syscall)]
        for p in call.provenance
        if (p.program, p.phase, call.syscall) in first_seen
    ]
    if not found:
        return ""
    f = min(found, key=lambda f: (f.phase != phase, f))
    step = f", step {f.step}" if f.step else ""
    return f"first seen: scenario {f.scenario}{step}"


def _phase_lines(
    phase: PolicyPhase,
    executable: str,
    marker: Marker | None,
    first_seen: FirstSeenMap,
    some_runs: SomeRuns,
) -> list[str]:
    n = len(phase.allowed)
    lines = [
        f"  phase {phase.name} (trigger: {phase.trigger}): "
        f"{n} syscall{'' if n == 1 else 's'} allowed"
    ]
    width = _WIDTH + (_MARK_WIDTH + 1 if marker else 0)
    pad = " " * (4 + width + 1)
    for call in phase.allowed:
        name = call.syscall
        if marker is not None:
            name = f"{name:<{_WIDTH}} {marker(executable, phase.name, call)}"
        lines.append(f"    {name:<{width}} {call.describe()}")
        if where := _first_seen(call, phase.name, first_seen):
            lines.append(f"{pad}{where}")
        runs = [
            some_runs[(p.program, p.phase, call.syscall)]
            for p in call.provenance
            if (p.program, p.phase, call.syscall) in some_runs
        ]
        if runs:
            lines.append(f"{pad}{'; '.join(runs)}")
        if call.rule.when:
            lines.append(f"{pad}when {call.rule.describe()}")
        if call.note:
            lines.append(f"{pad}note: {call.note}")
    for refused in phase.refused:
        where = "; ".join(p.describe() for p in refused.provenance)
        lines.append(f"    {refused.syscall:<{width}} {where}; {refused.reason}")
    if phase.landlock is not None:
        lines += landlock_lines(phase.landlock)
    return lines


def _ports(ports: tuple[int, ...]) -> str:
    return ", ".join(str(p) for p in ports) or "none"


def landlock_lines(section: LandlockSection) -> list[str]:
    """A phase's Landlock section, indented under its syscalls."""
    n = len(section.rules)
    lines = [
        f"    landlock (ABI {section.abi}): {n} rule{'' if n == 1 else 's'}; "
        f"tcp bind: {_ports(section.bind_tcp)}; tcp connect: {_ports(section.connect_tcp)}; "
        f"scoped: {', '.join(section.scoped) or 'none'}"
    ]
    for rule in section.rules:
        lines.append(f"      {rule.path}: {' '.join(rule.rights)}")
        lines.append(f"        {rule.describe()}")
    if section.note:
        lines.append(f"      note: {section.note}")
    return lines
