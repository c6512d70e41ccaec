"""When things happened in a run: the profile's ``timelines``.

Pure. The core reads a clock at the stops it already makes: when each node
(a process, thread or program image) began and ended, when it entered each
phase, and the first and latest stop that counted each of its (phase,
syscall). :func:`of_tree` turns one traced run into a :class:`Timeline`, in
nanoseconds from the run's start (its first node's); merging keeps each
run's timeline apart (:func:`merge_timelines`: node ids renumbered to the
merged profile's, at most :data:`LIMIT` timelines kept, in a canonical order
so merging stays commutative). What a mode's timeline holds follows from its
stops: a full run stops at every call, so first and last are exact; a
set-only run stops once per call (first exact, last = first); a known-set
run stops only for calls its baseline did not know (those alone appear).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from sysphase.model.profile import syscall_key
from sysphase.model.tree import ProcessTree

__all__ = [
    "LIMIT",
    "CallTimes",
    "NodeTimes",
    "PhaseBegan",
    "Timeline",
    "merge_timelines",
    "of_tree",
]

#: the most timelines a profile keeps (a merge of more keeps the first in canonical order)
LIMIT = 32


@dataclass(frozen=True, slots=True, order=True)
class PhaseBegan:
    """A node entered phase ``name`` at ``began_ns``."""

    name: str
    began_ns: int


@dataclass(frozen=True, slots=True, order=True)
class CallTimes:
    """The first and latest counted call of ``syscall`` in ``phase`` of a node."""

    phase: str
    syscall: str
    first_ns: int
    last_ns: int


@dataclass(frozen=True, slots=True, order=True)
class NodeTimes:
    """One node of a run: ``node`` is its id in the profile; ``end_ns`` None if unknown."""

    node: int
    start_ns: int
    end_ns: int | None
    phases: tuple[PhaseBegan, ...]
    calls: tuple[CallTimes, ...]


@dataclass(frozen=True, slots=True, order=True)
class Timeline:
    """One run: the mode it was recorded in and its nodes, in node order."""

    mode: str
    nodes: tuple[NodeTimes, ...]


def of_tree(tree: ProcessTree, arch: str, mode: str) -> Timeline:
    """The timeline of one traced run; node ids are tree positions (the run's profile ids)."""
    if not tree.nodes:
        return Timeline(mode, ())
    zero = min(n.start_ns for n in tree.nodes)

    def rel(ns: int) -> int:
        return max(ns - zero, 0)

    calls: dict[int, list[CallTimes]] = {}
    for c in tree.counts:
        if c.first_ns and 0 <= c.phase < len(tree.phase_names):
            name = tree.phase_names[c.phase][0]
            key = syscall_key(arch, c.arch, c.name)
            calls.setdefault(c.node, []).append(
                CallTimes(name, key, rel(c.first_ns), rel(max(c.last_ns, c.first_ns)))
            )
    nodes = []
    for pos, n in enumerate(tree.nodes):
        began = [
            PhaseBegan(tree.phase_names[p][0], rel(ns))
            for p, ns in zip(n.phases, n.phase_ns, strict=False)
            if 0 <= p < len(tree.phase_names)
        ]
        end = rel(n.end_ns) if n.end_ns else None
        nodes.append(
            NodeTimes(pos, rel(n.start_ns), end, tuple(began), tuple(sorted(calls.get(pos, []))))
        )
    return Timeline(mode, tuple(nodes))


def merge_timelines(
    timelines: Sequence[tuple[Timeline, Mapping[int, int]]],
) -> tuple[Timeline, ...]:
    """Each (timeline, old node id -> new id) renumbered, in canonical order, at most LIMIT."""
    out = []
    for timeline, ids in timelines:
        renumbered = [replace(n, node=ids[n.node]) for n in timeline.nodes if n.node in ids]
        nodes = tuple(sorted(renumbered, key=lambda n: n.node))
        out.append(Timeline(timeline.mode, nodes))
    return tuple(sorted(out, key=_key)[:LIMIT])


def _key(t: Timeline) -> tuple[object, ...]:
    """A total order of timelines (an unknown end sorts first)."""
    return (
        t.mode,
        tuple(
            (n.node, n.start_ns, -1 if n.end_ns is None else n.end_ns, n.phases, n.calls)
            for n in t.nodes
        ),
    )
