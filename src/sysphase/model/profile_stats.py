"""Profile statistics: the `stats --json` document and distinct syscalls per program and phase.

Counters are summed per executable and phase name, over every node of the
executable and every phase index; docs/formats/profile.md and docs/design.md
describe the shapes. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping

from sysphase.model.profile import Profile, SyscallStat
from sysphase.model.profile_codec import stat_to_dict
from sysphase.model.profile_runs import in_some_runs, summary

__all__ = ["distinct_syscalls", "stats_json", "syscall_sets"]


def _add(acc: dict[str, SyscallStat], syscalls_: Mapping[str, SyscallStat]) -> None:
    for key, stat in syscalls_.items():
        acc[key] = acc[key] + stat if key in acc else stat


def _stats_map(stats: Mapping[str, SyscallStat]) -> dict[str, dict[str, int]]:
    return {k: stat_to_dict(stats[k]) for k in sorted(stats)}


def stats_json(profile: Profile) -> dict[str, object]:
    """The `stats --json` document (docs/design.md), sorted keys, plus a few trailing keys.

    ``{"totals": {syscall: {"calls", "errors", "time_ns", "unfinished"}},
    "programs": {executable: {"processes": N, "phases": {phase name: {syscall: {...}}}}},
    "arch", "runs", "complete", "command", "recording" (runs per mode), "counts"
    (what they are worth, in words), "seen_in_some_runs" (executable -> phase ->
    syscall -> the full runs that made it, for calls not every full run made)}``.
    Phases of one name (in any node of the program, at any index) are summed.
    """
    totals: dict[str, SyscallStat] = {}
    programs: dict[str, dict[str, dict[str, SyscallStat]]] = {}
    processes: dict[str, int] = {}
    for node in profile.processes:
        processes[node.executable] = processes.get(node.executable, 0) + 1
        phases = programs.setdefault(node.executable, {})
        for phase in node.phases:
            _add(totals, phase.syscalls)
            _add(phases.setdefault(phase.name, {}), phase.syscalls)
    return {
        "totals": _stats_map(totals),
        "programs": {
            exe: {
                "processes": processes[exe],
                "phases": {name: _stats_map(programs[exe][name]) for name in sorted(programs[exe])},
            }
            for exe in sorted(programs)
        },
        "arch": profile.arch,
        "runs": profile.runs,
        "complete": profile.complete,
        "command": list(profile.command),
        "recording": dict(profile.recording),
        "counts": summary(profile),
        "seen_in_some_runs": _some_runs(profile),
    }


def _some_runs(profile: Profile) -> dict[str, dict[str, dict[str, int]]]:
    """executable -> phase -> syscall -> the full runs that made it, for those not all did."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for s in in_some_runs(profile):
        out.setdefault(s.program, {}).setdefault(s.phase, {})[s.syscall] = s.runs
    return out


def syscall_sets(profile: Profile) -> dict[str, dict[str, set[str]]]:
    """The syscall keys per executable and phase name, over all the executable's nodes."""
    out: dict[str, dict[str, set[str]]] = {}
    for node in profile.processes:
        phases = out.setdefault(node.executable, {})
        for phase in node.phases:
            phases.setdefault(phase.name, set()).update(phase.syscalls)
    return out


def distinct_syscalls(profile: Profile) -> dict[str, dict[str, int]]:
    """Number of distinct syscall keys per executable and phase name (over all its nodes)."""
    sets = syscall_sets(profile)
    return {exe: {name: len(sets[exe][name]) for name in sorted(sets[exe])} for exe in sorted(sets)}
