"""Coverage of a recording: what each program and phase was seen to call against what it can reach.

Pure set arithmetic and rendering over a profile, each program's
:class:`ProgramReach` (the syscall names each source reaches: an imported
libc function ``connect@libc``, libc's ``syscall@libc`` wrapper with a
constant number, the program's own ``(syscall instruction)``), and
optionally a policy. Per program and phase: the calls seen, the calls
reachable but not seen (each with the sources that reach it, the most
specific first), the calls seen but not found reachable (what the analysis
missed: indirect calls, other libraries, the dynamic loader), and with a
policy the calls it allows that are neither seen nor reachable. Nothing here
changes a policy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from sysphase.model.profile import Profile
from sysphase.model.profile_stats import syscall_sets
from sysphase.policy.ir import Policy

__all__ = [
    "DIRECT",
    "PhaseCoverage",
    "ProgramCoverage",
    "ProgramReach",
    "cover",
    "render",
    "to_json",
]

#: The source of the numbers of the program's own syscall instructions.
DIRECT: Final = "(syscall instruction)"
#: Sources shown per call in the text (all of them in JSON).
_SHOWN: Final = 3


@dataclass(frozen=True, slots=True)
class ProgramReach:
    """What the analysis found for one executable.

    ``sources``: source label -> the syscall names it reaches. ``unresolved``:
    what could not be followed, description -> count. ``not_followed``: the
    imported functions libc does not define (other libraries). ``imports``:
    how many functions the executable imports. ``seconds``: analysis time.
    """

    executable: str
    sources: Mapping[str, frozenset[str]]
    unresolved: Mapping[str, int]
    not_followed: tuple[str, ...]
    imports: int
    seconds: float = 0.0

    @property
    def reachable(self) -> frozenset[str]:
        return frozenset().union(*self.sources.values())


@dataclass(frozen=True, slots=True)
class PhaseCoverage:
    """One phase of one program: seen, reachable-not-seen (with sources), unexplained, beyond.

    ``beyond`` is None without a policy (or when the policy has no such program
    and phase), else what it allows that is neither seen nor reachable.
    """

    name: str
    seen: tuple[str, ...]
    unseen: tuple[tuple[str, tuple[str, ...]], ...]
    unexplained: tuple[str, ...]
    beyond: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class ProgramCoverage:
    """A program's reach and its phases' coverage, in the profile's order."""

    reach: ProgramReach
    phases: tuple[PhaseCoverage, ...]


def _base(label: str) -> str:
    return label.partition("@")[0].lstrip("_")


def sources_of(reach: ProgramReach, syscall: str) -> tuple[str, ...]:
    """The sources that reach ``syscall``: a function of its name first, then the most specific."""
    found = [label for label, names in reach.sources.items() if syscall in names]
    return tuple(sorted(found, key=lambda s: (_base(s) != syscall, len(reach.sources[s]), s)))


def _allowed(
    policy: Policy | None, executable: str, build_id: str, phase: str
) -> frozenset[str] | None:
    if policy is None:
        return None
    program = policy.program(executable, build_id)
    found = program.phase(phase) if program is not None else None
    return None if found is None else found.syscall_names()


def _phase(
    reach: ProgramReach, name: str, seen: set[str], allowed: frozenset[str] | None
) -> PhaseCoverage:
    reachable = reach.reachable
    unseen = tuple((sc, sources_of(reach, sc)) for sc in sorted(reachable - seen))
    beyond = None if allowed is None else tuple(sorted(allowed - seen - reachable))
    return PhaseCoverage(name, tuple(sorted(seen)), unseen, tuple(sorted(seen - reachable)), beyond)


def cover(
    profile: Profile, reaches: Mapping[str, ProgramReach], policy: Policy | None = None
) -> tuple[ProgramCoverage, ...]:
    """Per program of ``profile`` that ``reaches`` has, per phase: the coverage."""
    build_ids = {n.executable: n.build_id or "" for n in reversed(profile.processes)}
    out = []
    for executable, phases in syscall_sets(profile).items():
        reach = reaches.get(executable)
        if reach is None:
            continue
        out.append(
            ProgramCoverage(
                reach,
                tuple(
                    _phase(
                        reach, name, seen, _allowed(policy, executable, build_ids[executable], name)
                    )
                    for name, seen in phases.items()
                ),
            )
        )
    return tuple(out)


def _phase_json(phase: PhaseCoverage) -> dict[str, object]:
    doc: dict[str, object] = {
        "phase": phase.name,
        "seen": list(phase.seen),
        "reachable_not_seen": {sc: list(src) for sc, src in phase.unseen},
        "seen_not_reachable": list(phase.unexplained),
    }
    if phase.beyond is not None:
        doc["allowed_beyond"] = list(phase.beyond)
    return doc


def to_json(programs: Sequence[ProgramCoverage]) -> dict[str, object]:
    """``{"programs": [{executable, imports, not_followed, unresolved, reachable, phases}]}``."""
    return {
        "programs": [
            {
                "executable": p.reach.executable,
                "imports": p.reach.imports,
                "not_followed": list(p.reach.not_followed),
                "unresolved": dict(sorted(p.reach.unresolved.items())),
                "reachable": sorted(p.reach.reachable),
                "analysis_seconds": round(p.reach.seconds, 2),
                "phases": [_phase_json(ph) for ph in p.phases],
            }
            for p in programs
        ]
    }


def _names(names: Sequence[str], indent: str) -> list[str]:
    """Names wrapped at 100 columns."""
    lines: list[str] = []
    line = indent
    for name in names:
        if len(line) + len(name) + 1 > 100 and line.strip():
            lines.append(line.rstrip())
            line = indent
        line += name + " "
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _heading(reach: ProgramReach) -> list[str]:
    lines = [
        f"{reach.executable}: {reach.imports} imported functions, "
        f"{len(reach.reachable)} syscalls reachable (analysed in {reach.seconds:.1f} s)"
    ]
    unresolved = [f"{n} {what}" for what, n in sorted(reach.unresolved.items()) if n]
    if unresolved:
        lines.append("  not followed: " + ", ".join(unresolved))
    if reach.not_followed:
        lines.append(f"  {len(reach.not_followed)} imports from other libraries, not followed:")
        lines += _names(reach.not_followed, "    ")
    return lines


def _phase_lines(phase: PhaseCoverage) -> list[str]:
    lines = [
        f"  phase {phase.name}: {len(phase.seen)} seen, {len(phase.unseen)} reachable but not "
        f"seen, {len(phase.unexplained)} seen but not found reachable"
    ]
    lines += ["    seen:", *_names(phase.seen, "      ")]
    if phase.unseen:
        lines.append("    reachable, not seen (← what reaches it):")
        width = max(len(sc) for sc, _ in phase.unseen)
        for sc, sources in phase.unseen:
            more = f" (+{len(sources) - _SHOWN} more)" if len(sources) > _SHOWN else ""
            lines.append(f"      {sc:<{width}} ← {', '.join(sources[:_SHOWN])}{more}")
    if phase.unexplained:
        lines += ["    seen, not found reachable:", *_names(phase.unexplained, "      ")]
    if phase.beyond is not None:
        lines.append(f"    allowed by the policy, neither seen nor reachable: {len(phase.beyond)}")
        lines += _names(phase.beyond, "      ")
    return lines


def render(programs: Sequence[ProgramCoverage]) -> str:
    """The text report: per program its heading, then per phase the lists."""
    lines: list[str] = []
    for program in programs:
        if lines:
            lines.append("")
        lines += _heading(program.reach)
        for phase in program.phases:
            lines += _phase_lines(phase)
    return "\n".join(lines) + "\n" if lines else ""
