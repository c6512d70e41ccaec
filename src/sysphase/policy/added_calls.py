"""Calls a policy allows beyond the trace: the added-calls tables and how a phase gets them.

- :data:`ALWAYS_ADDED`: calls every phase allows although traces may never
  show them (vDSO fallbacks, ``restart_syscall``, ``rt_sigreturn``, ``exit``,
  ``exit_group``), with the reason;
- :data:`ENFORCER_CALLS`: the enforcer's own calls (``seccomp`` in every
  phase with a later one, and in every phase a process that will switch
  phases runs under; ``prctl`` in the root program's first phase);
- :data:`EQUIVALENTS`: the ``--portable`` groups, where an allowed call
  widens to the others of its group.

Each ``add_*`` function completes one phase's ``allowed`` map (syscall ->
:class:`~sysphase.policy.ir.AllowedCall`) in place.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, MutableMapping
from typing import Final

from sysphase.policy.arg_conditions import CLONE3_NOTE, CLONE_NS_FLAGS, Alternatives
from sysphase.policy.ir import AllowedCall, ArgCondition, Provenance, Rule
from sysphase.policy.provenance import join_notes

__all__ = [
    "ALWAYS_ADDED",
    "ENFORCER_CALLS",
    "EQUIVALENTS",
    "GROUP_OF",
    "add_always",
    "add_enforcer_calls",
    "enforcer_needs",
    "refuse_io_uring_personality",
    "widen_portable",
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

_SECCOMP_REASON = (
    "enforcer: installs the filter of a later phase (seccomp SECCOMP_SET_MODE_FILTER with TSYNC)"
)
_PRCTL_REASON = "enforcer: sets no_new_privs (prctl PR_SET_NO_NEW_PRIVS) for the first filter"
_LANDLOCK_REASON = (
    "enforcer: each thread restricts itself with a later phase's Landlock ruleset "
    "(landlock_restrict_self)"
)

#: The enforcer's own calls: ``seccomp`` (and, with Landlock sections,
#: ``landlock_restrict_self``) where a later phase follows, ``prctl`` in the first.
ENFORCER_CALLS: Final[Mapping[str, str]] = {
    "seccomp": _SECCOMP_REASON,
    "prctl": _PRCTL_REASON,
    "landlock_restrict_self": _LANDLOCK_REASON,
}

#: ``--portable`` groups: a call allowed widens to the others of its group. Each group is
#: one kernel service reached by different calling conventions (one buffer or several, at
#: the file position or at an offset, by path or by directory descriptor and path, with or
#: without flags): the same access, never more. docs/formats/policy.md gives the reason for
#: each (a test keeps that table and this one equal). Names an architecture lacks are skipped.
EQUIVALENTS: Final[tuple[tuple[str, ...], ...]] = (
    ("read", "readv", "pread64", "preadv", "preadv2"),
    ("write", "writev", "pwrite64", "pwritev", "pwritev2"),
    ("sendto", "sendmsg", "sendmmsg"),
    ("recvfrom", "recvmsg", "recvmmsg"),
    ("stat", "lstat", "fstat", "newfstatat", "statx"),
    ("open", "openat", "openat2"),
    ("mkdir", "mkdirat"),
    ("unlink", "unlinkat"),
    ("rename", "renameat", "renameat2"),
    ("chmod", "fchmodat"),
    ("chown", "lchown", "fchownat"),
    ("link", "linkat"),
    ("symlink", "symlinkat"),
    ("readlink", "readlinkat"),
    ("access", "faccessat", "faccessat2"),
    ("mknod", "mknodat"),
    ("utime", "utimes", "utimensat", "futimesat"),
    ("wait4", "waitid"),
    ("poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2"),
    ("dup2", "dup3"),
    ("accept", "accept4"),
    ("fork", "vfork", "clone", "clone3"),
)

#: --portable: the group (index into EQUIVALENTS) of each of its names.
GROUP_OF: Final[Mapping[str, int]] = {
    name: g for g, group in enumerate(EQUIVALENTS) for name in group
}

_IORING_REGISTER_PERSONALITY: Final = 9
_NO_PERSONALITY: Final = ArgCondition(1, "ne", _IORING_REGISTER_PERSONALITY)
_PERSONALITY_NOTE: Final = (
    "Landlock: never IORING_REGISTER_PERSONALITY (a personality keeps the credentials of the "
    "moment, Landlock domain included, for requests made after a later switch)"
)

_PR_SET_NO_NEW_PRIVS: Final = 38
_NNP: Final = (ArgCondition(0, "eq", _PR_SET_NO_NEW_PRIVS),)

Allowed = MutableMapping[str, AllowedCall]


def add_always(allowed: Allowed, known: Collection[str]) -> None:
    """Every call of :data:`ALWAYS_ADDED` the architecture knows, with its reason."""
    for call, reason in ALWAYS_ADDED.items():
        if call in known:
            have = allowed.get(call)
            if have is None:
                allowed[call] = AllowedCall(Rule(call), (), reason)
            else:
                both = join_notes(have.reason, reason)
                allowed[call] = AllowedCall(have.rule, have.provenance, both, have.note)


def enforcer_needs(
    switching: Collection[str],
    program: str,
    has_later: bool,
    first_of_root: bool,
    landlock: bool = False,
    switched_to: bool = False,
) -> dict[str, set[str]]:
    """Enforcer call -> the programs that need it in this phase of ``program``.

    ``switching``: the programs whose processes under this filter switch phases later;
    ``landlock``: their later phases carry Landlock rulesets too, which each thread applies
    under the new phase's filter (``switched_to``: this phase is one a switch starts).
    """
    needers: dict[str, set[str]] = {}
    if switching:
        needers["seccomp"] = set(switching)
    if first_of_root:
        needers["prctl"] = {program}
    if has_later:
        needers.setdefault("seccomp", set()).add(program)
    if landlock and ("seccomp" in needers or switched_to):
        needers["landlock_restrict_self"] = set(needers.get("seccomp", ())) | (
            {program} if switched_to else set()
        )
    return needers


def add_enforcer_calls(
    allowed: Allowed,
    needers: Mapping[str, set[str]],
    program: str,
    known: Collection[str],
    program_rank: Mapping[str, int],
    args: bool,
) -> None:
    """The enforcer's calls ``needers`` names, with who needs them (``--args``: prctl's option)."""
    for call, programs in needers.items():
        if call not in known or not programs:
            continue
        reason = ENFORCER_CALLS[call]
        others = sorted(programs - {program}, key=lambda x: program_rank.get(x, 0))
        if others:
            reason += f"; needed by {', '.join(others)}" + (
                " and this program" if program in programs else ""
            )
        have = allowed.get(call)
        if have is None:
            when: Alternatives = (_NNP,) if call == "prctl" and args else ()
            allowed[call] = AllowedCall(Rule(call, when), (), reason)
        else:
            when = have.rule.when
            if call == "prctl" and when and _NNP not in when:
                when = (*when, _NNP)
            both = join_notes(have.reason, reason)
            allowed[call] = AllowedCall(Rule(call, when), have.provenance, both, have.note)


def widen_portable(
    allowed: Allowed,
    known: Collection[str],
    args: bool,
    group_provenance: Callable[[int], tuple[tuple[Provenance, ...], str | None]],
) -> None:
    """``--portable``: every group with an allowed call gets its other (known) calls too.

    ``group_provenance(g)``: the provenance of group g (its members' sources) and a remark.
    """
    for g, group in enumerate(EQUIVALENTS):
        present = [allowed[c] for c in group if c in allowed]
        if not present:
            continue
        sources = ", ".join(a.syscall for a in present)
        prov, more = group_provenance(g)
        for call in group:
            if call in allowed or call not in known:
                continue
            when: Alternatives = ()
            note = None
            if args and call == "clone":
                when = ((ArgCondition(0, "masked_eq", 0, CLONE_NS_FLAGS),),)
            elif args and call == "clone3":
                note = CLONE3_NOTE
            allowed[call] = AllowedCall(
                Rule(call, when), prov, f"portable: equivalent of {sources}", join_notes(note, more)
            )


def refuse_io_uring_personality(allowed: Allowed) -> None:
    """With Landlock rulesets: ``io_uring_register`` only with another opcode than
    IORING_REGISTER_PERSONALITY (docs/landlock.md, limits)."""
    have = allowed.get("io_uring_register")
    if have is None:
        return
    when = have.rule.when or ((),)
    narrowed = tuple(alt if _NO_PERSONALITY in alt else (*alt, _NO_PERSONALITY) for alt in when)
    note = join_notes(have.note, _PERSONALITY_NOTE)
    allowed["io_uring_register"] = AllowedCall(
        Rule("io_uring_register", narrowed), have.provenance, have.reason, note
    )
