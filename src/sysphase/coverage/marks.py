"""``policy --explain``'s marks: each allowed call seen, reachable from the code, or added.

- ``seen``: recorded. In the program's phase itself, or, since a phase's
  filter also allows what its later phases and the programs it runs need,
  in one of the program phases its provenance lists (a ``--portable``
  equivalent lists its group's sources, which never made it: not seen);
- ``reachable``: not recorded, but the program's code can make it
  (:class:`~sysphase.coverage.report.ProgramReach`);
- ``added``: neither: added by the generator on purpose (vDSO fallbacks,
  the enforcer's calls, equivalents) or by ``--allow``.

A program without a reach (its file missing, not ELF) gets ``seen`` and
``added`` only. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sysphase.coverage.report import ProgramReach
from sysphase.model.profile import Profile
from sysphase.model.profile_stats import syscall_sets
from sysphase.policy.ir import AllowedCall
from sysphase.policy.process_phases import one_entry_name

__all__ = ["LEGEND", "CallMarks", "call_marks"]

#: What the marks mean, in one line.
LEGEND: Final = (
    "Marks: seen (recorded there, or where the provenance says), reachable (not recorded, "
    "reachable from the program's code), added (neither: on purpose or by hand)"
)


@dataclass(frozen=True, slots=True)
class CallMarks:
    """The profile's calls per program and phase, and each program's reachable calls."""

    seen: Mapping[str, Mapping[str, set[str]]]
    reachable: Mapping[str, frozenset[str]]

    def __call__(self, executable: str, phase: str, call: AllowedCall) -> str:
        """``seen``, ``reachable`` or ``added`` for ``call`` in ``executable``'s ``phase``."""
        name = call.syscall
        places = [(executable, phase), *((p.program, p.phase) for p in call.provenance)]
        if any(name in self.seen.get(exe, {}).get(ph, ()) for exe, ph in places):
            return "seen"
        if name in self.reachable.get(executable, frozenset()):
            return "reachable"
        return "added"


def call_marks(profile: Profile, reaches: Mapping[str, ProgramReach]) -> CallMarks:
    """The marks of a policy made from ``profile`` (its entry phases named as the policy does)."""
    return CallMarks(
        syscall_sets(one_entry_name(profile)),
        {exe: reach.reachable for exe, reach in reaches.items()},
    )
