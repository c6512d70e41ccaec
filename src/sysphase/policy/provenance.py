"""Provenance bookkeeping: which program phases a policy's allowed (or refused) call came from.

While a program's phases are swept from the last backwards, every syscall
key (and every ``--portable`` group) collects its sources as (program rank,
phase rank) pairs with their call counts. :class:`Sources` keeps, besides
the calls per source, the nearest phase of the first programs and the
smallest ranks, so that choosing what to list never looks at every source;
:meth:`ProgramNames.provenance` lists at most :data:`PROVENANCE_LIMIT` of
them, with a note giving the count and total calls of all.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

from sysphase.policy.ir import Provenance

__all__ = ["PROVENANCE_LIMIT", "ProgramNames", "Rank", "Sources", "join_notes"]

#: The most sources (program and phase) the provenance of one allowed or refused call lists:
#: every program's nearest phase first, then the nearest others. A note says how many there
#: were and how many calls they made.
PROVENANCE_LIMIT: Final = 8

#: (program rank, phase rank): programs in policy order, phases in program order.
Rank = tuple[int, int]
_T = TypeVar("_T", int, Rank)


def _keep_smallest(items: list[_T], item: _T, limit: int) -> None:
    """Add ``item`` to the sorted ``items`` if it is among the ``limit`` smallest."""
    if len(items) < limit:
        bisect.insort(items, item)
    elif item < items[-1]:
        bisect.insort(items, item)
        items.pop()


@dataclass(slots=True)
class Sources:
    """The sources (program phases) of one syscall key, or --portable group, covered so far.

    Besides the calls per source, it keeps, sorted, the first programs and the
    smallest ranks, so that choosing a phase's provenance never looks at every source.
    """

    per: dict[Rank, int] = field(default_factory=dict)
    total: int = 0
    #: program rank -> its nearest (smallest) phase rank among the sources
    nearest: dict[int, int] = field(default_factory=dict)
    #: the PROVENANCE_LIMIT smallest program ranks
    programs: list[int] = field(default_factory=list)
    #: the 2 * PROVENANCE_LIMIT smallest source ranks
    smallest: list[Rank] = field(default_factory=list)

    def add(self, rank: Rank, calls: int) -> None:
        self.total += calls
        have = self.per.get(rank)
        if have is not None:
            self.per[rank] = have + calls
            return
        self.per[rank] = calls
        program, phase = rank
        near = self.nearest.get(program)
        if near is None:
            self.nearest[program] = phase
            _keep_smallest(self.programs, program, PROVENANCE_LIMIT)
        elif phase < near:
            self.nearest[program] = phase
        _keep_smallest(self.smallest, rank, 2 * PROVENANCE_LIMIT)

    def chosen(self) -> list[Rank]:
        """At most PROVENANCE_LIMIT: every program's nearest phase first, then the nearest."""
        if len(self.per) <= PROVENANCE_LIMIT:
            return sorted(self.per)
        pick = {(p, self.nearest[p]) for p in self.programs}
        for rank in self.smallest:  # at most PROVENANCE_LIMIT of these are picked already
            if len(pick) >= PROVENANCE_LIMIT:
                break
            pick.add(rank)
        return sorted(pick)


@dataclass(frozen=True, slots=True)
class ProgramNames:
    """Program and phase names by rank."""

    programs: Sequence[str]
    phases: Sequence[Sequence[str]]

    def provenance(self, sources: Sources | None) -> tuple[tuple[Provenance, ...], str | None]:
        """The provenance to list, and a remark when it is cut to PROVENANCE_LIMIT sources."""
        if sources is None:
            return (), None
        listed = tuple(
            Provenance(self.programs[p], self.phases[p][ph], sources.per[(p, ph)])
            for p, ph in sources.chosen()
        )
        more = None
        if len(sources.per) > len(listed):
            more = (
                f"provenance: {len(listed)} of {len(sources.per):,} program phases shown, "
                f"{sources.total:,} calls in all"
            )
        return listed, more


def join_notes(note: str | None, more: str | None) -> str | None:
    """Two optional remarks as one (``; ``-separated), or the one given, or None."""
    if note is None or more is None:
        return note or more
    return f"{note}; {more}"
