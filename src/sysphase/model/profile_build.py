"""From a traced :class:`ProcessTree` to the :class:`Profile` of one run (:func:`from_tree`).

The tracer's tree lists nodes, per-(node, phase, ABI, syscall) counters and
argument values by phase id; a profile holds, per process, its phases in
order with their counters under syscall keys. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from sysphase.model import syscalls
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import ArgValues, Phase, ProcessNode, Profile, SyscallStat, syscall_key
from sysphase.model.tree import Node, ProcessTree

__all__ = ["from_tree"]

#: node -> phase id -> syscall key -> counters
_Counts = dict[int, dict[int, dict[str, SyscallStat]]]
#: node -> phase id -> syscall key -> argument index -> values
_Seen = dict[int, dict[int, dict[str, dict[str, set[int]]]]]


def from_tree(
    tree: ProcessTree, command: Sequence[str], arch: str, complete: bool = True
) -> Profile:
    """The profile of one traced run: one ProcessNode per tree node, in the tree's order.

    ``arch`` is the tracer's native architecture; counters of other ABIs get
    prefixed keys. A phase a node entered but made no call in is kept with no
    syscalls. Counters of a phase the node's phase list lacks (should not
    happen) are kept in phases appended after the listed ones.
    """
    if arch not in syscalls.ARCHES:
        raise ValueError(f"unknown architecture {arch!r} (known: {', '.join(syscalls.ARCHES)})")
    counts = _counts(tree, arch)
    seen = _arg_values(tree, arch)
    processes = []
    for pos, node in enumerate(tree.nodes):
        if node.index != pos:
            raise ValueError(f"tree node at position {pos} has index {node.index}")
        if node.parent is not None and not 0 <= node.parent < pos:
            raise ValueError(f"tree node {pos} has parent {node.parent}, not an earlier node")
        phases = _phases(tree, pos, counts.get(pos, {}), seen.get(pos, {}))
        processes.append(_process(pos, node, phases))
    return Profile(tuple(command), arch, 1, complete, tuple(processes))


def _counts(tree: ProcessTree, arch: str) -> _Counts:
    counts: _Counts = {}
    for c in tree.counts:
        per_phase = counts.setdefault(c.node, {}).setdefault(c.phase, {})
        key = syscall_key(arch, c.arch, c.name)
        stat = SyscallStat(c.calls, c.errors, c.time_ns, c.unfinished, c.in_flight)
        per_phase[key] = per_phase[key] + stat if key in per_phase else stat
    return counts


def _arg_values(tree: ProcessTree, arch: str) -> _Seen:
    seen: _Seen = {}
    for v in tree.arg_values:
        key = syscall_key(arch, v.arch, syscalls.name(v.arch, v.nr))
        by_key = seen.setdefault(v.node, {}).setdefault(v.phase, {}).setdefault(key, {})
        by_key.setdefault(str(v.arg), set()).add(v.value)
    return seen


def _phases(
    tree: ProcessTree,
    pos: int,
    by_phase: dict[int, dict[str, SyscallStat]],
    seen: dict[int, dict[str, dict[str, set[int]]]],
) -> tuple[Phase, ...]:
    """The phases of node ``pos``: its listed phase ids, then any stray ones with counters."""
    node = tree.nodes[pos]
    ids = list(node.phases) + sorted(set(by_phase) - set(node.phases))
    phases = []
    taken: set[int] = set()
    for index, phase_id in enumerate(ids):
        if not 0 <= phase_id < len(tree.phase_names):
            raise ValueError(f"tree node {pos} refers to unknown phase id {phase_id}")
        name, trigger = tree.phase_names[phase_id]
        stats = {} if phase_id in taken else by_phase.get(phase_id, {})
        values = {} if phase_id in taken else seen.get(phase_id, {})
        taken.add(phase_id)
        arg_values: ArgValues = FrozenMap(
            {
                sc: FrozenMap({i: tuple(sorted(vs)) for i, vs in by_arg.items()})
                for sc, by_arg in values.items()
                if sc in stats
            }
        )
        phases.append(Phase(index, name, trigger, FrozenMap(stats), arg_values))
    return tuple(sorted(phases, key=lambda p: (p.index, p.name)))


def _process(pos: int, node: Node, phases: tuple[Phase, ...]) -> ProcessNode:
    load_base = node.load_base or None
    entry = (
        node.entry - node.load_base
        if load_base is not None and node.entry >= node.load_base
        else None
    )
    return ProcessNode(
        id=pos,
        parent=node.parent,
        created=node.kind,
        executable=node.exe,
        argv=tuple(node.argv),
        load_base=load_base,
        entry=entry,
        exit=node.describe_end(),
        phases=phases,
        build_id=node.build_id or None,
    )
