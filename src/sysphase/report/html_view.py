"""What `sysphase report`'s page shows, as plain data: tables, drops, heatmap, policy, diff.

Pure. Per program (executable) and phase name, the counters summed over the
program's nodes (as ``stats`` sums them), in the phase order every node of
the program agrees on (:func:`sysphase.policy.process_phases.ordered_union`),
each phase with what it drops against the phase before it and what it adds;
the program x syscall heatmap across phases; with a policy, each allowed call
with its provenance as ``policy --explain`` gives it (``describe()``) and its
mark (``seen`` or ``added``, :mod:`sysphase.coverage.marks`, without the
code analysis; ``by hand`` for a call only ``--allow`` put there). Texts are
raw here: :mod:`sysphase.report.html_report` escapes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sysphase.coverage.marks import call_marks
from sysphase.model.profile import Profile, SyscallStat
from sysphase.model.profile_runs import partial
from sysphase.model.tree import NodeKind
from sysphase.policy.ir import AllowedCall, Policy
from sysphase.policy.process_phases import ordered_union

__all__ = [
    "BY_HAND",
    "CallRow",
    "Heatmap",
    "PhaseView",
    "PolicyPhaseView",
    "PolicyRow",
    "ProgramView",
    "heatmap",
    "phase_names",
    "policy_views",
    "program_views",
]

#: how the policy generator's reason begins for a call ``--allow`` put in a phase
#: (sysphase.policy.phase_sweep)
BY_HAND = "allowed by hand"


@dataclass(frozen=True, slots=True)
class CallRow:
    """One syscall of one program's phase: counters summed over the program's nodes."""

    syscall: str
    stat: SyscallStat
    #: "SCENARIO / STEP" where a workload recording first saw it, or ""
    first_seen: str = ""


@dataclass(frozen=True, slots=True)
class PhaseView:
    """One phase of one program: its triggers, rows, and the change from the phase before."""

    name: str
    triggers: tuple[str, ...]
    rows: tuple[CallRow, ...]
    #: the phase before it in the program's order, None for the first
    previous: str | None
    #: syscalls of the phase before that this one does not make, and those it makes anew
    dropped: tuple[str, ...]
    added: tuple[str, ...]
    #: (syscall, full runs that made it) for calls only some full runs made
    partial: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class ProgramView:
    """One executable: how many processes and threads ran it, and its phases in order."""

    executable: str
    processes: int
    threads: int
    phases: tuple[PhaseView, ...]


def _first_seen(profile: Profile) -> dict[tuple[str, str, str], str]:
    out = {}
    for f in profile.first_seen:
        step = f" / {f.step}" if f.step else ""
        out[(f.program, f.phase, f.syscall)] = f"{f.scenario}{step}"
    return out


def _sums(profile: Profile) -> dict[str, dict[str, dict[str, SyscallStat]]]:
    """executable -> phase name -> syscall -> counters summed over its nodes."""
    out: dict[str, dict[str, dict[str, SyscallStat]]] = {}
    for node in profile.processes:
        phases = out.setdefault(node.executable, {})
        for phase in node.phases:
            acc = phases.setdefault(phase.name, {})
            for key, stat in phase.syscalls.items():
                acc[key] = acc[key] + stat if key in acc else stat
    return out


def phase_names(profile: Profile) -> dict[str, list[str]]:
    """executable -> its phase names in the order its nodes agree on."""
    seqs: dict[str, list[list[str]]] = {}
    for node in profile.processes:
        ordered = [p.name for p in sorted(node.phases, key=lambda p: (p.index, p.name))]
        seqs.setdefault(node.executable, []).append(ordered)
    return {exe: ordered_union(s) for exe, s in seqs.items()}


def program_views(profile: Profile) -> list[ProgramView]:
    """Per program (sorted by executable): each phase's rows, drops and additions."""
    sums, orders, seen = _sums(profile), phase_names(profile), _first_seen(profile)
    triggers: dict[tuple[str, str], set[str]] = {}
    counts: dict[str, list[int]] = {}
    for node in profile.processes:
        c = counts.setdefault(node.executable, [0, 0])
        c[node.created is NodeKind.THREAD] += 1
        for p in node.phases:
            triggers.setdefault((node.executable, p.name), set()).add(p.trigger)
    views = []
    for exe in sorted(sums):
        phases: list[PhaseView] = []
        before: set[str] | None = None
        for name in orders[exe]:
            stats = sums[exe].get(name, {})
            rows = tuple(
                CallRow(k, stats[k], seen.get((exe, name, k), ""))
                for k in sorted(stats, key=lambda k: (-stats[k].calls, k))
            )
            now = set(stats)
            prev = phases[-1].name if phases else None
            dropped = tuple(sorted(before - now)) if before is not None else ()
            added = tuple(sorted(now - before)) if before is not None else ()
            some = tuple(partial(profile, exe, name))
            trig = tuple(sorted(triggers.get((exe, name), ())))
            phases.append(PhaseView(name, trig, rows, prev, dropped, added, some))
            before = now
        views.append(ProgramView(exe, counts[exe][0], counts[exe][1], tuple(phases)))
    return views


@dataclass(frozen=True, slots=True)
class Heatmap:
    """Rows of syscalls against columns of (executable, phase): calls, None where not made."""

    columns: tuple[tuple[str, str], ...]
    rows: tuple[tuple[str, tuple[int | None, ...]], ...]


def heatmap(programs: Sequence[ProgramView]) -> Heatmap:
    """Every syscall of the profile (most calls first) against each program's phases."""
    columns = [(p.executable, ph.name) for p in programs for ph in p.phases]
    cells: dict[str, dict[int, int]] = {}
    col = 0
    for p in programs:
        for ph in p.phases:
            for row in ph.rows:
                cells.setdefault(row.syscall, {})[col] = row.stat.calls + row.stat.unfinished
            col += 1
    total = {k: sum(v.values()) for k, v in cells.items()}
    order = sorted(cells, key=lambda k: (-total[k], k))
    rows = tuple((k, tuple(cells[k].get(i) for i in range(len(columns)))) for k in order)
    return Heatmap(tuple(columns), rows)


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """One allowed (or refused) call: its mark, where it came from, its conditions and note."""

    syscall: str
    mark: str
    source: str
    conditions: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class PolicyPhaseView:
    """One phase of one program of a policy: its trigger, allowed and refused calls."""

    executable: str
    name: str
    trigger: str
    allowed: tuple[PolicyRow, ...]
    refused: tuple[PolicyRow, ...]


def _mark(call: AllowedCall, mark: str) -> str:
    """``seen`` or ``added`` as policy --explain marks it; ``by hand`` for an --allow."""
    if mark == "seen":
        return "seen"
    if call.reason and BY_HAND in call.reason:
        return "by hand"
    return "added"


def policy_views(policy: Policy, profile: Profile) -> list[PolicyPhaseView]:
    """Every phase of every program of POLICY, its calls marked against PROFILE's."""
    marks = call_marks(profile, {})  # no code analysis: seen or added
    out = []
    for program in policy.programs:
        exe = program.executable
        for phase in program.phases:
            allowed = tuple(
                PolicyRow(
                    a.syscall,
                    _mark(a, marks(exe, phase.name, a)),
                    a.describe(),
                    a.rule.describe(),
                    a.note or "",
                )
                for a in phase.allowed
            )
            refused = tuple(
                PolicyRow(
                    r.syscall,
                    "refused",
                    "; ".join([*(p.describe() for p in r.provenance), r.reason]),
                )
                for r in phase.refused
            )
            out.append(PolicyPhaseView(exe, phase.name, phase.trigger, allowed, refused))
    return out
