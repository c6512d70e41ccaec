"""``sysphase policy --allow`` and ``--deny``: calls the operator adds or removes by hand.

A spec is ``NAME[,NAME...][@PROGRAM[:PHASE]]`` (:func:`parse_spec`): without
``@PROGRAM`` it means every program, without ``:PHASE`` every phase of the
program. PROGRAM is an executable of the profile or its unique basename.
:func:`resolve` checks the names against the architecture's table and the
programs and phases against the profile's, and files every call under each
(program, phase) it names, with the option that put it there ("--allow
pwritev@/usr/bin/redis-server:serve"), for the sweep
(:mod:`sysphase.policy.phase_sweep`):

- ``--allow`` X at (P, k) counts as if every process of P had made X in its
  phase k: the phase unions carry it into P's earlier phases and into the
  filters of the programs P runs under;
- ``--deny`` X at (P, k) removes X from P's phase k and every later one
  (filters only narrow, so a later phase could not allow it anyway), and
  lists it under the phase's ``refused`` calls.

``--allow-reachable FUNCTION[,FUNCTION...][@PROGRAM[:PHASE]]``
(:func:`parse_reachable`) targets the same way; its specs are allows whose
calls differ per program (what the function reaches in that program's
libraries, filled in by the caller for the programs :func:`targets` names),
with the origin "reachable from FUNCTION (--allow-reachable ...)".

Where an allow and a deny meet at one (program, phase) the more specific one
wins (a phase over a whole program, a program over every program); equally
specific ones contradict each other (UsageError). Calls no program can work
without (:data:`NEVER_DENIED`) are never denied.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from sysphase.errors import UsageError
from sysphase.model import syscalls

__all__ = [
    "NEVER_DENIED",
    "ManualCalls",
    "ManualSpec",
    "Origins",
    "parse_reachable",
    "parse_spec",
    "resolve",
    "targets",
]

Kind = Literal["allow", "deny"]

#: Calls a --deny is refused for, anywhere: every program needs them for the policy to work.
NEVER_DENIED: Final[Mapping[str, str]] = {
    "exit": "every thread ends with it",
    "exit_group": "every process ends with it",
    "rt_sigreturn": "every signal handler returns through it",
    "restart_syscall": "the kernel resumes calls interrupted by a signal with it",
}


@dataclass(frozen=True, slots=True)
class ManualSpec:
    """One ``--allow`` or ``--deny`` as given: the calls, and what follows ``@`` if anything.

    ``where`` is ``PROGRAM`` or ``PROGRAM:PHASE``, told apart by :func:`resolve`
    against the profile's programs (a path may hold a colon). An
    ``--allow-reachable`` spec has a ``function`` and its calls per program in
    ``reached`` instead of ``calls``.
    """

    kind: Kind
    calls: tuple[str, ...]
    where: str | None = None
    #: the text after the option, for messages
    text: str = ""
    #: --allow-reachable: the imported function, and executable -> the calls it reaches there
    function: str | None = None
    reached: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def option(self) -> str:
        return f"--{'allow-reachable' if self.function else self.kind} {self.text}"

    def calls_at(self, program: str) -> tuple[str, ...]:
        """The calls the spec puts at ``program``'s phases."""
        return self.reached.get(program, ()) if self.function else self.calls

    def all_calls(self) -> tuple[str, ...]:
        """Every call the spec names, in any program."""
        if not self.function:
            return self.calls
        return tuple(sorted(set().union(*self.reached.values())))


def parse_spec(kind: Kind, text: str) -> ManualSpec:
    """``NAME[,NAME...][@PROGRAM[:PHASE]]``; the program and phase are split by :func:`resolve`.

    UsageError (one sentence) for an empty name or nothing after ``@``.
    """
    calls, where = _split(f"--{kind}", "NAME", "a syscall name", text)
    return ManualSpec(kind, calls, where, text)


def parse_reachable(text: str) -> tuple[ManualSpec, ...]:
    """``FUNCTION[,FUNCTION...][@PROGRAM[:PHASE]]``: one allow spec per function, calls unset.

    The caller fills ``reached`` for the programs :func:`targets` names.
    """
    functions, where = _split("--allow-reachable", "FUNCTION", "a function name", text)
    return tuple(ManualSpec("allow", (), where, text, function=f) for f in functions)


def _split(option: str, item: str, what: str, text: str) -> tuple[tuple[str, ...], str | None]:
    """The names before ``@`` and what follows it (None without ``@``); one sentence if empty."""
    names, at, where = text.partition("@")
    found = tuple(n.strip() for n in names.split(","))
    if not all(found):
        raise UsageError(f"{option} {text}: {what} is empty ({item}[,{item}...][@PROGRAM])")
    if at and not where:
        raise UsageError(f"{option} {text}: no program after @ ({item}[@PROGRAM[:PHASE]])")
    return found, where or None


def targets(spec: ManualSpec, programs: Collection[str]) -> tuple[str, ...]:
    """The executables of ``programs`` a spec names: every one without ``@PROGRAM``.

    () when it names none (:func:`resolve` then says why in one sentence).
    """
    if spec.where is None:
        return tuple(programs)
    found = _find_program(spec.where, programs)
    if isinstance(found, str):
        return (found,)
    name, colon, _phase = spec.where.rpartition(":")
    found = _find_program(name, programs) if colon and name else []
    return (found,) if isinstance(found, str) else ()


#: syscall -> the options that put it at one (program, phase), in the order given
Origins = Mapping[str, tuple[str, ...]]
_NONE: Final[Origins] = {}


@dataclass(frozen=True, slots=True)
class ManualCalls:
    """The resolved ``--allow`` and ``--deny`` calls, by (program, phase name)."""

    allow: Mapping[tuple[str, str], Origins] = field(default_factory=dict)
    #: a --deny is filed under its phase and every later phase of the program
    deny: Mapping[tuple[str, str], Origins] = field(default_factory=dict)

    def allowed_at(self, program: str, phase: str) -> Origins:
        return self.allow.get((program, phase), _NONE)

    def denied_at(self, program: str, phase: str) -> Origins:
        return self.deny.get((program, phase), _NONE)


#: (kind, specificity, origin): 0 every program, 1 a program, 2 a program's phase
_Entry = tuple[Kind, int, str]


def resolve(
    specs: Sequence[ManualSpec],
    orders: Mapping[str, Sequence[str]],
    arch: str,
    omitted: Collection[str] = (),
) -> ManualCalls:
    """File each spec's calls under the (program, phase)s it names (module doc).

    ``orders``: each program's phases in policy order; ``omitted``: programs
    that get no policy of their own (a --deny naming one is refused).
    UsageError for an unknown syscall, program or phase, a --deny of a call
    in :data:`NEVER_DENIED` or of an omitted program, and an allow and a deny
    equally specific at one (program, phase).
    """
    table: dict[tuple[str, str], dict[str, list[_Entry]]] = {}
    for spec in specs:
        _check_names(spec, arch)
        program, phase = _program_and_phase(spec, orders)
        if spec.kind == "deny" and program in omitted:
            raise UsageError(
                f"{spec.option}: {program} gets no policy of its own (--omit-fragments), so "
                "there is nothing to deny it; deny the call to the program that runs it"
            )
        level = 0 if program is None else 1 if phase is None else 2
        for exe, name in _places(spec.kind, program, phase, orders):
            for call in spec.calls_at(exe):
                origin = _origin(spec, call, program, phase)
                table.setdefault((exe, name), {}).setdefault(call, []).append(
                    (spec.kind, level, origin)
                )
    allow: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {}
    deny: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {}
    for (exe, name), calls in table.items():
        for call, entries in calls.items():
            kind = _winner(entries, exe, name)
            origins = tuple(dict.fromkeys(o for k, _, o in entries if k == kind))
            (allow if kind == "allow" else deny).setdefault((exe, name), {})[call] = origins
    return ManualCalls(allow, deny)


def _check_names(spec: ManualSpec, arch: str) -> None:
    unknown = [c for c in spec.all_calls() if syscalls.number(arch, c) is None]
    if unknown:
        many = "s" if len(unknown) > 1 else ""
        raise UsageError(f"{spec.option}: unknown syscall{many} {', '.join(unknown)} for {arch}")
    if spec.kind == "deny":
        for call in spec.calls:
            if call in NEVER_DENIED:
                raise UsageError(
                    f"{spec.option}: {call} cannot be denied ({NEVER_DENIED[call]}), "
                    "so every policy allows it"
                )


def _program_and_phase(
    spec: ManualSpec, orders: Mapping[str, Sequence[str]]
) -> tuple[str | None, str | None]:
    """The executable and phase a spec's ``@PROGRAM[:PHASE]`` names (None: every one)."""
    if spec.where is None:
        return None, None
    whole = _find_program(spec.where, orders)
    if isinstance(whole, str):
        return whole, None
    name, colon, phase = spec.where.rpartition(":")
    candidates = whole
    if colon and name:
        found = _find_program(name, orders)
        if isinstance(found, str):
            if phase not in orders[found]:
                have = ", ".join(orders[found])
                missing = f"no phase {phase}" if phase else "no phase after the colon"
                raise UsageError(f"{spec.option}: {found} has {missing} (its phases: {have})")
            return found, phase
        candidates = found
    if len(candidates) > 1:
        raise UsageError(
            f"{spec.option}: several programs are called that ({', '.join(candidates)}); "
            "give the path"
        )
    have = ", ".join(orders)
    raise UsageError(f"{spec.option}: the profile has no program {spec.where} (it has {have})")


def _find_program(text: str, orders: Collection[str]) -> str | list[str]:
    """The executable TEXT names (its path, or a unique basename), else the candidates."""
    if text in orders:
        return text
    matches = [exe for exe in orders if exe.rpartition("/")[2] == text]
    return matches[0] if len(matches) == 1 else matches


def _places(
    kind: Kind, program: str | None, phase: str | None, orders: Mapping[str, Sequence[str]]
) -> list[tuple[str, str]]:
    """The (program, phase)s a spec covers: a --deny's phase and every later one."""
    programs = list(orders) if program is None else [program]
    out: list[tuple[str, str]] = []
    for exe in programs:
        order = orders[exe]
        if phase is None:
            out.extend((exe, name) for name in order)
        elif kind == "allow":
            out.append((exe, phase))
        else:
            out.extend((exe, name) for name in order[order.index(phase) :])
    return out


def _origin(spec: ManualSpec, call: str, program: str | None, phase: str | None) -> str:
    where = "" if program is None else f"@{program}" + ("" if phase is None else f":{phase}")
    if spec.function:
        return f"reachable from {spec.function} (--allow-reachable {spec.function}{where})"
    return f"--{spec.kind} {call}{where}"


def _winner(entries: Sequence[_Entry], exe: str, name: str) -> Kind:
    """The kind that holds at one (program, phase): the more specific; equal ones contradict."""
    best: dict[Kind, _Entry] = {}
    for entry in entries:
        have = best.get(entry[0])
        if have is None or entry[1] > have[1]:
            best[entry[0]] = entry
    if len(best) == 1:
        return next(iter(best))
    allow, deny = best["allow"], best["deny"]
    if allow[1] == deny[1]:
        raise UsageError(f"{allow[2]} and {deny[2]} contradict each other in {exe}'s phase {name}")
    return "allow" if allow[1] > deny[1] else "deny"
