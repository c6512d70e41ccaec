"""From a profile to a policy: the phase unions seccomp's semantics demand.

Seccomp filters only ever narrow (a new filter stacks on the old ones) and
children and exec'd programs inherit them. So the filter a process installs
for its phase k must allow what it needs in phase k and every later phase,
what every process it creates from then on needs, and what every program it
execs needs. On the profile's process tree:

- a *process* is a non-thread node together with its threads (thread nodes
  share the process's phases, matched by name); its phase list is the
  ordered union of its nodes' phase names;
- ``need(P, k)`` = the calls of P's nodes in the phases at positions ≥ k
  (a thread alive across a switch counts its calls of an earlier phase up to
  its last phase too: it runs concurrently with the trigger, so in another run
  any of them may come after the switch), plus ``need(C, 0)`` of every child
  process C (fork, vfork, clone) created
  while P was in a phase ≥ k (a child starts in its parent's phase: its
  first phase name, looked up in P's list), plus ``need(E, 0)`` of every
  program P execs (always: an exec may come in any phase);
- per program (executable): the phase list is the ordered union of its
  processes' lists, and phase k allows the union, over the program's
  processes, of their ``need`` from that phase on, and everything its later
  phases allow.

The first phase of the root program therefore allows everything any process
of the tree needs. On top of the trace: always-added calls (vDSO fallbacks,
``restart_syscall``, ``rt_sigreturn``, ``exit``, ``exit_group``), the
enforcer's own calls (``seccomp`` in every phase with a later one, and in
every phase a process that will switch phases runs under; ``prctl`` in the
root program's first phase), ``--portable`` equivalents and ``--args``
conditions.
docs/formats/policy.md says the same for users.

Cost: a program's phases are computed from its last phase backwards, each
phase adding to the running union only what the one after it lacks, so
every (node, phase) of the profile is added once per program whose filter
covers it, and the provenance of a call lists at most
:data:`PROVENANCE_LIMIT` sources (with a note giving the count and total
calls of all): generation time and policy size grow linearly with the
number of phases, not with its square. A program may have at most
:data:`MAX_PHASES` phases (PolicyError beyond that).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, TypeVar

from sysphase.errors import PolicyError, UsageError
from sysphase.model import syscalls
from sysphase.model.arg_watch import WATCHED
from sysphase.model.profile import FrozenMap, Phase, ProcessNode, Profile, split_key
from sysphase.model.strict_json import quote
from sysphase.model.tree import NodeKind
from sysphase.policy.explain import explain
from sysphase.policy.ir import (
    DEFAULT_ACTIONS,
    AllowedCall,
    ArgCondition,
    Policy,
    PolicyPhase,
    ProgramPolicy,
    Provenance,
    RefusedCall,
    Rule,
)

__all__ = [
    "ALWAYS_ADDED",
    "CLONE_NS_FLAGS",
    "ENFORCER_CALLS",
    "EQUIVALENTS",
    "MAX_PHASES",
    "PROVENANCE_LIMIT",
    "SOCK_TYPE_MASK",
    "explain",
    "generate",
]

#: The most phases one program of a policy may have. Every phase is a filter stacked on the
#: earlier ones, and the kernel refuses a filter once the filters stacked on a process hold
#: 32,768 instructions (counting 4 more per filter), which a few hundred phases reach; the
#: enforcer's tables (``patch``: 64 phases) are smaller still.
MAX_PHASES: Final = 256

#: The most sources (program and phase) the provenance of one allowed or refused call lists:
#: every program's nearest phase first, then the nearest others. A note says how many there
#: were and how many calls they made.
PROVENANCE_LIMIT: Final = 8

_VDSO = "always added: vDSO fallback (libc makes the real call when the vDSO cannot answer)"

#: Calls every phase allows although traces may never show them, and why.
ALWAYS_ADDED: Final[Mapping[str, str]] = {
    "clock_gettime": _VDSO,
    "gettimeofday": _VDSO,
    "time": _VDSO,
    "getcpu": _VDSO,
    "restart_syscall": "always added: the kernel resumes calls interrupted by a signal with it",
    "rt_sigreturn": "always added: every signal handler returns through it",
    "exit": "always added: ends a thread (a thread killed meanwhile never shows it)",
    "exit_group": "always added: ends the process",
}

_SECCOMP_REASON = (
    "enforcer: installs the filter of a later phase (seccomp SECCOMP_SET_MODE_FILTER with TSYNC)"
)
_PRCTL_REASON = "enforcer: sets no_new_privs (prctl PR_SET_NO_NEW_PRIVS) for the first filter"

#: The enforcer's own calls: ``seccomp`` where a later phase follows, ``prctl`` in the first.
ENFORCER_CALLS: Final[Mapping[str, str]] = {"seccomp": _SECCOMP_REASON, "prctl": _PRCTL_REASON}

#: ``--portable`` groups: a call allowed widens to the others of its group.
EQUIVALENTS: Final[tuple[tuple[str, ...], ...]] = (
    ("open", "openat", "openat2"),
    ("stat", "lstat", "fstat", "newfstatat", "statx"),
    ("poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2"),
    ("dup2", "dup3"),
    ("accept", "accept4"),
    ("fork", "vfork", "clone", "clone3"),
)

_PR_SET_NO_NEW_PRIVS: Final = 38
_SOCK_NONBLOCK: Final = 0o4000
_SOCK_CLOEXEC: Final = 0o2000000
#: socket's type argument without the SOCK_NONBLOCK and SOCK_CLOEXEC flags.
SOCK_TYPE_MASK: Final = ~(_SOCK_NONBLOCK | _SOCK_CLOEXEC) & 0xFFFFFFFF
_U32: Final = 0xFFFFFFFF
#: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
CLONE_NS_FLAGS: Final = (
    0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80
)
_PROT_WRITE: Final = 0x2
_PROT_EXEC: Final = 0x4

_NO_VALUES_NOTE = "unconditional: the profile has no argument values for it"

#: A source of calls: (node id, index into that node's phases).
_Source = tuple[int, int]


# --- the process tree -----------------------------------------------------------------------


def _ordered_union(seqs: Iterable[Sequence[str]]) -> list[str]:
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
class _Process:
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
    own: list[list[_Source]] = field(default_factory=list)
    #: late[k]: a thread's sources of earlier positions that count at k, its last position
    late: list[list[_Source]] = field(default_factory=list)
    #: children_at[k]: the children that count from position k on (the last: also "everywhere")
    children_at: list[list[int]] = field(default_factory=list)


def _build_id(profile: Profile, exe: str) -> str:
    """The build-id every process of EXE recorded, "" if any lacks one or they differ."""
    ids = {n.build_id for n in profile.processes if n.executable == exe}
    only = next(iter(ids)) if len(ids) == 1 else None
    return only or ""


def _group(profile: Profile) -> tuple[dict[int, _Process], list[int]]:
    """The processes (by id) and the process of every node."""
    owner: list[int] = []
    procs: dict[int, _Process] = {}
    for node in profile.processes:
        if node.created is NodeKind.THREAD and node.parent is not None:
            pid = owner[node.parent]
            procs[pid].members.append(node.id)
        else:
            pid = node.id
            procs[pid] = _Process(pid, node.executable, [node.id])
        owner.append(pid)
    return procs, owner


def _check_phase_counts(profile: Profile, procs: Mapping[int, _Process], max_phases: int) -> None:
    """PolicyError when a program has more than ``max_phases`` phases (distinct names)."""
    names: dict[str, set[str]] = {}
    for pid in sorted(procs):  # the root program first
        proc = procs[pid]
        mine = names.setdefault(proc.executable, set())
        for m in proc.members:
            mine.update(phase.name for phase in profile.processes[m].phases)
        if not any(profile.processes[m].phases for m in proc.members):
            mine.add("start")  # as in _link
    for exe, seen in names.items():
        if len(seen) > max_phases:
            raise PolicyError(
                f"program {quote(exe)} has {len(seen):,} phases, more than the {max_phases} "
                "a policy allows per program (record it with fewer phase triggers or markers)"
            )


def _link(profile: Profile, procs: Mapping[int, _Process], owner: Sequence[int]) -> None:
    """Each process's phase order, its own sources per position and its children."""
    nodes = profile.processes
    for proc in procs.values():
        proc.order = _ordered_union(_names(nodes[m]) for m in proc.members) or ["start"]
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
    for proc in procs.values():
        node = nodes[proc.id]
        if node.parent is None:
            continue
        parent = procs[owner[node.parent]]
        everywhere = len(parent.order)
        if node.created is NodeKind.EXEC or not node.phases:
            position = everywhere
        else:
            first = min(p.index for p in node.phases)
            names = [p.name for p in node.phases if p.index == first]
            found = [parent.at[n] for n in names if n in parent.at]
            position = max(found) if len(found) == len(names) else everywhere
        parent.children.append((proc.id, position))
        parent.children_at[min(position, everywhere - 1)].append(proc.id)


# --- provenance -----------------------------------------------------------------------------

#: (program rank, phase rank): programs in policy order, phases in program order.
_Rank = tuple[int, int]
_T = TypeVar("_T", int, _Rank)


def _keep_smallest(items: list[_T], item: _T, limit: int) -> None:
    """Add ``item`` to the sorted ``items`` if it is among the ``limit`` smallest."""
    if len(items) < limit:
        bisect.insort(items, item)
    elif item < items[-1]:
        bisect.insort(items, item)
        items.pop()


@dataclass(slots=True)
class _Sources:
    """The sources (program phases) of one syscall key, or --portable group, covered so far.

    Besides the calls per source, it keeps, sorted, the first programs and the
    smallest ranks, so that choosing a phase's provenance never looks at every source.
    """

    per: dict[_Rank, int] = field(default_factory=dict)
    total: int = 0
    #: program rank -> its nearest (smallest) phase rank among the sources
    nearest: dict[int, int] = field(default_factory=dict)
    #: the PROVENANCE_LIMIT smallest program ranks
    programs: list[int] = field(default_factory=list)
    #: the 2 * PROVENANCE_LIMIT smallest source ranks
    smallest: list[_Rank] = field(default_factory=list)

    def add(self, rank: _Rank, calls: int) -> None:
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

    def chosen(self) -> list[_Rank]:
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
class _Names:
    """Program and phase names by rank."""

    programs: Sequence[str]
    phases: Sequence[Sequence[str]]

    def provenance(self, sources: _Sources | None) -> tuple[tuple[Provenance, ...], str | None]:
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


def _join(note: str | None, more: str | None) -> str | None:
    if note is None or more is None:
        return note or more
    return f"{note}; {more}"


#: --portable: the group of each name of EQUIVALENTS.
_GROUP_OF: Final[Mapping[str, int]] = {
    name: g for g, group in enumerate(EQUIVALENTS) for name in group
}


# --- one program phase ----------------------------------------------------------------------


@dataclass(slots=True)
class _Acc:
    """What the sources of one program's phases add up to, from its last phase backwards."""

    portable: bool
    calls: dict[str, _Sources] = field(default_factory=dict)
    #: --portable: the sources of each EQUIVALENTS group (the calls of its members summed)
    groups: dict[int, _Sources] = field(default_factory=dict)
    #: syscall -> argument index -> values seen, or None when some source recorded none
    args: dict[str, dict[int, set[int] | None]] = field(default_factory=dict)
    #: programs with a source in a phase that is not their last: they need seccomp
    switching: set[str] = field(default_factory=set)
    #: keys whose sources or argument values changed since the last phase was made
    dirty: set[str] = field(default_factory=set)
    args_dirty: set[str] = field(default_factory=set)

    def add(self, rank: _Rank, phase: Phase) -> None:
        for key, stat in phase.syscalls.items():
            calls = stat.calls + stat.unfinished
            sources = self.calls.get(key)
            if sources is None:
                sources = self.calls[key] = _Sources()
            sources.add(rank, calls)
            self.dirty.add(key)
            if self.portable and key in _GROUP_OF:
                self.groups.setdefault(_GROUP_OF[key], _Sources()).add(rank, calls)
            watched = WATCHED.get(key)
            if watched is None:
                continue
            self.args_dirty.add(key)
            mine = self.args.setdefault(key, {})
            by_arg = phase.arg_values.get(key, FrozenMap())
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


_Alts = tuple[tuple[ArgCondition, ...], ...]


def _conditions(
    name: str, values: Mapping[int, set[int] | None] | None
) -> tuple[_Alts, str | None]:
    """(alternatives, note) for a watched syscall; no alternatives means unconditional."""
    if name == "clone3":
        return (), "unconditional: clone3's flags are in memory, out of seccomp's reach"
    watched = WATCHED.get(name)
    if watched is None:
        return (), None
    seen: dict[int, set[int]] = {}
    for index in watched:
        got = None if values is None else values.get(index)
        if not got:
            return (), _NO_VALUES_NOTE
        seen[index] = got
    if name == "socket":
        pairs = sorted({(d, t & SOCK_TYPE_MASK) for d in seen[0] for t in seen[1]})
        alts: _Alts = tuple(
            (ArgCondition(0, "eq", d), ArgCondition(1, "masked_eq", t, SOCK_TYPE_MASK))
            for d, t in pairs
        )
        note = None
        if len(seen[0]) > 1 and len(seen[1]) > 1:
            note = "every seen domain with every seen type (the profile keeps them apart)"
        return alts, note
    if name == "prctl":
        return tuple((ArgCondition(0, "eq", v),) for v in sorted(seen[0])), None
    if name == "ioctl":
        requests = sorted({v & _U32 for v in seen[1]})
        return tuple((ArgCondition(1, "masked_eq", r, _U32),) for r in requests), None
    if name == "clone":
        combos = sorted({v & CLONE_NS_FLAGS for v in seen[0]})
        note = None
        if combos != [0]:
            note = "the trace saw new namespaces: exactly those combinations are allowed"
        alts = tuple((ArgCondition(0, "masked_eq", c, CLONE_NS_FLAGS),) for c in combos)
        return alts, note
    if name in ("mmap", "mprotect"):
        wx = _PROT_WRITE | _PROT_EXEC
        if any(v & wx == wx for v in seen[2]):
            return (), "unconditional: the trace saw memory both writable and executable"
        no_exec: tuple[ArgCondition, ...] = (ArgCondition(2, "masked_eq", 0, _PROT_EXEC),)
        no_write: tuple[ArgCondition, ...] = (ArgCondition(2, "masked_eq", 0, _PROT_WRITE),)
        return (no_exec, no_write), None
    return (), None


@dataclass(slots=True)
class _Sweep:
    """One program's phases, made from the last backwards on one growing union.

    ``need`` extends a process's covered positions down to k, adding each
    (node, phase) source once; the seen calls of the union are kept as
    allowed and refused calls, remade only for the keys a phase changed.
    """

    program: str
    profile: Profile
    procs: Mapping[int, _Process]
    owner_exe: Mapping[int, str]
    program_rank: Mapping[str, int]
    phase_rank: Mapping[str, Mapping[str, int]]
    names: _Names
    arch: str
    known: frozenset[str]
    args: bool
    portable: bool
    acc: _Acc = field(init=False)
    seen: set[_Source] = field(default_factory=set)
    covered: dict[int, int] = field(default_factory=dict)
    whole: set[int] = field(default_factory=set)
    allowed: dict[str, AllowedCall] = field(default_factory=dict)
    refused: dict[str, RefusedCall] = field(default_factory=dict)
    conditions: dict[str, tuple[_Alts, str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.acc = _Acc(self.portable)

    def source(self, node: int, j: int, late: bool = False) -> None:
        """Add a (node, phase) to the union; LATE: counted at its thread's last phase."""
        if (node, j) in self.seen:
            return
        self.seen.add((node, j))
        exe = self.owner_exe[node]
        phase = self.profile.processes[node].phases[j]
        ranks = self.phase_rank[exe]
        position = ranks[phase.name]
        self.acc.add((self.program_rank[exe], position), phase)
        if position < len(ranks) - 1 and not late:
            self.acc.switching.add(exe)

    def need(self, proc: _Process, k: int) -> None:
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
            proc = self.procs[stack.pop()]
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
        acc = self.acc
        for key in acc.dirty:
            prov, more = self.names.provenance(acc.calls[key])
            key_arch, _ = split_key(self.arch, key)
            if key_arch != self.arch:
                reason = (
                    f"seen but refused: other ABI ({key_arch}); "
                    "the filter refuses every call of another ABI as a whole"
                )
                self.refused[key] = RefusedCall(key, prov, reason + (f"; {more}" if more else ""))
                continue
            when: _Alts = ()
            note = None
            if self.args:
                if key in acc.args_dirty or key not in self.conditions:
                    self.conditions[key] = _conditions(key, acc.args.get(key))
                when, note = self.conditions[key]
            self.allowed[key] = AllowedCall(Rule(key, when), prov, None, _join(note, more))
        acc.dirty.clear()
        acc.args_dirty.clear()

    def phase(self, name: str, trigger: str, has_later: bool, first_of_root: bool) -> PolicyPhase:
        """The phase of the union so far (its sources, and those of every later phase)."""
        self._refresh()
        known = self.known
        exe = self.program
        allowed = dict(self.allowed)

        for call, reason in ALWAYS_ADDED.items():
            if call in known:
                have = allowed.get(call)
                if have is None:
                    allowed[call] = AllowedCall(Rule(call), (), reason)
                else:
                    allowed[call] = AllowedCall(have.rule, have.provenance, reason, have.note)

        needers: dict[str, set[str]] = {}
        if self.acc.switching:
            needers["seccomp"] = set(self.acc.switching)
        if first_of_root:
            needers["prctl"] = {exe}
        if has_later:
            needers.setdefault("seccomp", set()).add(exe)
        for call, programs in needers.items():
            if call not in known or not programs:
                continue
            reason = ENFORCER_CALLS[call]
            others = sorted(programs - {exe}, key=lambda x: self.program_rank.get(x, 0))
            if others:
                reason += f"; needed by {', '.join(others)}" + (
                    " and this program" if exe in programs else ""
                )
            have = allowed.get(call)
            if have is None:
                when: _Alts = ()
                if call == "prctl" and self.args:
                    when = ((ArgCondition(0, "eq", _PR_SET_NO_NEW_PRIVS),),)
                allowed[call] = AllowedCall(Rule(call, when), (), reason)
            else:
                when = have.rule.when
                if call == "prctl" and when:
                    nnp = (ArgCondition(0, "eq", _PR_SET_NO_NEW_PRIVS),)
                    if nnp not in when:
                        when = (*when, nnp)
                allowed[call] = AllowedCall(Rule(call, when), have.provenance, reason, have.note)

        if self.portable:
            self._widen(allowed)
        calls = tuple(allowed[k] for k in sorted(allowed))
        refused = tuple(self.refused[k] for k in sorted(self.refused))
        return PolicyPhase(name, trigger, calls, refused)

    def _widen(self, allowed: dict[str, AllowedCall]) -> None:
        for g, group in enumerate(EQUIVALENTS):
            present = [allowed[c] for c in group if c in allowed]
            if not present:
                continue
            sources = ", ".join(a.syscall for a in present)
            prov, more = self.names.provenance(self.acc.groups.get(g))
            for call in group:
                if call in allowed or call not in self.known:
                    continue
                when: _Alts = ()
                note = None
                if self.args and call == "clone":
                    when = ((ArgCondition(0, "masked_eq", 0, CLONE_NS_FLAGS),),)
                elif self.args and call == "clone3":
                    note = "unconditional: clone3's flags are in memory, out of seccomp's reach"
                allowed[call] = AllowedCall(
                    Rule(call, when), prov, f"portable: equivalent of {sources}", _join(note, more)
                )


# --- the whole policy -----------------------------------------------------------------------


def generate(
    profile: Profile,
    *,
    default_action: str = "kill",
    portable: bool = False,
    args: bool = False,
    max_phases: int = MAX_PHASES,
) -> Policy:
    """The policy of a profile: per program, per phase, the filter seccomp needs (see module doc).

    ``default_action``: ``kill`` (the process), ``errno`` (EPERM), ``trap``
    (SIGSYS) or ``log``. ``portable`` widens each allowed call to its
    equivalents (:data:`EQUIVALENTS`); ``args`` adds argument conditions
    inferred from the argument values the profile recorded. ``max_phases``:
    the most phases a program may have (:data:`MAX_PHASES`; raising it is for
    benchmarks and tests).

    UsageError for an unknown default action, PolicyError for a profile
    without processes or with a program of more than ``max_phases`` phases.
    Time and size grow linearly with the profile's phases (module doc).
    """
    if default_action not in DEFAULT_ACTIONS:
        raise UsageError(
            f"unknown default action {default_action!r} (known: {', '.join(DEFAULT_ACTIONS)})"
        )
    if not profile.processes:
        raise PolicyError("the profile has no processes, so there is nothing to allow")
    profile = _one_entry_name(profile)
    nodes = profile.processes
    procs, owner = _group(profile)
    _check_phase_counts(profile, procs, max_phases)
    _link(profile, procs, owner)

    # programs: the root's first, then by first appearance
    by_exe: dict[str, list[_Process]] = {}
    root_exe = nodes[0].executable
    by_exe[root_exe] = []
    for pid in sorted(procs):
        by_exe.setdefault(procs[pid].executable, []).append(procs[pid])
    by_exe = {exe: ps for exe, ps in by_exe.items() if ps}
    orders = {exe: _ordered_union(p.order for p in ps) for exe, ps in by_exe.items()}
    program_rank = {exe: i for i, exe in enumerate(orders)}
    phase_rank = {exe: {n: i for i, n in enumerate(order)} for exe, order in orders.items()}
    names = _Names(list(orders), list(orders.values()))
    owner_exe = {m: p.executable for p in procs.values() for m in p.members}
    known = syscalls.names(profile.arch)

    programs = []
    for exe, order in orders.items():
        ranks = phase_rank[exe]
        # slots[i]: the (process, position) of every process of the program with phase order[i]
        slots: list[list[tuple[_Process, int]]] = [[] for _ in order]
        for proc in by_exe[exe]:
            for k, name in enumerate(proc.order):
                slots[ranks[name]].append((proc, k))
        triggers = _triggers(profile, by_exe[exe])
        sweep = _Sweep(
            exe,
            profile,
            procs,
            owner_exe,
            program_rank,
            phase_rank,
            names,
            profile.arch,
            known,
            args,
            portable,
        )
        phases: list[PolicyPhase] = []
        for i in reversed(range(len(order))):
            for proc, k in slots[i]:
                sweep.need(proc, k)
            name = order[i]
            trigger = "start" if i == 0 else triggers.get(name, "start")
            phases.append(
                sweep.phase(name, trigger, i < len(order) - 1, i == 0 and exe == root_exe)
            )
        programs.append(ProgramPolicy(exe, tuple(reversed(phases)), _build_id(profile, exe)))
    return Policy(
        arch=profile.arch,
        default_action=default_action,
        programs=tuple(programs),
        command=profile.command,
        options=FrozenMap({"args": args, "portable": portable}),
    )


def _one_entry_name(profile: Profile) -> Profile:
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


def _triggers(profile: Profile, procs: Sequence[_Process]) -> dict[str, str]:
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
