"""From a policy to what the C core needs to enforce it on one command (or watch it complain).

Shared by ``sysphase run`` and ``sysphase validate``. The program the command
starts (a script's interpreter, as the kernel runs it) picks its ProgramPolicy by
what it is: its real path or its executable's build-id, so a copy or a link of a
program gets that program's phases; a program the policy does not have is refused
(``--program`` picks one deliberately). Its first phase becomes the filter the
child installs before exec; every program's later phases become the supervisor's
triggers, with their filters by phase label (programs other than the started one
get their executable's name as a suffix). The C core recognises exec'd programs
the same way (csrc/identity.c). The policy's Landlock sections (``policy
--landlock``) become rulesets only when ``run`` enforces (not in complain
mode: Landlock has no complain mode): docs/landlock.md.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from sysphase._host import files, landlock, programs, seccomp, tracer
from sysphase.errors import UsageError
from sysphase.model import elf, syscalls
from sysphase.model.phases import PhaseTrigger, parse_trigger
from sysphase.policy.ir import LandlockSection, Policy, PolicyPhase, ProgramPolicy

__all__ = ["Enforcement", "Violation", "identify", "label", "outside_policy", "prepare"]

#: How many ``#!`` interpreters deep the kernel follows a script (binfmt_script).
_MAX_INTERPRETERS = 4


@dataclass(frozen=True, slots=True)
class Enforcement:
    """The started program's policy, its first filter, and the supervisor's phase switches."""

    program: ProgramPolicy
    first_filter: bytes
    phases: tracer.PhaseConfig
    #: the later phases' filters, by phase label
    later_filters: dict[str, bytes]
    #: the started program as it is: (real path, build-id or "")
    started: tuple[str, str] = ("", "")
    #: the later phases' Landlock sections, by phase label (the first's is the program's)
    later_landlock: dict[str, LandlockSection] = field(default_factory=dict)

    def landlock(self) -> tuple[int, dict[str, int], list[str]]:
        """The policy's Landlock rulesets built for this kernel (sysphase._host.landlock):
        our descriptor of the first (-1: none), the later ones' by label, notes to print."""
        first = self.program.phases[0]
        if first.landlock is None and not self.later_landlock:
            return -1, {}, []
        return landlock.rulesets((first.name, first.landlock), self.later_landlock)

    def enforce(self, complain: bool) -> tracer.Enforce:
        """What tracer.trace_command(enforce=...) needs; COMPLAIN counts instead of killing."""
        return tracer.Enforce(
            first_filter=self.first_filter,
            phases=self.phases,
            phase_filters=self.later_filters,
            program=self.started,
            complain=complain,
            supervise=bool(self.later_filters),
        )


def _interpreter(head: bytes) -> str | None:
    """The interpreter a ``#!`` line names, as the kernel reads it; None if not a script."""
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].split()
    return os.fsdecode(words[0]) if words else None


def identify(argv0: str) -> tuple[str, str]:
    """The program a command starting with ARGV0 runs: (real path, build-id or "").

    A script's program is its interpreter, as the kernel runs it. UsageError (one
    sentence) when the program cannot be read.
    """
    path = os.path.realpath(programs.resolve_program(argv0, os.environ))
    for _ in range(_MAX_INTERPRETERS + 1):
        data = files.read_bytes_bounded(path, files.BINARY_LIMIT, "a program")
        interpreter = _interpreter(data[:256])
        if interpreter is None:
            return path, elf.build_id(data) or ""
        path = os.path.realpath(interpreter)
    return path, ""


def label(program: ProgramPolicy, root: ProgramPolicy, name: str) -> str:
    """A phase's name inside the supervisor: programs other than the root are suffixed."""
    return name if program is root else f"{name} ({os.path.basename(program.executable)})"


def _phase_config(
    policy: Policy, root: ProgramPolicy, source: str, started: tuple[str, str]
) -> tuple[tracer.PhaseConfig, dict[str, PolicyPhase]]:
    """The later phases of every program, as the supervisor's triggers, and by label.

    A program's later phases start at sequential syscall, symbol or addr triggers, or (for
    the program run starts) at successive deliveries of one signal. The root's triggers
    apply to the program started (STARTED: its real path and build-id), the others' to
    their executable, by path or build-id.
    """
    triggers: list[PhaseTrigger] = []
    signal_number = 0
    signal_names: tuple[str, ...] = ()
    labelled: dict[str, PolicyPhase] = {}
    for program in policy.programs:
        later = program.phases[1:]
        if not later:
            continue
        labelled.update({label(program, root, p.name): p for p in later})
        kinds = {p.trigger.partition(":")[0] for p in later}
        if kinds <= {"syscall", "symbol", "addr"}:
            exe, build_id = started if program is root else (program.executable, program.build_id)
            for p in later:
                t = parse_trigger(f"{p.name}={p.trigger}")
                name = label(program, root, p.name)
                triggers.append(replace(t, name=name, program=exe, program_id=build_id))
            continue
        signals = {p.trigger for p in later}
        number = syscalls.signal_number(next(iter(signals)).partition(":")[2])
        if kinds == {"signal"} and len(signals) == 1 and number and program is root:
            signal_number, signal_names = number, tuple(p.name for p in later)
            continue
        shown = ", ".join(f"{p.name!r} on {p.trigger!r}" for p in later)
        raise UsageError(
            f"{source}: {program.executable} phases {shown}: sysphase run switches phases on "
            "syscall, symbol and addr triggers, or on one signal in the program it starts"
        )
    config = tracer.PhaseConfig(
        triggers=tuple(triggers), signal=signal_number, signal_names=signal_names
    )
    return config, labelled


def _choose(
    policy: Policy, started: tuple[str, str], chosen: str | None, source: str
) -> ProgramPolicy:
    """The policy's program for the program started, or the one --program CHOSEN names."""
    names = ", ".join(p.executable for p in policy.programs)
    if chosen is not None:
        want = os.path.realpath(chosen)
        program = policy.program(want)
        if program is None:
            raise UsageError(f"--program {chosen}: {source} has no program {want} (it has {names})")
        return program
    program = policy.program(*started)
    if program is None:
        raise UsageError(
            f"{source}: {started[0]} is not a program of this policy (it has {names}); record "
            "it, or pass --program PATH to run it under one of the policy's programs"
        )
    return program


def prepare(
    policy: Policy, argv0: str, action: str, source: str, *, program: str | None = None
) -> Enforcement:
    """Compile POLICY's filters (default action ACTION) for a command starting with ARGV0.

    The started program must be one of the policy's (by real path or build-id), unless
    PROGRAM names the policy program to run it as.
    """
    if policy.arch != "x86_64":
        raise UsageError(f"{source}: a policy for {policy.arch}; this machine runs x86_64")
    started = identify(argv0)
    chosen = _choose(policy, started, program, source)
    first = chosen.phases[0]
    config, later = _phase_config(policy, chosen, source, started)
    return Enforcement(
        program=chosen,
        first_filter=seccomp.compile_filter(first.allow_list(), action, phase=first.name),
        phases=config,
        later_filters={
            name: seccomp.compile_filter(p.allow_list(), action, phase=name)
            for name, p in later.items()
        },
        started=started,
        later_landlock={n: p.landlock for n, p in later.items() if p.landlock is not None},
    )


@dataclass(frozen=True, slots=True)
class Violation:
    """Calls outside the policy (complain mode): executable, phase, syscall, how many times."""

    executable: str
    phase: str
    syscall: str
    calls: int


def outside_policy(result: tracer.TraceResult, first: str) -> list[Violation]:
    """A complain-mode run's calls outside the policy, summed per (executable, phase, call).

    Calls of another ABI are named ``arch:name``; the tracer's first phase
    (``start``) is reported under the policy's first phase name FIRST.
    """
    names = result.tree.phase_names
    rows: dict[tuple[str, str, str], int] = {}
    for c in result.violations:
        call = c.name if c.arch == "x86_64" else f"{c.arch}:{c.name}"
        phase = names[c.phase][0] if c.phase < len(names) else first
        key = (result.tree.nodes[c.node].exe, first if phase == "start" else phase, call)
        rows[key] = rows.get(key, 0) + c.calls
    return [Violation(exe, phase, call, n) for (exe, phase, call), n in sorted(rows.items())]
