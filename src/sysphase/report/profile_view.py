"""Plain-text views of a profile: statistics per program and phase, the process tree, a diff.

Every function returns text ending in a newline; the CLI may wrap it in rich.
Phases of one name are summed over all nodes of a program, as in
`stats --json` (sysphase.model.profile.stats_json). Names come from the
profile (the traced program chose them): every line is passed through
:func:`~sysphase.report.escape.terminal_safe`, so no control character
reaches the terminal.
"""

from __future__ import annotations

import shlex

from sysphase.model.profile import Phase, ProcessNode, Profile, ProfileDiff, SyscallStat
from sysphase.report.escape import terminal_safe

__all__ = ["render_diff", "render_process_tree", "render_stats"]


def _plural(n: int, word: str, words: str = "") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def _header(profile: Profile) -> list[str]:
    command = shlex.join(profile.command) if profile.command else "(attached)"
    state = "complete" if profile.complete else "incomplete: a recording was interrupted"
    return [f"profile of {command}", f"{profile.arch}, {_plural(profile.runs, 'run')}, {state}"]


def _text(lines: list[str]) -> str:
    """The lines as text ending in a newline, each made safe for a terminal."""
    return "\n".join(terminal_safe(line) for line in lines) + "\n"


def _exe(executable: str) -> str:
    return executable or "?"


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


def _table(stats: dict[str, SyscallStat], indent: str, width: int) -> list[str]:
    if not stats:
        return [f"{indent}(no system calls)"]
    # calls that never returned are listed under the table, as in `trace -c`
    rows = sorted(
        ((k, s) for k, s in stats.items() if s.calls),
        key=lambda kv: (-kv[1].time_ns, -kv[1].calls, kv[0]),
    )
    lines = [f"{indent}{'syscall':<{width}} {'calls':>9} {'errors':>9} {'seconds':>11}"]
    for key, s in rows:
        errors = str(s.errors) if s.errors else ""
        lines.append(f"{indent}{key:<{width}} {s.calls:9d} {errors:>9} {s.time_ns / 1e9:11.6f}")
    total = SyscallStat()
    for s in stats.values():
        total = total + s
    errors = str(total.errors) if total.errors else ""
    lines.append(
        f"{indent}{'total':<{width}} {total.calls:9d} {errors:>9} {total.time_ns / 1e9:11.6f}"
    )
    unfinished = [(k, s.unfinished) for k, s in sorted(stats.items()) if s.unfinished]
    if unfinished:
        listed = ", ".join(f"{k} {n}" for k, n in unfinished)
        lines.append(f"{indent}did not return (not counted above): {listed}")
    return lines


def render_stats(profile: Profile) -> str:
    """Per program (sorted by executable) and phase: a table of syscall, calls, errors, time."""
    lines = _header(profile)
    programs: dict[str, list[ProcessNode]] = {}
    for node in profile.processes:
        programs.setdefault(node.executable, []).append(node)
    # one syscall column width for every table, so they line up
    width = max([7, *(len(k) for n in profile.processes for p in n.phases for k in p.syscalls)])
    for exe in sorted(programs):
        nodes = programs[exe]
        lines.append("")
        lines.append(f"{_exe(exe)} ({_plural(len(nodes), 'process', 'processes')})")
        for name, stats in _program_phases(nodes):
            lines.append(f"  phase {name}")
            lines.extend(_table(stats, "    ", width))
    if not programs:
        lines.extend(["", "no processes"])
    return _text(lines)


def _phase_summary(phases: tuple[Phase, ...]) -> str:
    if not phases:
        return "no phases"
    return ", ".join(f"{p.name} {len(p.syscalls)}" for p in phases)


def render_process_tree(profile: Profile) -> str:
    """One line per node, indented under its parent: id, executable, creation, exit, and the
    number of distinct syscalls in each phase."""
    children: dict[int | None, list[ProcessNode]] = {}
    for node in profile.processes:
        children.setdefault(node.parent, []).append(node)
    lines = []
    stack = [(0, n) for n in reversed(children.get(None, []))]
    while stack:
        depth, node = stack.pop()
        prefix = "" if depth == 0 else "  " * (depth - 1) + "└─ "
        end = node.exit if node.exit is not None else "exit unknown"
        lines.append(
            f"{prefix}{node.id} {_exe(node.executable)} ({node.created.value}, {end}): "
            f"{_phase_summary(node.phases)}"
        )
        stack.extend((depth + 1, c) for c in reversed(children.get(node.id, [])))
    if not lines:
        lines.append("no processes")
    return _text(lines)


def render_diff(result: ProfileDiff) -> str:
    """What B adds (+) and removes (-) per program and phase, or a line saying nothing changed."""
    lines = []
    if result.arch_a != result.arch_b:
        lines.append(
            f"note: A is {result.arch_a} and B is {result.arch_b}; syscalls are compared by name"
        )
    if result.empty:
        lines.append("no differences in system calls per program and phase")
    for program in result.programs:
        where = ""
        if not program.in_a:
            where = " (only in B)"
        elif not program.in_b:
            where = " (only in A)"
        lines.append(f"{_exe(program.executable)}{where}")
        for phase in program.phases:
            lines.append(f"  phase {phase.name}")
            lines.extend(f"    + {key}" for key in phase.added)
            lines.extend(f"    - {key}" for key in phase.removed)
    return _text(lines)
