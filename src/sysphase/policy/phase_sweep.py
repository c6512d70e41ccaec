"""The phase-union sweep: one program's filters, from its last phase backwards.

Phase k of a program allows the union, over the program's processes, of
``need(P, k)`` (see :mod:`sysphase.policy.generate`), and everything its later
phases allow. :func:`program_phases` makes the phases from the last one
backwards on one growing union (:class:`_Sweep`): each phase adds only what the
one after it lacks, every (node, phase) source is added once, and the
allowed and refused calls are remade only for the keys a phase changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sysphase.model.arg_watch import WATCHED
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Phase, Profile, split_key
from sysphase.policy.added_calls import (
    GROUP_OF,
    add_always,
    add_enforcer_calls,
    enforcer_needs,
    widen_portable,
)
from sysphase.policy.arg_conditions import Alternatives, conditions
from sysphase.policy.ir import AllowedCall, PolicyPhase, Provenance, RefusedCall, Rule
from sysphase.policy.process_phases import Process, Source, phase_triggers
from sysphase.policy.provenance import ProgramNames, Rank, Sources, join_notes

__all__ = ["SweepInput", "program_phases"]


@dataclass(frozen=True, slots=True)
class SweepInput:
    """What the sweeps of every program share: the profile, its processes, ranks and options."""

    profile: Profile
    procs: Mapping[int, Process]
    #: node id -> the executable of its process
    owner_exe: Mapping[int, str]
    program_rank: Mapping[str, int]
    phase_rank: Mapping[str, Mapping[str, int]]
    names: ProgramNames
    #: the syscall names of the profile's architecture
    known: frozenset[str]
    args: bool
    portable: bool


@dataclass(slots=True)
class _Union:
    """What the sources of one program's phases add up to, from its last phase backwards."""

    portable: bool
    calls: dict[str, Sources] = field(default_factory=dict)
    #: --portable: the sources of each EQUIVALENTS group (the calls of its members summed)
    groups: dict[int, Sources] = field(default_factory=dict)
    #: syscall -> argument index -> values seen, or None when some source recorded none
    args: dict[str, dict[int, set[int] | None]] = field(default_factory=dict)
    #: programs with a source in a phase that is not their last: they need seccomp
    switching: set[str] = field(default_factory=set)
    #: keys whose sources or argument values changed since the last phase was made
    dirty: set[str] = field(default_factory=set)
    args_dirty: set[str] = field(default_factory=set)

    def add(self, rank: Rank, phase: Phase) -> None:
        for key, stat in phase.syscalls.items():
            calls = stat.calls + stat.unfinished
            sources = self.calls.get(key)
            if sources is None:
                sources = self.calls[key] = Sources()
            sources.add(rank, calls)
            self.dirty.add(key)
            if self.portable and key in GROUP_OF:
                self.groups.setdefault(GROUP_OF[key], Sources()).add(rank, calls)
            watched = WATCHED.get(key)
            if watched is not None:
                self.args_dirty.add(key)
                by_arg = phase.arg_values.get(key, FrozenMap())
                _merge_values(self.args.setdefault(key, {}), watched, by_arg)


def _merge_values(
    mine: dict[int, set[int] | None], watched: Sequence[int], by_arg: Mapping[str, Sequence[int]]
) -> None:
    """Add one source's values of the watched arguments; None once a source has none."""
    for index in watched:
        values = by_arg.get(str(index))
        if not values:
            mine[index] = None
        elif index not in mine:
            mine[index] = set(values)
        else:
            have = mine[index]
            if have is not None:
                have.update(values)


@dataclass(slots=True)
class _Sweep:
    """One program's phases, made from the last backwards on one growing union.

    ``need`` extends a process's covered positions down to k, adding each
    (node, phase) source once; the seen calls of the union are kept as
    allowed and refused calls, remade only for the keys a phase changed.
    """

    program: str
    shared: SweepInput
    union: _Union = field(init=False)
    seen: set[Source] = field(default_factory=set)
    covered: dict[int, int] = field(default_factory=dict)
    whole: set[int] = field(default_factory=set)
    allowed: dict[str, AllowedCall] = field(default_factory=dict)
    refused: dict[str, RefusedCall] = field(default_factory=dict)
    conditions: dict[str, tuple[Alternatives, str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.union = _Union(self.shared.portable)

    def source(self, node: int, j: int, late: bool = False) -> None:
        """Add a (node, phase) to the union; LATE: counted at its thread's last phase."""
        if (node, j) in self.seen:
            return
        self.seen.add((node, j))
        shared = self.shared
        exe = shared.owner_exe[node]
        phase = shared.profile.processes[node].phases[j]
        ranks = shared.phase_rank[exe]
        position = ranks[phase.name]
        self.union.add((shared.program_rank[exe], position), phase)
        if position < len(ranks) - 1 and not late:
            self.union.switching.add(exe)

    def need(self, proc: Process, k: int) -> None:
        """Add need(proc, k): its sources at positions >= k and the children created there."""
        start = self.covered.get(proc.id, len(proc.order))
        for q in range(start - 1, k - 1, -1):
            for node, j in proc.late[q]:
                self.source(node, j, late=True)
            for node, j in proc.own[q]:
                self.source(node, j)
            for child in proc.children_at[q]:
                self.subtree(child)
        if k < start:
            self.covered[proc.id] = k

    def subtree(self, pid: int) -> None:
        """Add need(pid, 0): every source of the process and of everything below it."""
        stack = [pid]
        while stack:
            proc = self.shared.procs[stack.pop()]
            if proc.id in self.whole:
                continue
            self.whole.add(proc.id)
            self.covered[proc.id] = 0
            for sources in proc.own:
                for node, j in sources:
                    self.source(node, j)
            stack.extend(child for child, _ in proc.children)

    def _refresh(self) -> None:
        """Remake the allowed and refused calls of the keys the last sources changed."""
        union, shared = self.union, self.shared
        arch = shared.profile.arch
        for key in union.dirty:
            prov, more = shared.names.provenance(union.calls[key])
            key_arch, _ = split_key(arch, key)
            if key_arch != arch:
                reason = (
                    f"seen but refused: other ABI ({key_arch}); "
                    "the filter refuses every call of another ABI as a whole"
                )
                self.refused[key] = RefusedCall(key, prov, reason + (f"; {more}" if more else ""))
                continue
            when: Alternatives = ()
            note = None
            if shared.args:
                if key in union.args_dirty or key not in self.conditions:
                    self.conditions[key] = conditions(key, union.args.get(key))
                when, note = self.conditions[key]
            self.allowed[key] = AllowedCall(Rule(key, when), prov, None, join_notes(note, more))
        union.dirty.clear()
        union.args_dirty.clear()

    def _group_provenance(self, g: int) -> tuple[tuple[Provenance, ...], str | None]:
        return self.shared.names.provenance(self.union.groups.get(g))

    def phase(self, name: str, trigger: str, has_later: bool, first_of_root: bool) -> PolicyPhase:
        """The phase of the union so far (its sources, and those of every later phase)."""
        self._refresh()
        shared = self.shared
        allowed = dict(self.allowed)
        add_always(allowed, shared.known)
        needers = enforcer_needs(self.union.switching, self.program, has_later, first_of_root)
        add_enforcer_calls(
            allowed, needers, self.program, shared.known, shared.program_rank, shared.args
        )
        if shared.portable:
            widen_portable(allowed, shared.known, shared.args, self._group_provenance)
        calls = tuple(allowed[k] for k in sorted(allowed))
        refused = tuple(self.refused[k] for k in sorted(self.refused))
        return PolicyPhase(name, trigger, calls, refused)


def program_phases(
    shared: SweepInput, program: str, order: Sequence[str], procs: Sequence[Process], root: bool
) -> tuple[PolicyPhase, ...]:
    """The phases of ``program`` (its phase ``order``, its processes), first phase first.

    ``root``: the traced command's program, whose first phase also allows ``prctl``.
    """
    ranks = shared.phase_rank[program]
    # slots[i]: the (process, position) of every process of the program with phase order[i]
    slots: list[list[tuple[Process, int]]] = [[] for _ in order]
    for proc in procs:
        for k, name in enumerate(proc.order):
            slots[ranks[name]].append((proc, k))
    triggers = phase_triggers(shared.profile, procs)
    sweep = _Sweep(program, shared)
    phases: list[PolicyPhase] = []
    for i in reversed(range(len(order))):
        for proc, k in slots[i]:
            sweep.need(proc, k)
        name = order[i]
        trigger = "start" if i == 0 else triggers.get(name, "start")
        phases.append(sweep.phase(name, trigger, i < len(order) - 1, i == 0 and root))
    return tuple(reversed(phases))
