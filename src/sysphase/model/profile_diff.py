"""Diff of two profiles: the syscalls profile B adds and removes relative to A.

Per executable and phase name, as ``sysphase diff`` shows it
(:func:`sysphase.report.profile_view.render_diff`). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from sysphase.model.profile import Profile
from sysphase.model.profile_stats import syscall_sets

__all__ = ["PhaseDiff", "ProfileDiff", "ProgramDiff", "diff"]


@dataclass(frozen=True, slots=True)
class PhaseDiff:
    """Syscalls of one phase (by name) that B adds to or removes from A."""

    name: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProgramDiff:
    """Changes of one executable; in_a/in_b say which profiles have it at all."""

    executable: str
    in_a: bool
    in_b: bool
    phases: tuple[PhaseDiff, ...]


@dataclass(frozen=True, slots=True)
class ProfileDiff:
    """What profile B adds and removes relative to A, per program and phase."""

    arch_a: str
    arch_b: str
    programs: tuple[ProgramDiff, ...]

    @property
    def empty(self) -> bool:
        return not self.programs


def _phase_order(*profiles: Profile) -> dict[tuple[str, str], int]:
    """(executable, phase name) -> rank of first appearance (nodes in id order, then B)."""
    first: dict[tuple[str, str], int] = {}
    for profile in profiles:
        for node in profile.processes:
            for phase in node.phases:
                first.setdefault((node.executable, phase.name), len(first))
    return first


def diff(a: Profile, b: Profile) -> ProfileDiff:
    """Per executable and phase name: syscall keys in B and not A (added), in A not B (removed).

    Programs are sorted by executable; phases by first appearance (A's
    nodes in id order, then B's). Programs and phases without changes are left out, except a program
    only one side has.
    """
    sets_a, sets_b = syscall_sets(a), syscall_sets(b)
    order = _phase_order(a, b)
    programs = []
    for exe in sorted(set(sets_a) | set(sets_b)):
        pa, pb = sets_a.get(exe, {}), sets_b.get(exe, {})
        names = sorted(set(pa) | set(pb), key=lambda n: order[(exe, n)])
        phases = []
        for name in names:
            sa, sb = pa.get(name, set()), pb.get(name, set())
            if sa != sb:
                phases.append(PhaseDiff(name, tuple(sorted(sb - sa)), tuple(sorted(sa - sb))))
        in_a, in_b = exe in sets_a, exe in sets_b
        if phases or in_a != in_b:
            programs.append(ProgramDiff(exe, in_a, in_b, tuple(phases)))
    return ProfileDiff(a.arch, b.arch, tuple(programs))
