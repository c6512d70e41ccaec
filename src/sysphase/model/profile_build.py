"""From a traced :class:`ProcessTree` to the :class:`Profile` of one run (:func:`from_tree`).

The tracer's tree lists nodes, per-(node, phase, ABI, syscall) counters,
argument values and (``record --paths``) accesses by phase id; a profile
holds, per process, its phases in order with their counters under syscall
keys and, when paths were recorded, what each phase touched in Landlock's
terms (:mod:`sysphase.model.landlock_rights`). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from sysphase.model import syscalls
from sysphase.model.frozen import FrozenMap
from sysphase.model.landlock_needs import freeze
from sysphase.model.landlock_rights import Needs, exec_needs, needs_of
from sysphase.model.profile import ArgValues, Phase, ProcessNode, Profile, SyscallStat, syscall_key
from sysphase.model.tree import Node, NodeKind, ProcessTree

__all__ = ["from_tree"]

#: node -> phase id -> syscall key -> counters
_Counts = dict[int, dict[int, dict[str, SyscallStat]]]
#: node -> phase id -> syscall key -> argument index -> values
_Seen = dict[int, dict[int, dict[str, dict[str, set[int]]]]]


def from_tree(
    tree: ProcessTree,
    command: Sequence[str],
    arch: str,
    complete: bool = True,
    paths: bool | None = None,
) -> Profile:
    """The profile of one traced run: one ProcessNode per tree node, in the tree's order.

    ``arch`` is the tracer's native architecture; counters of other ABIs get
    prefixed keys. A phase a node entered but made no call in is kept with no
    syscalls. Counters of a phase the node's phase list lacks (should not
    happen) are kept in phases appended after the listed ones.

    ``paths``: whether the run recorded paths (``record --paths``; None: when
    the tree has accesses or lost some). Then every phase gets its Landlock
    needs (empty when it touched nothing), and ``paths_lost`` the accesses
    the core could not keep.
    """
    if arch not in syscalls.ARCHES:
        raise ValueError(f"unknown architecture {arch!r} (known: {', '.join(syscalls.ARCHES)})")
    counts = _counts(tree, arch)
    seen = _arg_values(tree, arch)
    if paths is None:
        paths = bool(tree.accesses) or tree.accesses_dropped > 0
    needs = _needs(tree) if paths else None
    processes = []
    for pos, node in enumerate(tree.nodes):
        if node.index != pos:
            raise ValueError(f"tree node at position {pos} has index {node.index}")
        if node.parent is not None and not 0 <= node.parent < pos:
            raise ValueError(f"tree node {pos} has parent {node.parent}, not an earlier node")
        mine = None if needs is None else needs.get(pos, {})
        phases = _phases(tree, pos, counts.get(pos, {}), seen.get(pos, {}), mine)
        processes.append(_process(pos, node, phases))
    lost = tree.accesses_dropped if paths else 0
    return Profile(tuple(command), arch, 1, complete, tuple(processes), paths_lost=lost)


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


def _needs(tree: ProcessTree) -> dict[int, dict[int, Needs]]:
    """node -> phase id -> what it touched; an exec also needs its executable.

    Starting a program needs it readable and executable: charged to the
    caller's last phase for an exec'd node, to a spawned root's first phase
    (``run`` restricts the program before its exec).
    """
    out: dict[int, dict[int, Needs]] = {}
    for (at, phase), needs in needs_of(tree.accesses).items():
        out.setdefault(at, {})[phase] = needs
    for pos, node in enumerate(tree.nodes):
        if node.kind is NodeKind.EXEC and node.parent is not None:
            where, ids = node.parent, tree.nodes[node.parent].phases[-1:]
        elif node.kind is NodeKind.SPAWN:
            where, ids = pos, node.phases[:1]
        else:
            continue
        for phase in ids:
            mine = out.setdefault(where, {}).setdefault(phase, Needs())
            for path, rights in exec_needs(node.exe).items():
                mine.grant(path, *rights)
    return out


def _phases(
    tree: ProcessTree,
    pos: int,
    by_phase: dict[int, dict[str, SyscallStat]],
    seen: dict[int, dict[str, dict[str, set[int]]]],
    needs: dict[int, Needs] | None = None,
) -> tuple[Phase, ...]:
    """The phases of node ``pos``: its listed phase ids, then any stray ones with counters.

    ``needs``: what each phase id touched (None: paths not recorded).
    """
    node = tree.nodes[pos]
    stray = set(by_phase) | set(needs or {})
    ids = list(node.phases) + sorted(stray - set(node.phases))
    phases = []
    taken: set[int] = set()
    for index, phase_id in enumerate(ids):
        if not 0 <= phase_id < len(tree.phase_names):
            raise ValueError(f"tree node {pos} refers to unknown phase id {phase_id}")
        name, trigger = tree.phase_names[phase_id]
        first = phase_id not in taken
        stats = by_phase.get(phase_id, {}) if first else {}
        values = seen.get(phase_id, {}) if first else {}
        taken.add(phase_id)
        arg_values: ArgValues = FrozenMap(
            {
                sc: FrozenMap({i: tuple(sorted(vs)) for i, vs in by_arg.items()})
                for sc, by_arg in values.items()
                if sc in stats
            }
        )
        landlock = None
        if needs is not None:
            landlock = freeze(needs.get(phase_id, Needs()) if first else Needs())
        phases.append(Phase(index, name, trigger, FrozenMap(stats), arg_values, landlock))
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
