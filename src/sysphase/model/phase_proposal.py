"""Phases found automatically: where to cut a program's run so the later phase drops the most.

Pure. From a profile's timelines (one per run, sysphase.model.timeline):
for every process of a program (its main node and the threads under it), a
*candidate cut* is the first call of a syscall X by the main thread, at time
T. The later phase keeps every call some thread of the process made at or
after T (and X itself); it drops the calls every thread had made for the
last time before T. Over all runs and processes of the program, a candidate
drops only what it drops in each of them, and must be made in each of them
(stable). The trigger is ``syscall:X``, or ``syscall:X@main`` when another
thread made X before the main thread did (a plain trigger would fire there,
too early: a worker's wait before the main thread's ``listen``).

A candidate is proposed only if it is useful (:data:`MIN_DROPPED`,
:data:`MIN_SHARE`): it drops at least MIN_DROPPED syscalls, and the later
phase lasts at least MIN_SHARE of the process's life, from its start to its
last call (a cut at ``exit_group`` drops everything and protects nothing).
Proposals are ranked by how many calls they drop; the first proposal is the
earliest cut that drops at least :data:`NEAR_TIE` of the most any cut drops
and every set-up call (``listen``, ``bind``) the best one drops (a cut at
the first client's INFO may drop a call or two more than one at the event
loop's first wait, but depends on what the recording's clients happened to
do; a cut between ``bind`` and ``listen`` would leave ``listen`` to the
serving phase); candidates that drop the same set are one proposal, the
earliest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sysphase.model.profile import Profile
from sysphase.model.timeline import NodeTimes, Timeline
from sysphase.model.tree import NodeKind
from sysphase.model.trigger_warnings import SETUP_CALLS

__all__ = ["MIN_DROPPED", "MIN_SHARE", "Proposal", "propose"]

#: calls that end a thread or process: no phase comes after them
ENDS = frozenset({"exit", "exit_group"})
#: a cut must drop at least this many syscalls to be proposed
MIN_DROPPED = 5
#: ... and leave at least this share of the process's life to the later phase
MIN_SHARE = 0.1
#: cuts dropping at least this share of the most any cut drops are a tie, won by the earliest
NEAR_TIE = 0.85


@dataclass(frozen=True, slots=True)
class Proposal:
    """A cut for PROGRAM: ``trigger`` (as ``--phase NAME=`` takes it) and what it drops."""

    program: str
    trigger: str
    dropped: tuple[str, ...]
    kept: tuple[str, ...]
    instances: int
    share: float

    def argument(self, name: str = "serve") -> str:
        """The ``--phase`` argument to paste."""
        return f"--phase {name}={self.trigger}"


@dataclass(frozen=True, slots=True)
class _Cut:
    trigger: str
    time: int
    dropped: frozenset[str]
    kept: frozenset[str]
    share: float


def _groups(profile: Profile, timeline: Timeline) -> Iterator[tuple[str, list[NodeTimes]]]:
    """(program, [main node, its threads...]) for each process image of the run."""
    times = {n.node: n for n in timeline.nodes}
    nodes = profile.processes
    for node in nodes:
        if node.created is NodeKind.THREAD or node.id not in times:
            continue
        members = [times[node.id]]
        for other in nodes:
            if other.created is NodeKind.THREAD and other.id in times:
                up = other.parent
                while up is not None and nodes[up].created is NodeKind.THREAD:
                    up = nodes[up].parent
                if up == node.id and other.executable == node.executable:
                    members.append(times[other.id])
        yield node.executable, members


def _cuts(members: Sequence[NodeTimes]) -> dict[str, _Cut]:
    """Each candidate cut of one process, by the syscall whose first main-thread call it is."""
    main = members[0]
    first: dict[str, int] = {}
    for c in main.calls:
        first[c.syscall] = min(first.get(c.syscall, c.first_ns), c.first_ns)
    last: dict[str, int] = {}
    earliest_any: dict[str, int] = {}
    for m in members:
        for c in m.calls:
            last[c.syscall] = max(last.get(c.syscall, c.last_ns), c.last_ns)
            earliest_any[c.syscall] = min(earliest_any.get(c.syscall, c.first_ns), c.first_ns)
    # its life: from its start to its last counted call (a node's end may come much later:
    # an exit held while the tracer writes its results)
    start = main.start_ns
    end = max(last.values(), default=start)
    life = max(end - start, 1)
    cuts = {}
    for syscall, t in first.items():
        if syscall in ENDS:
            continue
        dropped = frozenset(s for s, ns in last.items() if ns < t and s != syscall)
        kept = frozenset(last) - dropped
        qualified = "@main" if earliest_any.get(syscall, t) < t else ""
        cuts[syscall] = _Cut(f"syscall:{syscall}{qualified}", t, dropped, kept, (end - t) / life)
    return cuts


def propose(profile: Profile) -> dict[str, list[Proposal]]:
    """Per program, the useful cuts, best first (see the module docstring)."""
    seen: dict[str, list[dict[str, _Cut]]] = {}
    for timeline in profile.timelines:
        for program, members in _groups(profile, timeline):
            seen.setdefault(program, []).append(_cuts(members))
    out: dict[str, list[Proposal]] = {}
    for program, instances in sorted(seen.items()):
        stable = set.intersection(*(set(c) for c in instances))
        best: dict[frozenset[str], tuple[int, Proposal]] = {}
        for syscall in sorted(stable):
            cuts = [inst[syscall] for inst in instances]
            dropped = frozenset.intersection(*(c.dropped for c in cuts))
            share = min(c.share for c in cuts)
            if len(dropped) < MIN_DROPPED or share < MIN_SHARE:
                continue
            triggers = {c.trigger for c in cuts}
            trigger = max(triggers, key=len)  # @main if any run needed it
            kept = frozenset.union(*(c.kept for c in cuts))
            time = max(c.time for c in cuts)
            proposal = Proposal(
                program, trigger, tuple(sorted(dropped)), tuple(sorted(kept)), len(cuts), share
            )
            if dropped not in best or time < best[dropped][0]:
                best[dropped] = (time, proposal)
        ranked = sorted(best.values(), key=lambda tp: (-len(tp[1].dropped), tp[0]))
        if ranked:
            # a near tie goes to the earliest cut: it depends less on what this recording's
            # clients happened to do (a first INFO, a first client)
            # ... but never one that leaves a set-up call (listen, bind) the best cut drops
            top = len(ranked[0][1].dropped) * NEAR_TIE
            setup = set(ranked[0][1].dropped) & set(SETUP_CALLS)
            ties = [
                tp for tp in ranked if len(tp[1].dropped) >= top and setup <= set(tp[1].dropped)
            ]
            first = min(ties, key=lambda tp: tp[0])
            out[program] = [
                first[1],
                *(p for tp, p in ((tp, tp[1]) for tp in ranked) if tp is not first),
            ]
    return out
