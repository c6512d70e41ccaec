"""From a profile to a policy: the phase unions seccomp's semantics demand.

Seccomp filters only ever narrow (a new filter stacks on the old ones) and
children and exec'd programs inherit them. So the filter a process installs
for its phase k must allow what it needs in phase k and every later phase,
what every process it creates from then on needs, and what every program it
execs needs. On the profile's process tree:

- a *process* is a non-thread node together with its threads (thread nodes
  share the process's phases, matched by name); its phase list is the
  ordered union of its nodes' phase names;
- ``need(P, k)`` = the calls of P's nodes in the phases at positions ≥ k,
  plus ``need(C, 0)`` of every child process C (fork, vfork, clone) created
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
thread start-up calls (``rseq``, ``set_robust_list``, ``rt_sigprocmask``) in
every phase when some process made threads before one of its phase switches
(a thread still starting then runs them under the new filter), the
enforcer's own calls (``seccomp`` in every phase with a later one, and in
every phase a process that will switch phases runs under; ``prctl`` in the
root program's first phase), ``--portable`` equivalents and ``--args``
conditions.
docs/formats/policy.md says the same for users.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from sysphase.errors import PolicyError, UsageError
from sysphase.model import syscalls
from sysphase.model.arg_watch import WATCHED
from sysphase.model.profile import FrozenMap, Phase, ProcessNode, Profile, split_key
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
    "SOCK_TYPE_MASK",
    "THREAD_START",
    "explain",
    "generate",
]

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

_LATE_THREAD = (
    "added: a thread created before a phase switch may still be starting after it "
    "(glibc's start_thread registers rseq and its robust list and restores the signal mask)"
)

#: Calls every phase allows when some process made threads before one of its phase switches
#: (every phase, so that later phases stay within earlier ones and exec'd programs' filters).
THREAD_START: Final[Mapping[str, str]] = {
    "rseq": _LATE_THREAD,
    "set_robust_list": _LATE_THREAD,
    "rt_sigprocmask": _LATE_THREAD,
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
    """Names of all sequences, each sequence's order kept where the earlier ones allow."""
    out: list[str] = []
    for seq in seqs:
        prev = -1
        for i, name in enumerate(seq):
            if name in out:
                prev = max(prev, out.index(name))
                continue
            if prev >= 0:
                at = prev + 1
            else:
                at = next((out.index(n) for n in seq[i + 1 :] if n in out), len(out))
            out.insert(at, name)
            prev = at
    return out


def _names(node: ProcessNode) -> list[str]:
    seen: list[str] = []
    for phase in node.phases:
        if phase.name not in seen:
            seen.append(phase.name)
    return seen


@dataclass(slots=True)
class _Process:
    """A non-thread node and its threads."""

    id: int
    executable: str
    members: list[int] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    #: (child process id, position): the child counts for need(self, k) when position >= k
    children: list[tuple[int, int]] = field(default_factory=list)


def _processes(profile: Profile) -> dict[int, _Process]:
    nodes = profile.processes
    owner: list[int] = []
    procs: dict[int, _Process] = {}
    for node in nodes:
        if node.created is NodeKind.THREAD and node.parent is not None:
            pid = owner[node.parent]
            procs[pid].members.append(node.id)
        else:
            pid = node.id
            procs[pid] = _Process(pid, node.executable, [node.id])
        owner.append(pid)
    for proc in procs.values():
        proc.order = _ordered_union(_names(nodes[m]) for m in proc.members) or ["start"]
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
            found = [parent.order.index(n) for n in names if n in parent.order]
            position = max(found) if len(found) == len(names) else everywhere
        parent.children.append((proc.id, position))
    return procs


def _needs(profile: Profile, procs: Mapping[int, _Process]) -> dict[int, list[frozenset[_Source]]]:
    """need(P, k) for every process P and position k, as sets of (node, phase index)."""
    needs: dict[int, list[frozenset[_Source]]] = {}
    for pid in sorted(procs, reverse=True):  # children have larger ids than their parents
        proc = procs[pid]
        own: list[set[_Source]] = [set() for _ in proc.order]
        for m in proc.members:
            for j, phase in enumerate(profile.processes[m].phases):
                own[proc.order.index(phase.name)].add((m, j))
        acc: set[_Source] = set()
        out: list[frozenset[_Source]] = []
        for k in reversed(range(len(proc.order))):
            acc |= own[k]
            for child, position in proc.children:
                if position == k or (k == len(proc.order) - 1 and position > k):
                    acc |= needs[child][0]
            out.append(frozenset(acc))
        needs[pid] = out[::-1]
    return needs


# --- one program phase ----------------------------------------------------------------------


@dataclass(slots=True)
class _Acc:
    """What the sources of one program phase add up to."""

    calls: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)
    #: syscall -> argument index -> values seen, or None when some source recorded none
    args: dict[str, dict[int, set[int] | None]] = field(default_factory=dict)
    #: enforcer call -> programs whose phases need it
    enforcer: dict[str, set[str]] = field(default_factory=dict)

    def add(self, program: str, phase: Phase) -> None:
        for key, stat in phase.syscalls.items():
            per = self.calls.setdefault(key, {})
            per[(program, phase.name)] = per.get((program, phase.name), 0) + (
                stat.calls + stat.unfinished
            )
            watched = WATCHED.get(key)
            if watched is None:
                continue
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


@dataclass(frozen=True, slots=True)
class _Ranks:
    """Sort keys for provenance: programs in policy order, phases in program order."""

    programs: Mapping[str, int]
    phases: Mapping[tuple[str, str], int]

    def key(self, p: Provenance) -> tuple[int, int, str, str]:
        return (
            self.programs.get(p.program, len(self.programs)),
            self.phases.get((p.program, p.phase), 0),
            p.program,
            p.phase,
        )


def _provenance(per: Mapping[tuple[str, str], int], ranks: _Ranks) -> tuple[Provenance, ...]:
    return tuple(sorted((Provenance(x, ph, n) for (x, ph), n in per.items()), key=ranks.key))


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


def _phase(
    name: str,
    trigger: str,
    acc: _Acc,
    program: str,
    has_later: bool,
    arch: str,
    ranks: _Ranks,
    args: bool,
    portable: bool,
    late_threads: bool = False,
) -> PolicyPhase:
    known = syscalls.names(arch)
    allowed: dict[str, AllowedCall] = {}
    refused: list[RefusedCall] = []
    for key in sorted(acc.calls):
        prov = _provenance(acc.calls[key], ranks)
        key_arch, _ = split_key(arch, key)
        if key_arch != arch:
            refused.append(
                RefusedCall(
                    key,
                    prov,
                    f"seen but refused: other ABI ({key_arch}); "
                    "the filter refuses every call of another ABI as a whole",
                )
            )
            continue
        when: tuple[tuple[ArgCondition, ...], ...] = ()
        note = None
        if args:
            when, note = _conditions(key, acc.args.get(key))
        allowed[key] = AllowedCall(Rule(key, when), prov, None, note)

    added = {**THREAD_START, **ALWAYS_ADDED} if late_threads else ALWAYS_ADDED
    for call, reason in added.items():
        if call in known:
            have = allowed.get(call)
            if have is None:
                allowed[call] = AllowedCall(Rule(call), (), reason)
            else:
                allowed[call] = AllowedCall(have.rule, have.provenance, reason, have.note)

    needers = dict(acc.enforcer)
    if has_later:
        needers.setdefault("seccomp", set()).add(program)
    for call, programs in needers.items():
        if call not in known or not programs:
            continue
        reason = ENFORCER_CALLS[call]
        others = sorted(programs - {program}, key=lambda x: ranks.programs.get(x, 0))
        if others:
            reason += f"; needed by {', '.join(others)}" + (
                " and this program" if program in programs else ""
            )
        have = allowed.get(call)
        if have is None:
            when = ()
            if call == "prctl" and args:
                when = ((ArgCondition(0, "eq", _PR_SET_NO_NEW_PRIVS),),)
            allowed[call] = AllowedCall(Rule(call, when), (), reason)
        else:
            when = have.rule.when
            if call == "prctl" and when:
                nnp = (ArgCondition(0, "eq", _PR_SET_NO_NEW_PRIVS),)
                if nnp not in when:
                    when = (*when, nnp)
            allowed[call] = AllowedCall(Rule(call, when), have.provenance, reason, have.note)

    if portable:
        _widen(allowed, known, args, ranks)
    calls = tuple(allowed[k] for k in sorted(allowed))
    return PolicyPhase(name, trigger, calls, tuple(refused))


def _widen(
    allowed: dict[str, AllowedCall], known: frozenset[str], args: bool, ranks: _Ranks
) -> None:
    for group in EQUIVALENTS:
        present = [allowed[c] for c in group if c in allowed]
        if not present:
            continue
        sources = ", ".join(a.syscall for a in present)
        merged: dict[tuple[str, str], int] = {}
        for a in present:
            for p in a.provenance:
                merged[(p.program, p.phase)] = merged.get((p.program, p.phase), 0) + p.calls
        prov = _provenance(merged, ranks)
        for call in group:
            if call in allowed or call not in known:
                continue
            when: tuple[tuple[ArgCondition, ...], ...] = ()
            note = None
            if args and call == "clone":
                when = ((ArgCondition(0, "masked_eq", 0, CLONE_NS_FLAGS),),)
            elif args and call == "clone3":
                note = "unconditional: clone3's flags are in memory, out of seccomp's reach"
            allowed[call] = AllowedCall(
                Rule(call, when), prov, f"portable: equivalent of {sources}", note
            )


# --- the whole policy -----------------------------------------------------------------------


def generate(
    profile: Profile,
    *,
    default_action: str = "kill",
    portable: bool = False,
    args: bool = False,
) -> Policy:
    """The policy of a profile: per program, per phase, the filter seccomp needs (see module doc).

    ``default_action``: ``kill`` (the process), ``errno`` (EPERM), ``trap``
    (SIGSYS) or ``log``. ``portable`` widens each allowed call to its
    equivalents (:data:`EQUIVALENTS`); ``args`` adds argument conditions
    inferred from the argument values the profile recorded.

    UsageError for an unknown default action, PolicyError for a profile
    without processes.
    """
    if default_action not in DEFAULT_ACTIONS:
        raise UsageError(
            f"unknown default action {default_action!r} (known: {', '.join(DEFAULT_ACTIONS)})"
        )
    if not profile.processes:
        raise PolicyError("the profile has no processes, so there is nothing to allow")
    profile = _one_entry_name(profile)
    nodes = profile.processes
    procs = _processes(profile)
    needs = _needs(profile, procs)

    # programs: the root's first, then by first appearance
    by_exe: dict[str, list[_Process]] = {}
    root_exe = nodes[0].executable
    by_exe[root_exe] = []
    for pid in sorted(procs):
        by_exe.setdefault(procs[pid].executable, []).append(procs[pid])
    by_exe = {exe: ps for exe, ps in by_exe.items() if ps}
    orders = {exe: _ordered_union(p.order for p in ps) for exe, ps in by_exe.items()}
    ranks = _Ranks(
        {exe: i for i, exe in enumerate(orders)},
        {(exe, n): i for exe, order in orders.items() for i, n in enumerate(order)},
    )
    owner_exe = {m: p.executable for p in procs.values() for m in p.members}
    # a thread made before its process's last phase may still be starting after a switch
    late_threads = any(
        nodes[m].created is NodeKind.THREAD
        and nodes[m].phases
        and p.order.index(min(nodes[m].phases, key=lambda ph: ph.index).name) < len(p.order) - 1
        for p in procs.values()
        for m in p.members
    )

    def accumulate(sources: Iterable[_Source]) -> _Acc:
        acc = _Acc()
        for n, j in sorted(sources):
            exe = owner_exe[n]
            phase = nodes[n].phases[j]
            acc.add(exe, phase)
            order = orders[exe]
            position = order.index(phase.name)
            if position < len(order) - 1:
                acc.enforcer.setdefault("seccomp", set()).add(exe)
        return acc

    programs = []
    for exe, order in orders.items():
        contrib: dict[str, set[_Source]] = {name: set() for name in order}
        for proc in by_exe[exe]:
            for k, name in enumerate(proc.order):
                contrib[name] |= needs[proc.id][k]
        phases: list[PolicyPhase] = []
        suffix: set[_Source] = set()
        for i in reversed(range(len(order))):
            name = order[i]
            suffix |= contrib[name]
            trigger = "start" if i == 0 else _trigger(profile, by_exe[exe], name)
            acc = accumulate(suffix)
            if i == 0 and exe == root_exe:
                acc.enforcer.setdefault("prctl", set()).add(exe)
            phases.append(
                _phase(
                    name,
                    trigger,
                    acc,
                    exe,
                    i < len(order) - 1,
                    profile.arch,
                    ranks,
                    args,
                    portable,
                    late_threads,
                )
            )
        programs.append(ProgramPolicy(exe, tuple(reversed(phases))))
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


def _trigger(profile: Profile, procs: Sequence[_Process], name: str) -> str:
    """The trigger of a later phase: the first node's (in id order), "inherited" last."""
    found = [
        phase.trigger
        for proc in procs
        for m in proc.members
        for phase in profile.processes[m].phases
        if phase.name == name
    ]
    useful = [t for t in found if t not in ("inherited", "start")]
    return (useful or found or ["start"])[0]
