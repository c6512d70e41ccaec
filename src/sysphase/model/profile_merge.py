"""Merging profiles of one architecture: recordings of the same program, run after run.

Nodes match by their path from the root, never by pid; counters add,
argument values unite, fields the runs disagree on become None. A node is
``from_fragment`` only when every input that has it is a complain-mode
report (:mod:`sysphase.model.profile_fragment`), and the result is a
fragment only when every input is. The result is canonical, so merging is
exactly associative and commutative. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from sysphase.errors import UsageError
from sysphase.model.frozen import FrozenMap
from sysphase.model.landlock_needs import LandlockNeeds, unite
from sysphase.model.profile import FirstSeen, Phase, ProcessNode, Profile, SyscallStat
from sysphase.model.profile_runs import merge_recording, merge_spread
from sysphase.model.timeline import merge_timelines
from sysphase.model.tree import NodeKind

__all__ = ["merge", "merge_all"]

#: A node's position in the tree, independent of pids: for each node from the
#: root down, (executable, how created, ordinal among its siblings with the
#: same executable and creation in creation order).
_Path = tuple[tuple[str, str, int], ...]


def _paths(profile: Profile) -> list[_Path]:
    paths: list[_Path] = []
    ordinals: dict[tuple[_Path, str, str], int] = {}
    for node in profile.processes:
        parent: _Path = () if node.parent is None else paths[node.parent]
        sibling = (parent, node.executable, node.created.value)
        ordinal = ordinals.get(sibling, 0)
        ordinals[sibling] = ordinal + 1
        paths.append((*parent, (node.executable, node.created.value, ordinal)))
    return paths


T = TypeVar("T")


def _agree(a: T | None, b: T | None) -> T | None:
    """The common value, or None when the two differ (None absorbs)."""
    return a if a == b else None


@dataclass(slots=True)
class _PhaseAcc:
    trigger: str
    stats: dict[str, SyscallStat]
    args: dict[str, dict[str, set[int]]]
    landlock: LandlockNeeds | None = None

    def add(self, phase: Phase) -> None:
        self.trigger = min(self.trigger, phase.trigger)
        self.landlock = unite((self.landlock, phase.landlock))
        for key, stat in phase.syscalls.items():
            self.stats[key] = self.stats[key] + stat if key in self.stats else stat
        for key, by_arg in phase.arg_values.items():
            mine = self.args.setdefault(key, {})
            for index, values in by_arg.items():
                mine.setdefault(index, set()).update(values)

    def phase(self, index: int, name: str) -> Phase:
        return Phase(
            index,
            name,
            self.trigger,
            FrozenMap(self.stats),
            FrozenMap(
                (sc, FrozenMap((ix, tuple(sorted(vals))) for ix, vals in by_arg.items()))
                for sc, by_arg in self.args.items()
            ),
            self.landlock,
        )


@dataclass(slots=True)
class _NodeAcc:
    created: NodeKind
    executable: str
    argv: tuple[str, ...]
    load_base: int | None
    entry: int | None
    exit: str | None
    phases: dict[tuple[int, str], _PhaseAcc]
    build_id: str | None = None
    from_fragment: bool = True

    def add(self, node: ProcessNode) -> None:
        self.argv = min(self.argv, node.argv)
        self.from_fragment = self.from_fragment and node.from_fragment
        self.build_id = _agree(self.build_id, node.build_id)
        self.load_base = _agree(self.load_base, node.load_base)
        self.entry = _agree(self.entry, node.entry)
        self.exit = _agree(self.exit, node.exit)
        for phase in node.phases:
            acc = self.phases.get((phase.index, phase.name))
            if acc is None:
                acc = self.phases[(phase.index, phase.name)] = _PhaseAcc(phase.trigger, {}, {})
            acc.add(phase)

    def node(self, ident: int, parent: int | None) -> ProcessNode:
        """The merged node, with its phases in (index, name) order."""
        return ProcessNode(
            id=ident,
            parent=parent,
            created=self.created,
            executable=self.executable,
            argv=self.argv,
            load_base=self.load_base,
            entry=self.entry,
            exit=self.exit,
            phases=tuple(p.phase(index, name) for (index, name), p in sorted(self.phases.items())),
            build_id=self.build_id,
            from_fragment=self.from_fragment,
        )


def merge_all(profiles: Iterable[Profile]) -> Profile:
    """Merge profiles of one architecture (see :func:`merge`); at least one is needed."""
    items = list(profiles)
    if not items:
        raise UsageError("nothing to merge: no profiles given")
    first = items[0]
    for other in items[1:]:
        if other.arch != first.arch:
            raise UsageError(
                f"cannot merge profiles of different architectures ({first.arch} and {other.arch})"
            )
    nodes = _accumulate(items)
    order = sorted(nodes)
    ids = {path: i for i, path in enumerate(order)}
    timelines = merge_timelines(
        [
            (t, {old: ids[path] for old, path in enumerate(_paths(p))})
            for p in items
            for t in p.timelines
        ]
    )
    processes = tuple(
        nodes[path].node(i, ids[path[:-1]] if len(path) > 1 else None)
        for i, path in enumerate(order)
    )
    return Profile(
        command=min(p.command for p in items),
        arch=first.arch,
        runs=sum(p.runs for p in items),
        complete=all(p.complete for p in items),
        processes=processes,
        fragment=all(p.fragment for p in items),
        first_seen=_first_seen(items),
        recording=merge_recording(items),
        spread=merge_spread(s for p in items for s in p.spread),
        timelines=timelines,
        paths_lost=sum(p.paths_lost for p in items),
    )


def _first_seen(profiles: list[Profile]) -> tuple[FirstSeen, ...]:
    """Per (program, phase, syscall), the earliest record: the smallest (order, scenario, step)."""
    best: dict[tuple[str, str, str], FirstSeen] = {}
    for profile in profiles:
        for f in profile.first_seen:
            key = (f.program, f.phase, f.syscall)
            if key not in best or f < best[key]:
                best[key] = f
    return tuple(best[k] for k in sorted(best))


def _accumulate(profiles: list[Profile]) -> dict[_Path, _NodeAcc]:
    """Every node of every profile, added into one accumulator per tree path."""
    nodes: dict[_Path, _NodeAcc] = {}
    for profile in profiles:
        for path, node in zip(_paths(profile), profile.processes, strict=True):
            acc = nodes.get(path)
            if acc is None:
                acc = nodes[path] = _NodeAcc(
                    node.created,
                    node.executable,
                    node.argv,
                    node.load_base,
                    node.entry,
                    node.exit,
                    {},
                    node.build_id,
                )
            acc.add(node)
    return nodes


def merge(a: Profile, b: Profile) -> Profile:
    """Merge two profiles of one architecture; associative and commutative (exact ==).

    Nodes match by their path from the root (executable, how created, and
    ordinal among same-executable same-creation siblings), never by pid.
    Matched nodes: counters add, argument value sets unite, argv is the
    smaller, load_base/entry/exit are kept when equal and None otherwise.
    A phase's Landlock needs unite (a phase recorded without paths adds
    nothing; sysphase.model.landlock_needs.unite) and ``paths_lost`` adds.
    Phases match by (index, name); of differing triggers the smaller is kept.
    Profile: runs add, complete only if both are, the smaller command is kept;
    of two first-seen records of one (program, phase, syscall) the earlier
    (smaller order, then scenario and step names) is kept; runs per recording
    mode add (unknown if an input does not say); spreads fold (runs add,
    fewest and most calls kept); timelines stay one per run, their node ids
    renumbered, at most sysphase.model.timeline.LIMIT.
    Fragments: a node stays ``from_fragment`` only if every input that has it
    says so (a recording of it clears the flag); the result is a fragment
    only if both inputs are.
    The result lists nodes in canonical depth-first order (siblings sorted by
    executable, creation, ordinal), so node ids may differ from the inputs'.
    Raises UsageError when the architectures differ.
    """
    return merge_all((a, b))
