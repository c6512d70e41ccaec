"""The profile's process tree as policy generation sees it: processes, their phases, children.

A *process* is a non-thread node together with its threads (thread nodes
share the process's phases, matched by name); its phase list is the ordered
union of its nodes' phase names (:func:`ordered_union`). :func:`link` files
each member's (node, phase) under the position of its phase, and each child
process under the position its parent was in when it was created (an exec'd
program counts everywhere). See :mod:`sysphase.policy.generate` for what the
sweep does with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from sysphase.errors import PolicyError
from sysphase.model.profile import ProcessNode, Profile
from sysphase.model.strict_json import quote
from sysphase.model.tree import NodeKind

__all__ = [
    "Process",
    "Source",
    "build_id",
    "check_phase_counts",
    "group",
    "link",
    "one_entry_name",
    "ordered_union",
    "phase_triggers",
]

#: A source of calls: (node id, index into that node's phases).
Source = tuple[int, int]


def ordered_union(seqs: Iterable[Sequence[str]]) -> list[str]:
    """Names of all sequences, each sequence's order kept where the earlier ones allow.

    Positions are looked up in a dict, rebuilt only after an insertion before
    the end (sequences that disagree), so agreeing sequences cost linear time.
    """
    out: list[str] = []
    where: dict[str, int] = {}  # every name of out; its position is right unless stale
    stale = False

    def index(name: str) -> int:
        nonlocal stale
        if stale:
            where.update((n, i) for i, n in enumerate(out))
            stale = False
        return where[name]

    for seq in seqs:
        prev = -1
        for i, name in enumerate(seq):
            if name in where:
                prev = max(prev, index(name))
                continue
            if prev >= 0:
                at = prev + 1
            else:  # only for a sequence's first name
                at = next((index(n) for n in seq[i + 1 :] if n in where), len(out))
            if at == len(out):
                out.append(name)
            else:
                out.insert(at, name)
                stale = True
            where[name] = at
            prev = at
    return out


def _names(node: ProcessNode) -> list[str]:
    return list(dict.fromkeys(phase.name for phase in node.phases))


@dataclass(slots=True)
class Process:
    """A non-thread node and its threads."""

    id: int
    executable: str
    members: list[int] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    #: position of each name of ``order``
    at: dict[str, int] = field(default_factory=dict)
    #: (child process id, position): the child counts for need(self, k) when position >= k
    children: list[tuple[int, int]] = field(default_factory=list)
    #: own[k]: the (node, phase index) of the members' phases at position k
    own: list[list[Source]] = field(default_factory=list)
    #: late[k]: a thread's sources of earlier positions that count at k, its last position
    late: list[list[Source]] = field(default_factory=list)
    #: children_at[k]: the children that count from position k on (the last: also "everywhere")
    children_at: list[list[int]] = field(default_factory=list)


def build_id(profile: Profile, exe: str) -> str:
    """The build-id every process of EXE recorded, "" if any lacks one or they differ."""
    ids = {n.build_id for n in profile.processes if n.executable == exe}
    only = next(iter(ids)) if len(ids) == 1 else None
    return only or ""


def group(profile: Profile) -> tuple[dict[int, Process], list[int]]:
    """The processes (by id) and the process of every node."""
    owner: list[int] = []
    procs: dict[int, Process] = {}
    for node in profile.processes:
        if node.created is NodeKind.THREAD and node.parent is not None:
            pid = owner[node.parent]
            procs[pid].members.append(node.id)
        else:
            pid = node.id
            procs[pid] = Process(pid, node.executable, [node.id])
        owner.append(pid)
    return procs, owner


def check_phase_counts(profile: Profile, procs: Mapping[int, Process], max_phases: int) -> None:
    """PolicyError when a program has more than ``max_phases`` phases (distinct names)."""
    names: dict[str, set[str]] = {}
    for pid in sorted(procs):  # the root program first
        proc = procs[pid]
        mine = names.setdefault(proc.executable, set())
        for m in proc.members:
            mine.update(phase.name for phase in profile.processes[m].phases)
        if not any(profile.processes[m].phases for m in proc.members):
            mine.add("start")  # as in link
    for exe, seen in names.items():
        if len(seen) > max_phases:
            raise PolicyError(
                f"program {quote(exe)} has {len(seen):,} phases, more than the {max_phases} "
                "a policy allows per program (record it with fewer phase triggers or markers)"
            )


def link(profile: Profile, procs: Mapping[int, Process], owner: Sequence[int]) -> None:
    """Each process's phase order, its own sources per position and its children."""
    for proc in procs.values():
        _file_sources(profile, proc)
    for proc in procs.values():
        node = profile.processes[proc.id]
        if node.parent is not None:
            parent = procs[owner[node.parent]]
            position = _created_at(node, parent)
            parent.children.append((proc.id, position))
            parent.children_at[min(position, len(parent.order) - 1)].append(proc.id)


def _file_sources(profile: Profile, proc: Process) -> None:
    """The process's phase order and its members' sources filed by position."""
    nodes = profile.processes
    proc.order = ordered_union(_names(nodes[m]) for m in proc.members) or ["start"]
    proc.at = {name: k for k, name in enumerate(proc.order)}
    proc.own = [[] for _ in proc.order]
    proc.late = [[] for _ in proc.order]
    for m in proc.members:
        positions = [proc.at[phase.name] for phase in nodes[m].phases]
        # a thread is not ordered with its process's trigger: what it did before the
        # switch in this run, it may do after it in the next (redis's bio threads name
        # themselves with prctl while the main thread reaches epoll_wait)
        last = max(positions, default=0) if m != proc.id else -1
        for j, at in enumerate(positions):
            proc.own[at].append((m, j))
            if at < last:
                proc.late[last].append((m, j))
    proc.children_at = [[] for _ in proc.order]


def _created_at(node: ProcessNode, parent: Process) -> int:
    """The parent's position when the child was created; ``len(parent.order)``: everywhere."""
    everywhere = len(parent.order)
    if node.created is NodeKind.EXEC or not node.phases:
        return everywhere
    first = min(p.index for p in node.phases)
    names = [p.name for p in node.phases if p.index == first]
    found = [parent.at[n] for n in names if n in parent.at]
    return max(found) if len(found) == len(names) else everywhere


def one_entry_name(profile: Profile) -> Profile:
    """The profile with each program's entry phase under one name.

    A program's first phase is named ``start`` where the recording started it and
    after the program where it was exec'd (both are its entry, installed before it
    runs); merged recordings can hold both, which would read as two phases in a row.
    ``start`` wins, else the name seen first, for every node of that executable.
    """
    entry_names: dict[str, list[str]] = {}
    for node in profile.processes:
        if node.created in (NodeKind.SPAWN, NodeKind.EXEC) and node.phases:
            first = min(node.phases, key=lambda ph: ph.index)
            names = entry_names.setdefault(node.executable, [])
            if first.trigger in ("start", "exec") and first.name not in names:
                names.insert(0 if first.name == "start" else len(names), first.name)
    if all(len(names) < 2 for names in entry_names.values()):
        return profile
    renamed = []
    for node in profile.processes:
        names = entry_names.get(node.executable, [])
        phases = tuple(
            replace(ph, name=names[0]) if ph.name in names[1:] else ph for ph in node.phases
        )
        renamed.append(replace(node, phases=phases))
    return replace(profile, processes=tuple(renamed))


def phase_triggers(profile: Profile, procs: Sequence[Process]) -> dict[str, str]:
    """The trigger of each later phase: the first node's (in id order), "inherited" last."""
    found: dict[str, str] = {}
    useful: dict[str, str] = {}
    for proc in procs:
        for m in proc.members:
            for phase in profile.processes[m].phases:
                found.setdefault(phase.name, phase.trigger)
                if phase.trigger not in ("inherited", "start"):
                    useful.setdefault(phase.name, phase.trigger)
    return {**found, **useful}
