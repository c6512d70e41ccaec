"""What a policy says about the kernel's seccomp audit records: whose program, which phase.

A record (:class:`sysphase.model.audit_records.AuditRecord`) names the
executable and the call, not the filter. With a policy, :func:`attribute`
finds the policy's program (by path, else by the executable's build-id) and the
phase whose filter refused the call: filters only narrow, so the first of the
program's phases that does not allow the call is the earliest the process can
have been in ("phase serve, the first of /usr/bin/x's phases that refuses
socket"); when every phase allows it, the record is not from this policy's
filter, and it says so. A call through another ABI is refused by every phase.

:func:`fragment` turns attributed records into a profile fragment for
``sysphase merge``: per program and phase, the calls the records name, added to
that earliest phase (were the process in a later one, its next record names
that one), marked as a fragment. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sysphase.model.audit_records import AuditRecord
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Phase, ProcessNode, Profile, SyscallStat, syscall_key
from sysphase.model.profile_fragment import to_fragment
from sysphase.model.tree import NodeKind
from sysphase.policy.ir import Policy, PolicyPhase, ProgramPolicy

__all__ = ["Attribution", "attribute", "fragment"]

#: a policy's default action -> the action name of the records its filters make
_RECORD_ACTION: Final = {
    "kill": "kill_process",
    "errno": "errno(EPERM)",
    "trap": "trap",
    "log": "log",
}


@dataclass(frozen=True, slots=True)
class Attribution:
    """A record's program and phase under a policy, and how sure that is.

    ``program`` is the policy's program (its executable) or, when the policy has
    none for the record (or there is no policy), the record's executable.
    ``phase`` is the first of the program's phases that refuses the call (the
    earliest the process can have been in), None when there is no policy, the
    program is not the policy's, or every phase allows the call. ``index`` is
    that phase's position, ``note`` says in words why (empty without a policy),
    and ``addable`` whether a fragment should add the call (False when the
    policy allows it already); ``known`` whether the program is the policy's.
    """

    program: str
    phase: str | None
    index: int = 0
    note: str = ""
    addable: bool = True
    known: bool = False


def _program(record: AuditRecord, policy: Policy, build_id: str) -> ProgramPolicy | None:
    exe = record.exe.removesuffix(" (deleted)")
    return policy.program(exe, build_id)


def _refuses(phase: PolicyPhase, name: str) -> str | None:
    """How PHASE's filter treats NAME: "refuses", "may refuse" (argument conditions), or None."""
    allowed = phase.get(name)
    if allowed is None:
        return "refuses"
    return "may refuse" if allowed.rule.conditional else None


def attribute(record: AuditRecord, policy: Policy | None, build_id: str = "") -> Attribution:
    """The program and phase of RECORD under POLICY (see the module docstring).

    BUILD_ID is the build-id of the record's executable as it is on disk ("" if
    unknown): a copy (a ``sysphase patch``ed binary) is its original's program.
    """
    exe = record.exe or record.comm
    if policy is None:
        return Attribution(exe, None)
    program = _program(record, policy, build_id)
    if program is None:
        return Attribution(exe, None, note="not a program of the policy")
    who = program.executable
    name = record.syscall
    several = len(program.phases) > 1
    if record.arch != policy.arch:
        note = f"every phase of {who} refuses {record.arch} calls (another ABI)"
        note += ", so any of them" if several else ""
        return Attribution(who, program.phases[0].name, 0, note, True, True)
    for index, phase in enumerate(program.phases):
        verb = _refuses(phase, name)
        if verb is None:
            continue
        note = f"the first of {who}'s phases that {verb} {name}"
        note += "; every phase does, so any of them" if index == 0 and several else ""
        note += _mismatch(record, policy)
        return Attribution(who, phase.name, index, note, True, True)
    note = (
        f"every phase of {who} allows {name}: not this policy's filter "
        "(another filter, or an older policy)"
    )
    return Attribution(who, None, 0, note, False, True)


def _mismatch(record: AuditRecord, policy: Policy) -> str:
    """A remark when the record's action is not what the policy's filters do."""
    expected = _RECORD_ACTION.get(policy.default_action)
    if expected is None or record.action == expected:
        return ""
    return (
        f"; the policy's default action is {policy.default_action}, this record's "
        f"{record.action}: another filter, or an older policy"
    )


def _stat(record: AuditRecord) -> SyscallStat:
    """A record as a counter: a killed call never returned; an errno'd one failed."""
    if record.action.startswith("kill_"):
        return SyscallStat(unfinished=1)
    if record.action.startswith("errno"):
        return SyscallStat(calls=1, errors=1)
    return SyscallStat(calls=1)


def _node(
    ident: int, program: ProgramPolicy, calls: dict[int, dict[str, SyscallStat]], root: bool
) -> ProcessNode:
    """A process of PROGRAM with its phases up to the last one with calls."""
    last = max(calls, default=0)
    first = "start" if root else "exec"
    phases = tuple(
        Phase(i, p.name, first if i == 0 else p.trigger, FrozenMap(calls.get(i, {})))
        for i, p in enumerate(program.phases[: last + 1])
    )
    return ProcessNode(
        id=ident,
        parent=None if root else 0,
        created=NodeKind.SPAWN if root else NodeKind.EXEC,
        executable=program.executable,
        argv=(program.executable,),
        load_base=None,
        entry=None,
        exit=None,
        phases=phases,
        build_id=program.build_id or None,
    )


def fragment(rows: Sequence[tuple[AuditRecord, Attribution]], policy: Policy) -> Profile:
    """The calls the records name, per program and phase, as a profile fragment to merge.

    The policy's root program is the root process; every other program of the
    policy is a process it exec'd (the record does not say from which phase, so
    merged, its calls count in every phase of the root, as an exec'd program's
    do). Calls the policy allows already and records of programs it does not
    have are left out; calls of another ABI get ``arch:name`` keys. Marked a
    fragment (:func:`sysphase.model.profile_fragment.to_fragment`): what it
    holds is what the filters refused, not what the programs need.
    """
    calls: dict[str, dict[int, dict[str, SyscallStat]]] = {}
    for record, who in rows:
        if not (who.known and who.addable) or record.arch.startswith("0x"):
            continue
        key = syscall_key(policy.arch, record.arch, record.syscall)
        phase = calls.setdefault(who.program, {}).setdefault(who.index, {})
        phase[key] = phase[key] + _stat(record) if key in phase else _stat(record)
    root = policy.root_program
    nodes = [_node(0, root, calls.get(root.executable, {}), True)]
    for program in policy.programs:
        if program is not root and program.executable in calls:
            nodes.append(_node(len(nodes), program, calls[program.executable], False))
    profile = Profile(policy.command, policy.arch, 1, True, tuple(nodes))
    return to_fragment(profile)
