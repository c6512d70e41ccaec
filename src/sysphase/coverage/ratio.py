"""``stats --coverage``: per program and phase, how much of what the code can reach was seen.

From :func:`sysphase.coverage.report.cover`: a phase's ratio is the calls it
was seen to make that the code can reach, over the calls the code can reach
(reachability is per program, so every phase of a program has the same
denominator); the calls seen but not found reachable (the loader's start-up,
indirect calls) are counted apart. Programs whose reach is unknown (missing,
not ELF) get their reason instead. Text and JSON; pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sysphase.coverage.report import PhaseCoverage, ProgramCoverage

__all__ = ["ratio_json", "render_ratios"]


def _ratio(seen: int, reachable: int) -> float | None:
    return round(seen / reachable, 3) if reachable else None


def _phase_counts(phase: PhaseCoverage, reachable: int) -> dict[str, object]:
    seen_reachable = len(phase.seen) - len(phase.unexplained)
    return {
        "seen": len(phase.seen),
        "seen_reachable": seen_reachable,
        "seen_not_reachable": len(phase.unexplained),
        "reachable": reachable,
        "ratio": _ratio(seen_reachable, reachable),
    }


def ratio_json(
    programs: Sequence[ProgramCoverage], unknown: Mapping[str, str]
) -> dict[str, object]:
    """``{executable: {"reachable": N, "phases": {phase: counts}} | {"unknown": reason}}``."""
    doc: dict[str, object] = {exe: {"unknown": why} for exe, why in unknown.items()}
    for program in programs:
        reachable = len(program.reach.reachable)
        doc[program.reach.executable] = {
            "reachable": reachable,
            "phases": {ph.name: _phase_counts(ph, reachable) for ph in program.phases},
        }
    return dict(sorted(doc.items()))


def render_ratios(programs: Sequence[ProgramCoverage], unknown: Mapping[str, str]) -> str:
    """The text: per program its reachable count, per phase seen-of-reachable and the ratio."""
    lines = ["Coverage (calls seen of those the program's code can reach):"]
    for program in programs:
        reachable = len(program.reach.reachable)
        lines.append(f"  {program.reach.executable}: {reachable} syscalls reachable")
        for phase in program.phases:
            counts = _phase_counts(phase, reachable)
            ratio = counts["ratio"]
            shown = "-" if not isinstance(ratio, float) else f"{ratio:.0%}"
            lines.append(
                f"    phase {phase.name}: {counts['seen_reachable']} of {reachable} seen "
                f"({shown}); {counts['seen_not_reachable']} more seen, not found reachable"
            )
    for exe, why in sorted(unknown.items()):
        lines.append(f"  {exe}: reachability unknown: {why}")
    return "\n".join(lines) + "\n"
