"""The phase-union sweep: one program's filters, from its last phase backwards.

Phase k of a program allows the union, over the program's processes, of
``need(P, k)`` (see :mod:`sysphase.policy.generate`), and everything its later
phases allow. :func:`program_phases` makes the phases from the last one
backwards on one growing union (:class:`_Sweep`): each phase adds only what the
one after it lacks, every (node, phase) source is added once, and the
allowed and refused calls are remade only for the keys a phase changed.

With ``--landlock``, the same sources' recorded paths and ports join a
:class:`~sysphase.policy.landlock_section.LandlockUnion`, which makes each
phase's Landlock section: like the filter, it covers what the later phases,
the children and the exec'd programs need.

Calls allowed by hand (``--allow``, :mod:`sysphase.policy.manual_calls`) join
the union where the sweep covers a process in the phase they name, as if the
process had made them there; calls denied by hand (``--deny``) are taken out
of each phase they are filed under last, after every added call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from sysphase.errors import UsageError
from sysphase.model.arg_watch import WATCHED
from sysphase.model.frozen import FrozenMap
from sysphase.model.phases import trigger_call
from sysphase.model.profile import Phase, Profile, split_key
from sysphase.policy.added_calls import (
    GROUP_OF,
    add_always,
    add_enforcer_calls,
    enforcer_needs,
    refuse_io_uring_personality,
    widen_portable,
)
from sysphase.policy.arg_conditions import Alternatives, conditions
from sysphase.policy.ir import AllowedCall, PolicyPhase, Provenance, RefusedCall, Rule
from sysphase.policy.landlock_section import LandlockUnion
from sysphase.policy.manual_calls import ManualCalls
from sysphase.policy.process_phases import Process, Source, phase_triggers
from sysphase.policy.provenance import ProgramNames, Rank, Sources, join_notes

__all__ = ["SweepInput", "program_phases"]

#: The calls ``--args`` may put conditions on; one allowed by hand stays unconditional.
_CONDITIONED = frozenset(WATCHED) | {"clone3"}
_BY_HAND_NOTE = "unconditional: allowed by hand"
#: Why the enforcer's calls cannot be denied where it adds them, and where they can be.
_NEEDS: Final = {
    "seccomp": "to install the filter of a later phase; deny it only from phases after which "
    "no process under them switches phases",
    "prctl": "to set no_new_privs for the first filter; deny it only from later phases",
    "landlock_restrict_self": "for each thread to apply a later phase's Landlock ruleset; deny "
    "it only from phases after which no process under them switches phases",
}


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
    #: the calls allowed and denied by hand
    manual: ManualCalls = field(default_factory=ManualCalls)
    #: programs that get no policy of their own (--omit-fragments): they never switch
    omitted: frozenset[str] = frozenset()
    #: --landlock: each phase gets a Landlock section
    landlock: bool = False


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
    #: calls allowed by hand -> the options that allowed them, for the phases covered so far
    manual: dict[str, dict[str, None]] = field(default_factory=dict)
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
    #: the (program, phase) whose calls allowed by hand the union holds
    manual_done: set[tuple[str, str]] = field(default_factory=set)
    #: --landlock: the recorded paths and ports of the sources so far
    paths: LandlockUnion | None = None

    def __post_init__(self) -> None:
        self.union = _Union(self.shared.portable)
        if self.shared.landlock:
            self.paths = LandlockUnion(self.shared.profile.paths_lost)

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
        if self.paths is not None:
            self.paths.add(exe, phase)
        if position < len(ranks) - 1 and not late and exe not in shared.omitted:
            self.union.switching.add(exe)

    def by_hand(self, exe: str, name: str) -> None:
        """Add the calls allowed by hand in EXE's phase NAME (a process of it is covered there)."""
        if (exe, name) in self.manual_done:
            return
        self.manual_done.add((exe, name))
        for call, origins in self.shared.manual.allowed_at(exe, name).items():
            self.union.manual.setdefault(call, {}).update(dict.fromkeys(origins))
            self.union.dirty.add(call)

    def need(self, proc: Process, k: int) -> None:
        """Add need(proc, k): its sources at positions >= k and the children created there."""
        start = self.covered.get(proc.id, len(proc.order))
        for q in range(start - 1, k - 1, -1):
            self.by_hand(proc.executable, proc.order[q])
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
            for name in proc.order:
                self.by_hand(proc.executable, name)
            for sources in proc.own:
                for node, j in sources:
                    self.source(node, j)
            stack.extend(child for child, _ in proc.children)

    def _refresh(self) -> None:
        """Remake the allowed and refused calls of the keys the last sources changed."""
        union, shared = self.union, self.shared
        arch = shared.profile.arch
        for key in union.dirty:
            manual = union.manual.get(key)
            reason = f"allowed by hand: {', '.join(manual)}" if manual else None
            if key not in union.calls:  # only by hand
                note = _BY_HAND_NOTE if shared.args and key in _CONDITIONED else None
                self.allowed[key] = AllowedCall(Rule(key), (), reason, note)
                continue
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
            if shared.args and manual:
                note = _BY_HAND_NOTE if key in _CONDITIONED else None
            elif shared.args:
                if key in union.args_dirty or key not in self.conditions:
                    self.conditions[key] = conditions(key, union.args.get(key))
                when, note = self.conditions[key]
            self.allowed[key] = AllowedCall(Rule(key, when), prov, reason, join_notes(note, more))
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
        needers = enforcer_needs(
            self.union.switching,
            self.program,
            has_later,
            first_of_root,
            shared.landlock,
            switched_to=trigger != "start",
        )
        add_enforcer_calls(
            allowed, needers, self.program, shared.known, shared.program_rank, shared.args
        )
        if shared.portable:
            widen_portable(allowed, shared.known, shared.args, self._group_provenance)
        if shared.landlock:
            refuse_io_uring_personality(allowed)
        refused = dict(self.refused)
        self._deny(allowed, refused, name, trigger, needers)
        calls = tuple(allowed[k] for k in sorted(allowed))
        landlock = None if self.paths is None else self.paths.section(allowed)
        return PolicyPhase(
            name, trigger, calls, tuple(refused[k] for k in sorted(refused)), landlock
        )

    def _deny(
        self,
        allowed: dict[str, AllowedCall],
        refused: dict[str, RefusedCall],
        name: str,
        trigger: str,
        needers: Mapping[str, set[str]],
    ) -> None:
        """Take the calls denied by hand out of phase NAME; refuse a denial that breaks it."""
        program = self.program
        for call, origins in self.shared.manual.denied_at(program, name).items():
            where = f"{program}'s phase {name}"
            allowed_by = self.union.manual.get(call)
            if allowed_by:
                raise UsageError(
                    f"{next(iter(allowed_by))} needs {call} in {where}, which {origins[0]} "
                    "takes away: filters only narrow, and a program runs under the filters of "
                    "the program that started it"
                )
            if call in needers:
                raise UsageError(f"{origins[0]}: sysphase needs {call} in {where} {_NEEDS[call]}")
            if trigger_call(trigger) == call:
                raise UsageError(
                    f"{origins[0]}: {where} starts at the first {call}, which its filter must allow"
                )
            removed = allowed.pop(call, None)
            if removed is None:
                continue
            _, more = self.shared.names.provenance(self.union.calls.get(call))
            reason = join_notes(f"denied by hand: {', '.join(origins)}", more)
            refused[call] = RefusedCall(call, removed.provenance, reason or "")


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
