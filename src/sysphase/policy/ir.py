"""The policy model (`sysphase-policy/1`): programs, phases, allowed calls and their conditions.

A :class:`Policy` is what :func:`sysphase.policy.generate.generate` makes of a
profile and what every output format renders: per program (executable) an
ordered list of phases, each an allow-list of :class:`Rule` with the
:class:`Provenance` of every allowed call, plus a default action for
everything else. Everything is frozen and hashable; docs/formats/policy.md
describes the JSON form (:mod:`sysphase.policy.codec`).

Argument conditions follow libseccomp's ``SCMP_CMP_*`` semantics on the raw
64-bit argument registers: ``eq`` (``arg == value``), ``ne``
(``arg != value``), ``masked_eq`` (``arg & mask == value``).

With ``policy --landlock`` a phase also holds a :class:`LandlockSection`:
the Landlock ruleset of the phase (rights handled, path-beneath rules with
their provenance, TCP ports, scopes), made by
:mod:`sysphase.policy.landlock_rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from sysphase.model.frozen import FrozenMap

__all__ = [
    "ARG_MAX",
    "DEFAULT_ACTIONS",
    "OPS",
    "AllowedCall",
    "ArgCondition",
    "Cond",
    "LandlockRule",
    "LandlockSection",
    "Op",
    "Policy",
    "PolicyPhase",
    "ProgramPolicy",
    "Provenance",
    "RefusedCall",
    "Rule",
]

#: Largest value of a syscall argument (a 64-bit register, unsigned).
ARG_MAX: Final = 2**64 - 1

Op = Literal["eq", "masked_eq", "ne"]

#: The comparisons a condition may use (libseccomp's SCMP_CMP_EQ, _MASKED_EQ, _NE).
OPS: Final[tuple[Op, ...]] = ("eq", "masked_eq", "ne")

#: What happens to a call no rule allows: kill the process, fail it with EPERM,
#: send SIGSYS (trap), or allow and log it.
DEFAULT_ACTIONS: Final = ("kill", "errno", "trap", "log")

Cond = tuple[int, str, int, int]
"""A condition as plain data: (argument index, op, value, mask), the shape
:func:`sysphase._host.seccomp.compile_filter` takes."""


@dataclass(frozen=True, slots=True)
class ArgCondition:
    """One comparison of one syscall argument (index 0..5) with a 64-bit value.

    ``mask`` is only used by ``masked_eq`` and must be 0 for the other ops;
    a ``masked_eq`` value must lie inside its mask (else it could never match).
    ValueError when any of this does not hold.
    """

    index: int
    op: Op
    value: int
    mask: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.index <= 5:
            raise ValueError(f"argument index {self.index} is not 0 to 5")
        if self.op not in OPS:
            raise ValueError(f"unknown comparison {self.op!r} (known: {', '.join(OPS)})")
        for what, v in (("value", self.value), ("mask", self.mask)):
            if not 0 <= v <= ARG_MAX:
                raise ValueError(f"{what} {v} is not an unsigned 64-bit integer")
        if self.op == "masked_eq":
            if self.value & ~self.mask:
                raise ValueError(
                    f"value {self.value:#x} has bits outside its mask {self.mask:#x}, "
                    "so it can never match"
                )
        elif self.mask:
            raise ValueError(f"a mask only goes with masked_eq, not with {self.op}")

    def matches(self, args: Sequence[int]) -> bool:
        """Whether raw argument registers ``args`` (six values) satisfy the condition."""
        arg = args[self.index] & ARG_MAX
        if self.op == "eq":
            return arg == self.value
        if self.op == "ne":
            return arg != self.value
        return arg & self.mask == self.value

    def as_tuple(self) -> Cond:
        return (self.index, self.op, self.value, self.mask)

    def describe(self) -> str:
        """``arg1 & 0xfff7f7ff == 0x1``, ``arg0 == 38``, ``arg0 != 5``."""
        if self.op == "masked_eq":
            return f"arg{self.index} & {self.mask:#x} == {self.value:#x}"
        return f"arg{self.index} {'==' if self.op == 'eq' else '!='} {self.value}"


@dataclass(frozen=True, slots=True)
class Rule:
    """Allow ``syscall`` (a name of the policy's architecture) under conditions.

    ``when`` empty: unconditional. Otherwise any one of the alternatives
    allows the call; an alternative is a conjunction of conditions (never
    empty).
    """

    syscall: str
    when: tuple[tuple[ArgCondition, ...], ...] = ()

    def __post_init__(self) -> None:
        if any(not alt for alt in self.when):
            raise ValueError(f"{self.syscall}: an alternative without conditions")

    @property
    def conditional(self) -> bool:
        return bool(self.when)

    def allows(self, args: Sequence[int]) -> bool:
        """Whether the rule allows a call of its syscall with argument registers ``args``."""
        return not self.when or any(all(c.matches(args) for c in alt) for alt in self.when)

    def describe(self) -> str:
        """The conditions as text: ``arg0 == 2 and arg1 & 0x... == 0x1 or ...``; "" if none."""
        return " or ".join(" and ".join(c.describe() for c in alt) for alt in self.when)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where an allowed call came from: calls made by ``program`` in its phase ``phase``.

    ``calls`` counts completed and unfinished calls over every node of that
    program and phase that the allowing phase covers. A generated call lists
    at most :data:`sysphase.policy.generate.PROVENANCE_LIMIT` of these
    (every program's nearest phase, then the nearest others); its note then
    says how many there were and how many calls they made.
    """

    program: str
    phase: str
    calls: int

    def describe(self) -> str:
        return f"{self.program} {self.phase}: {self.calls} call{'' if self.calls == 1 else 's'}"


@dataclass(frozen=True, slots=True)
class AllowedCall:
    """One allowed syscall of a phase: its rule, where it was seen, why else it is here.

    ``reason`` is set for calls added on purpose (always-added calls, the
    enforcer's own calls, ``--portable`` equivalents); ``note`` remarks on
    the conditions (e.g. why a call stays unconditional under ``--args``)
    and says when ``provenance`` lists only some of the sources.
    """

    rule: Rule
    provenance: tuple[Provenance, ...] = ()
    reason: str | None = None
    note: str | None = None

    @property
    def syscall(self) -> str:
        return self.rule.syscall

    def describe(self) -> str:
        """Provenance then reason: ``/bin/sh start: 2 calls; always added: ...``."""
        parts = [p.describe() for p in self.provenance]
        if self.reason:
            parts.append(self.reason)
        return "; ".join(parts) or "no recorded calls"


@dataclass(frozen=True, slots=True)
class RefusedCall:
    """A syscall the trace saw that the policy does not allow, and why (another ABI)."""

    syscall: str
    provenance: tuple[Provenance, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class LandlockRule:
    """One path-beneath rule: ``rights`` (file-system right names, in bit order) on ``path``.

    A rule on a directory covers what is beneath it; a rule on a file holds
    file rights only. Provenance: ``how``, the generalisation rules that
    made it (:mod:`sysphase.policy.landlock_rules`), ``recorded``, how many
    recorded paths it covers, and ``examples``, a few of them.
    """

    path: str
    rights: tuple[str, ...]
    how: tuple[str, ...] = ()
    recorded: int = 0
    examples: tuple[str, ...] = ()

    def describe(self) -> str:
        """``writes: 3 recorded paths (/tmp/a, /tmp/b, ...)``."""
        how = ", ".join(self.how) or "by hand"
        if not self.recorded:
            return how
        shown = ", ".join(self.examples) + (", ..." if self.recorded > len(self.examples) else "")
        n = self.recorded
        return f"{how}: {n:,} recorded path{'' if n == 1 else 's'} ({shown})"


@dataclass(frozen=True, slots=True)
class LandlockSection:
    """A phase's Landlock ruleset: what it handles, its rules, its ports and scopes.

    ``abi`` is the Landlock ABI version it was made for; ``handled_fs`` and
    ``handled_net`` the rights the ruleset restricts (everything not granted
    by a rule or a port is refused), ``scoped`` the scopes it sets; ``rules``
    sorted by path, one per path; ``bind_tcp`` and ``connect_tcp`` the TCP
    ports allowed. ``note`` says what the rules may miss (phases recorded
    without paths, paths cut by the profile's bound, accesses the recorder lost).
    """

    abi: int
    handled_fs: tuple[str, ...]
    handled_net: tuple[str, ...]
    scoped: tuple[str, ...]
    rules: tuple[LandlockRule, ...]
    bind_tcp: tuple[int, ...] = ()
    connect_tcp: tuple[int, ...] = ()
    note: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyPhase:
    """One phase of one program: what starts it, and the calls its filter allows.

    ``trigger`` is ``start`` for a program's first phase, else the profile's
    trigger string (``syscall:epoll_wait``, ``symbol:aeMain``, ...). The
    filter of a phase allows everything the phase, the later phases, the
    children and the exec'd programs need (it stays installed under them).
    ``landlock``: its Landlock ruleset (``policy --landlock``), which, like
    the filter, covers the later phases, children and exec'd programs.
    """

    name: str
    trigger: str
    allowed: tuple[AllowedCall, ...]
    refused: tuple[RefusedCall, ...] = ()
    landlock: LandlockSection | None = None

    def syscall_names(self) -> frozenset[str]:
        return frozenset(a.syscall for a in self.allowed)

    def get(self, syscall: str) -> AllowedCall | None:
        """The allowed call of that name, or None."""
        return next((a for a in self.allowed if a.syscall == syscall), None)

    def allow_list(self) -> dict[str, tuple[tuple[Cond, ...], ...]]:
        """``{syscall: alternatives}`` as plain tuples (empty: unconditional), sorted by name.

        The input of :func:`sysphase._host.seccomp.compile_filter`.
        """
        return {
            a.syscall: tuple(tuple(c.as_tuple() for c in alt) for alt in a.rule.when)
            for a in sorted(self.allowed, key=lambda a: a.syscall)
        }


@dataclass(frozen=True, slots=True)
class ProgramPolicy:
    """The phases of one program, in order; at least one.

    A program is its executable's path and, where the executable has one, its GNU
    build-id (lower-case hex, "" if none): a copy, a hard link or a symlink of the
    same program is the same program.
    """

    executable: str
    phases: tuple[PolicyPhase, ...]
    build_id: str = ""

    def is_program(self, executable: str, build_id: str) -> bool:
        """Whether a program at EXECUTABLE (real path) with BUILD_ID is this one."""
        return executable == self.executable or bool(build_id and build_id == self.build_id)

    def phase(self, name: str) -> PolicyPhase | None:
        return next((p for p in self.phases if p.name == name), None)


_NO_OPTIONS: Final[FrozenMap[bool]] = FrozenMap({"args": False, "portable": False})


@dataclass(frozen=True, slots=True)
class Policy:
    """A whole policy: architecture, default action, programs (the root program first).

    ``options`` records how it was generated: ``{"args": bool, "portable": bool}``.
    """

    arch: str
    default_action: str
    programs: tuple[ProgramPolicy, ...]
    command: tuple[str, ...] = ()
    options: FrozenMap[bool] = _NO_OPTIONS

    @property
    def root_program(self) -> ProgramPolicy:
        """The program of the profile's first process: its first phase is the widest filter."""
        if not self.programs:
            raise ValueError("the policy has no programs")
        return self.programs[0]

    def program(self, executable: str, build_id: str = "") -> ProgramPolicy | None:
        """The program at EXECUTABLE (a real path), else the one with BUILD_ID, else None."""
        by_path = next((p for p in self.programs if p.executable == executable), None)
        if by_path is not None or not build_id:
            return by_path
        return next((p for p in self.programs if p.build_id == build_id), None)
