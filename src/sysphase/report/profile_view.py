"""Views of a profile: statistics per program and phase, the process tree, a diff.

The ``render_*`` functions return plain text ending in a newline (what a pipe
gets); :mod:`~sysphase.report.rich_views` draws the same content (from
:func:`stats_view`, :func:`tree_of` and :func:`diff_view`) as rich tables
and trees on a terminal. Phases of one name are summed over all nodes of a
program, as in `stats --json` (sysphase.model.profile_stats.stats_json).
Names come from the profile (the traced program chose them): every one is
passed through :func:`~sysphase.report.escape.terminal_safe`, so no control
character reaches the terminal.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from sysphase.model.profile import Phase, ProcessNode, Profile, SyscallStat
from sysphase.model.profile_diff import ProfileDiff
from sysphase.model.profile_runs import partial, summary
from sysphase.model.tree import NodeKind
from sysphase.report.escape import terminal_safe
from sysphase.report.text_tree import draw

__all__ = [
    "STAT_COLUMNS",
    "PhaseChanges",
    "PhaseTable",
    "ProgramChanges",
    "ProgramStats",
    "StatsView",
    "diff_view",
    "node_label",
    "render_diff",
    "render_process_tree",
    "render_stats",
    "stats_view",
    "tree_of",
]

#: (heading, width) of the columns of a phase's table after the syscall column.
STAT_COLUMNS = (("calls", 9), ("errors", 9), ("seconds", 11))


def _plural(n: int, word: str, words: str = "") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def _exe(executable: str) -> str:
    return terminal_safe(executable or "?")


@dataclass(frozen=True, slots=True)
class PhaseTable:
    """One phase of one program: its rows (syscall, calls, errors, seconds), all escaped."""

    name: str
    rows: list[tuple[str, str, str, str]]
    total: tuple[str, str, str, str]
    #: "exit_group 1, ..." for calls that never returned (not counted in the rows), or ""
    unfinished: str
    #: the phase made no system call at all
    empty: bool
    #: "futex (2 of 3 runs), ..." for calls some full runs did not make, or ""
    partial: str = ""


@dataclass(frozen=True, slots=True)
class ProgramStats:
    """One program: ``heading`` is its executable and how many processes and threads ran it."""

    heading: str
    phases: list[PhaseTable]


@dataclass(frozen=True, slots=True)
class StatsView:
    """What `stats` shows: the header lines, the programs, and the syscall column's width."""

    header: list[str]
    programs: list[ProgramStats]
    width: int


def _program_phases(
    nodes: list[ProcessNode],
) -> list[tuple[str, dict[str, SyscallStat]]]:
    """(phase name, summed counters) in order of first appearance (nodes in id order)."""
    sums: dict[str, dict[str, SyscallStat]] = {}
    for node in nodes:
        for phase in node.phases:
            acc = sums.setdefault(phase.name, {})
            for key, stat in phase.syscalls.items():
                acc[key] = acc[key] + stat if key in acc else stat
    return list(sums.items())


def _cells(key: str, s: SyscallStat) -> tuple[str, str, str, str]:
    errors = str(s.errors) if s.errors else ""
    return (terminal_safe(key), str(s.calls), errors, f"{s.time_ns / 1e9:.6f}")


def _partial_text(profile: Profile, program: str, phase: str) -> str:
    """``futex (2 of 3 runs), ...``: the phase's calls that some full runs did not make."""
    full = profile.recording.get("full", 0)
    some = partial(profile, program, phase)
    return ", ".join(f"{k} ({n} of {full} runs)" for k, n in some)


def _phase_table(name: str, stats: dict[str, SyscallStat], some: str = "") -> PhaseTable:
    # calls that never returned are listed under the table, as in `trace -c`
    rows = sorted(
        ((k, s) for k, s in stats.items() if s.calls),
        key=lambda kv: (-kv[1].time_ns, -kv[1].calls, kv[0]),
    )
    total = SyscallStat()
    for s in stats.values():
        total = total + s
    unfinished = [(k, s.unfinished) for k, s in sorted(stats.items()) if s.unfinished]
    return PhaseTable(
        terminal_safe(name),
        [_cells(k, s) for k, s in rows],
        _cells("total", total),
        terminal_safe(", ".join(f"{k} {n}" for k, n in unfinished)),
        not stats,
        terminal_safe(some),
    )


def _heading(executable: str, nodes: list[ProcessNode]) -> str:
    threads = sum(1 for n in nodes if n.created is NodeKind.THREAD)
    processes = len(nodes) - threads
    counted = f"{_plural(processes, 'process', 'processes')}, {_plural(threads, 'thread')}"
    return f"{_exe(executable)} ({counted})"


def stats_view(profile: Profile) -> StatsView:
    """Per program (sorted by executable) and phase: the tables of :func:`render_stats`."""
    command = shlex.join(profile.command) if profile.command else "(attached)"
    state = "complete" if profile.complete else "incomplete: a recording was interrupted"
    header = [
        f"profile of {command}",
        f"{profile.arch}, {_plural(profile.runs, 'run')}, {state}",
        summary(profile),
    ]
    programs: dict[str, list[ProcessNode]] = {}
    for node in profile.processes:
        programs.setdefault(node.executable, []).append(node)
    shown = [
        ProgramStats(
            _heading(exe, programs[exe]),
            [
                _phase_table(name, stats, _partial_text(profile, exe, name))
                for name, stats in _program_phases(programs[exe])
            ],
        )
        for exe in sorted(programs)
    ]
    # one syscall column width for every table, so they line up
    keys = (k for node in profile.processes for phase in node.phases for k in phase.syscalls)
    width = max([7, *(len(terminal_safe(k)) for k in keys)])
    return StatsView([terminal_safe(line) for line in header], shown, width)


def _table_lines(phase: PhaseTable, indent: str, width: int) -> list[str]:
    if phase.empty:
        return [f"{indent}(no system calls)"]

    def line(cells: tuple[str, ...]) -> str:
        rest = " ".join(c.rjust(w) for c, (_, w) in zip(cells[1:], STAT_COLUMNS, strict=True))
        return f"{indent}{cells[0]:<{width}} {rest}"

    lines = [line(("syscall", *(heading for heading, _ in STAT_COLUMNS)))]
    lines += [line(row) for row in phase.rows]
    lines.append(line(phase.total))
    if phase.unfinished:
        lines.append(f"{indent}did not return (not counted above): {phase.unfinished}")
    if phase.partial:
        lines.append(f"{indent}seen in only some runs: {phase.partial}")
    return lines


def render_stats(profile: Profile) -> str:
    """Per program (sorted by executable) and phase: a table of syscall, calls, errors, time."""
    view = stats_view(profile)
    lines = list(view.header)
    for program in view.programs:
        lines += ["", program.heading]
        for phase in program.phases:
            lines.append(f"  phase {phase.name}")
            lines.extend(_table_lines(phase, "    ", view.width))
    if not view.programs:
        lines.extend(["", "no processes"])
    return "\n".join(lines) + "\n"


def _phase_summary(phases: tuple[Phase, ...]) -> str:
    if not phases:
        return "no phases"
    return ", ".join(f"{p.name} {len(p.syscalls)}" for p in phases)


def node_label(node: ProcessNode) -> str:
    """A node's line (escaped): id, executable, creation, exit, distinct syscalls per phase."""
    end = node.exit if node.exit is not None else "exit unknown"
    return terminal_safe(
        f"{node.id} {node.executable or '?'} ({node.created.value}, {end}): "
        f"{_phase_summary(node.phases)}"
    )


def tree_of(profile: Profile) -> tuple[list[ProcessNode], dict[int, list[ProcessNode]]]:
    """The roots, and the children of each node id, in id order (for the tree views)."""
    children: dict[int | None, list[ProcessNode]] = {}
    for node in profile.processes:
        children.setdefault(node.parent, []).append(node)
    roots = children.pop(None, [])
    return roots, {k: v for k, v in children.items() if k is not None}


def render_process_tree(profile: Profile) -> str:
    """One line per node, drawn under its parent: id, executable, creation, exit, and the
    number of distinct syscalls in each phase."""
    roots, children = tree_of(profile)
    lines = draw(roots, lambda node: children.get(node.id, []), node_label)
    return "\n".join(lines or ["no processes"]) + "\n"


@dataclass(frozen=True, slots=True)
class PhaseChanges:
    """One phase of a diff: its (escaped) name and the keys B adds and removes."""

    name: str
    added: list[str]
    removed: list[str]


@dataclass(frozen=True, slots=True)
class ProgramChanges:
    """One program of a diff: its executable (escaped) and where it is, and its phases."""

    heading: str
    phases: list[PhaseChanges]


def diff_view(result: ProfileDiff) -> tuple[list[str], list[ProgramChanges]]:
    """(notes, programs) of a diff, every name escaped: what :func:`render_diff` shows."""
    notes = []
    if result.arch_a != result.arch_b:
        notes.append(
            f"note: A is {result.arch_a} and B is {result.arch_b}; syscalls are compared by name"
        )
    if result.empty:
        notes.append("no differences in system calls per program and phase")
    programs = []
    for program in result.programs:
        where = ""
        if not program.in_a:
            where = " (only in B)"
        elif not program.in_b:
            where = " (only in A)"
        phases = [
            PhaseChanges(
                terminal_safe(phase.name),
                [terminal_safe(k) for k in phase.added],
                [terminal_safe(k) for k in phase.removed],
            )
            for phase in program.phases
        ]
        programs.append(ProgramChanges(f"{_exe(program.executable)}{where}", phases))
    return [terminal_safe(n) for n in notes], programs


def render_diff(result: ProfileDiff) -> str:
    """What B adds (+) and removes (-) per program and phase, or a line saying nothing changed."""
    notes, programs = diff_view(result)
    lines = list(notes)
    for program in programs:
        lines.append(program.heading)
        for phase in program.phases:
            lines.append(f"  phase {phase.name}")
            lines.extend(f"    + {key}" for key in phase.added)
            lines.extend(f"    - {key}" for key in phase.removed)
    return "\n".join(lines) + "\n"
