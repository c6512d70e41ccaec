"""The importer of sysphase._core: run or attach, and turn its records into the model.

(One other module calls the core: sysphase._host.keep_pid, which this one uses to
trace a program that execs in place of the sysphase process.)

The seam with the C core is narrow and typed (``_core.pyi``, checked by mypy's
stubtest): the tracing :class:`Mode` is decided here, once, from what the caller
asks for; the core gets one :class:`CoreOptions` object and returns one
``_core.TraceResult`` of named records. A ``_core.CoreError`` (an ``OSError``
with ``.call`` and ``.pid``) becomes a SysphaseError by its call, never by its
message, in sysphase._host.core_errors.

Tracing runs on the calling thread; while it runs, waitpid(-1) in the core
also collects other children of this process that exit, so callers should not
run unrelated child processes in the same process during a trace.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sysphase import _core
from sysphase._host import core_records, files, keep_pid, landlock, recording_filters
from sysphase._host.core_errors import domain_error, start_error
from sysphase._host.core_options import CoreKnown, CoreOptions, CoreTrigger, Spawn
from sysphase._host.programs import resolve_program
from sysphase._host.recording_filters import Selection
from sysphase.errors import PtraceDenied, TraceeLost, UsageError
from sysphase.model import arg_watch, elf, syscalls
from sysphase.model import profile as prof
from sysphase.model.events import X86_64, SyscallEvent
from sysphase.model.phases import PhaseTrigger
from sysphase.model.tree import Count, ProcessTree
from sysphase.model.violations import ViolationEvent

__all__ = [
    "Enforce",
    "Mode",
    "PhaseConfig",
    "Selection",
    "Service",
    "TraceResult",
    "attach",
    "trace_command",
]

EventSink = Callable[[list[SyscallEvent]], None]


class Mode(enum.Enum):
    """How the core sees system calls; decided once per trace (docs/performance.md)."""

    #: syscall-entry and -exit stops: exact calls, errors and times
    FULL = _core.MODE_FULL
    #: a recording filter's TRACE stop at each call's entry: calls, no errors or times
    SETS = _core.MODE_SETS
    #: as SETS, but the calls a baseline knows per (program, phase) run without a stop
    KNOWN = _core.MODE_KNOWN
    #: ``trace -e``: only the selected calls stop, at entry and exit
    FILTERED = _core.MODE_FILTERED
    #: ``run``: the policy's filters, phase switches
    ENFORCE = _core.MODE_ENFORCE
    #: ``run --complain``: filters that send what they would deny to the tracer
    COMPLAIN = _core.MODE_COMPLAIN

    @property
    def label(self) -> str:
        """What TraceResult.mode and profiles call it."""
        return {Mode.SETS: "sets", Mode.KNOWN: "baseline", Mode.FILTERED: "filtered"}.get(
            self, "full"
        )


@dataclass(slots=True)
class TraceResult:
    """What one traced run produced."""

    tree: ProcessTree
    root_status: int | None  # raw wait status of the spawned program, None if unknown
    interrupted: int  # the signal that stopped the tracer early, 0 if none
    stops: int  # ptrace stops handled
    attached: bool = False
    #: complain mode: calls the filter sent to the tracer (outside the policy), as counters
    violations: list[Count] = field(default_factory=list)
    #: enforcing: phase switches made, and the total time they took (ns); recording with
    #: known sets: filters stacked
    switches: int = 0
    switch_ns: int = 0
    #: how syscalls were seen: "full" (entry and exit stops), "sets" (seccomp stops, calls
    #: counted at entry: no errors, no times), "baseline" (as "sets", known calls not at all:
    #: counts are lower bounds, sets exact), "filtered" (seccomp stops of the selected calls,
    #: then their exits: exact for those)
    mode: str = "full"
    #: each trigger that fired: (node of the thread it fired in, phase id)
    fires: list[tuple[int, int]] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        """The status a shell would report: the exit code, or 128+N if killed by signal N."""
        st = self.root_status
        if st is None:
            return 0 if self.attached else 1
        if os.WIFEXITED(st):
            return os.WEXITSTATUS(st)
        if os.WIFSIGNALED(st):
            return 128 + os.WTERMSIG(st)
        return 1


@dataclass(frozen=True, slots=True)
class PhaseConfig:
    """Explicit phase boundaries: sequential triggers and an optional phase signal."""

    triggers: tuple[PhaseTrigger, ...] = ()
    signal: int = 0
    signal_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Service:
    """Trace a service: it keeps the pid, signals and exit of the sysphase command."""

    #: after the program gets SIGINT or SIGTERM, kill the whole tree this many seconds later
    #: if it has not ended (0: never)
    kill_after: float = 10.0


@dataclass(frozen=True, slots=True)
class Enforce:
    """What ``run`` enforces (sysphase._host.enforcement builds it from a policy)."""

    #: the first phase's filter, installed by the child before exec (None: no filter)
    first_filter: bytes | None
    #: later phases' filters, by phase label; their triggers are in ``phases``
    phases: PhaseConfig = PhaseConfig()
    phase_filters: Mapping[str, bytes] = field(default_factory=dict)
    #: the started program (real path, build-id): whose phase-signal phases switch
    program: tuple[str, str] = ("", "")
    #: count calls outside the policy (filters answer TRACE) instead of killing
    complain: bool = False
    #: stay attached with syscall stops until each process's last switch (False: events only)
    supervise: bool = True
    #: receives each seccomp kill and complain-mode violation as it happens
    on_violation: Callable[[list[ViolationEvent]], None] | None = None
    #: receives the trace so far every ``snapshot_every`` seconds (0: never)
    on_snapshot: Callable[[TraceResult], None] | None = None
    snapshot_every: float = 0.0
    #: Landlock (sysphase._host.landlock): our descriptor of the first phase's ruleset (-1:
    #: none), and later phases' by phase label
    landlock_first: int = -1
    landlock: Mapping[str, int] = field(default_factory=dict)


# --- from the core's records to the model (sysphase._host.core_records) -------------------


def _result(raw: _core.TraceResult, attached: bool, mode: Mode) -> TraceResult:
    return TraceResult(
        tree=core_records.tree(raw),
        root_status=None if raw.root_status == -1 else raw.root_status,
        interrupted=raw.interrupted,
        stops=raw.stops,
        attached=attached,
        violations=core_records.counts(raw.violations),
        switches=raw.switches,
        switch_ns=raw.switch_ns,
        mode=mode.label,
        fires=list(raw.fires),
    )


# --- from the caller's request to the options object ----------------------------------------


def _kinds_for_core(arg_kinds: Mapping[str, bytes] | None) -> dict[int, bytes] | None:
    if not arg_kinds:
        return None
    return {
        core_records.CODE_BY_ARCH[a]: b
        for a, b in arg_kinds.items()
        if a in core_records.CODE_BY_ARCH
    }


def _breakpoint_offset(trig: PhaseTrigger, target: str) -> int:
    if trig.kind == "addr":
        return int(trig.value, 0)
    try:  # a regular file, bounded: a policy may name any path as a program
        data = files.read_bytes_bounded(target, files.BINARY_LIMIT, "a program")
    except UsageError as err:
        raise UsageError(f"--phase {trig.name}={trig.spec}: {err}") from None
    try:
        return elf.symbol_offset(data, trig.value)
    except elf.ElfError as err:
        raise UsageError(f"--phase {trig.name}={trig.spec}: {target}: {err}") from err


@dataclass(frozen=True, slots=True)
class _Phases:
    """The CoreOptions fields of the phases."""

    names: tuple[tuple[str, str], ...]
    triggers: tuple[CoreTrigger, ...]


@dataclass(frozen=True, slots=True)
class _Filters:
    """The CoreOptions fields of the mode's filters."""

    mode: Mode
    first: bytes | None = None
    phase_filters: tuple[bytes, ...] | None = None
    enforce_exe: bytes = b""
    enforce_id: bytes = b""
    known: tuple[CoreKnown, ...] = ()
    unknown: bytes | None = None
    supervise: bool = True
    violation_sink: Callable[[list[_core.Violation]], None] | None = None
    snapshot_sink: Callable[[_core.TraceResult], None] | None = None
    snapshot_every_ns: int = 0


def _core_phases(
    config: PhaseConfig,
    program: str,
    first: tuple[str, str] = ("start", "start"),
    then: tuple[tuple[str, str], ...] = (),
) -> _Phases:
    """The phase names by id (FIRST: phase 0's name and trigger, THEN the next ids') and
    the core's triggers.

    Symbols are resolved in the trigger's program, or in PROGRAM's ELF image.
    """
    exe = os.path.realpath(program)
    names: list[tuple[str, str]] = [first, *then]

    def phase_id(name: str, trigger: str) -> int:
        for i, (known, _) in enumerate(names):
            if known == name:
                return i
        names.append((name, trigger))
        return len(names) - 1

    triggers: list[CoreTrigger] = []
    for trig in config.triggers:
        scope = (os.fsencode(trig.program), trig.program_id.encode())
        pid = phase_id(trig.name, trig.spec)
        if trig.kind == "syscall":
            nr = syscalls.number(X86_64, trig.value)
            assert nr is not None  # parse_trigger checked it
            after = syscalls.number(X86_64, trig.after) if trig.after else None
            triggers.append(
                CoreTrigger(
                    "syscall",
                    pid,
                    *scope,
                    arch=_core.ARCH_X86_64,
                    nr=nr,
                    main_only=trig.main_only,
                    after_nr=-1 if after is None else after,
                )
            )
            continue
        target = os.path.realpath(trig.program) if trig.program else exe
        offset = _breakpoint_offset(trig, target)
        triggers.append(
            CoreTrigger("breakpoint", pid, *scope, exe=os.fsencode(target), offset=offset)
        )
    if config.signal:
        for name in config.signal_names:
            phase_id(name, f"signal:{config.signal}")
    return _Phases(tuple(names), tuple(triggers))


def _recording(
    path: str,
    config: PhaseConfig,
    sets_only: bool,
    baseline: prof.Profile | None,
    select: Selection | None,
) -> _Filters:
    """The mode and filters of a recording (full unless a fast path is asked for)."""
    if baseline is not None:
        known = recording_filters.known_filters(baseline, config.triggers, os.path.realpath(path))
        per_phase = tuple(CoreKnown(*k) for k in known.per_phase)
        return _Filters(Mode.KNOWN, known.first, known=per_phase, unknown=known.unknown)
    if sets_only:
        return _Filters(Mode.SETS, recording_filters.every_call())
    if select is not None:
        return _Filters(Mode.FILTERED, recording_filters.select(select, config.triggers))
    return _Filters(Mode.FULL)


def _enforcing(enforce: Enforce, names: Sequence[tuple[str, str]]) -> _Filters:
    """The mode and filters of ``run`` (phase filters by phase id, b"" where none)."""
    filters = tuple(enforce.phase_filters.get(n, b"") for n, _ in names)
    exe, build_id = enforce.program
    report, snapshot = enforce.on_violation, enforce.on_snapshot
    mode = Mode.COMPLAIN if enforce.complain else Mode.ENFORCE
    return _Filters(
        mode,
        enforce.first_filter,
        filters if enforce.phase_filters else None,
        os.fsencode(exe),
        build_id.encode(),
        supervise=enforce.supervise,
        violation_sink=None if report is None else (lambda b: report(core_records.violations(b))),
        snapshot_sink=None if snapshot is None else (lambda r: snapshot(_result(r, False, mode))),
        snapshot_every_ns=int(enforce.snapshot_every * 1e9),
    )


def _check_combination(
    fast: bool,
    set_only: bool,
    sink: EventSink | None,
    phases: PhaseConfig | None,
    enforce: Enforce | None,
    paths: bool,
) -> None:
    """UsageError for what one trace cannot do at once."""
    if enforce is not None and (fast or phases is not None):
        raise UsageError("recording filters and phases cannot be combined with enforcement")
    if paths and (fast or enforce is not None):
        raise UsageError("path capture needs full recording (not set-only, known sets or -e)")
    if sink is not None and set_only:
        raise UsageError("set-only recording has no live events")


def _landlock_options(enforce: Enforce | None, names: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The core's Landlock options: the first ruleset, and per phase id (the program's
    descriptor number, ours) of each later phase's (sysphase._host.landlock)."""
    if enforce is None or (enforce.landlock_first < 0 and not enforce.landlock):
        return {}
    theirs = iter(landlock.program_fds(len(enforce.landlock)))
    fds = tuple(
        (next(theirs), enforce.landlock[n]) if n in enforce.landlock else (-1, -1) for n, _ in names
    )
    return {"landlock_first": enforce.landlock_first, "landlock_fds": fds}


def _options(
    config: PhaseConfig,
    core_phases: _Phases,
    filters: _Filters,
    sink: EventSink | None,
    arg_kinds: Mapping[str, bytes] | None,
    batch: int,
) -> CoreOptions:
    """The one options object of a trace (spawned, or attached with no filters)."""
    return CoreOptions(
        mode=filters.mode.value,
        sink=None if sink is None else (lambda b: sink(core_records.events(b))),
        batch=batch,
        arg_kinds=_kinds_for_core(arg_kinds),
        arg_watch={_core.ARCH_X86_64: arg_watch.table(X86_64)},
        phase_names=core_phases.names,
        triggers=core_phases.triggers,
        phase_signal=config.signal,
        signal_names=config.signal_names,
        filter=filters.first,
        phase_filters=filters.phase_filters,
        enforce_exe=filters.enforce_exe,
        enforce_id=filters.enforce_id,
        known_filters=filters.known,
        unknown_filter=filters.unknown,
        supervise=filters.supervise,
        violation_sink=filters.violation_sink,
        snapshot_sink=filters.snapshot_sink,
        snapshot_every_ns=filters.snapshot_every_ns,
    )


def _run_core(target: Spawn | int, options: CoreOptions) -> _core.TraceResult:
    try:
        return _core.trace(target, options)
    except OSError as err:
        raise domain_error(err) from err


def trace_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    sink: EventSink | None = None,
    arg_kinds: Mapping[str, bytes] | None = None,
    batch: int = 256,
    phases: PhaseConfig | None = None,
    sets_only: bool = False,
    baseline: prof.Profile | None = None,
    select: Selection | None = None,
    enforce: Enforce | None = None,
    service: Service | None = None,
    paths: bool = False,
) -> TraceResult:
    """Spawn argv under the tracer and follow its whole tree until it ends.

    With ``service``, argv does not run in a child: this process becomes it and
    keeps its pid, traced by a detached process, the only one this returns in
    (sysphase._host.keep_pid; the caller ends with ``keep_pid.finish()``).
    sink, when given, receives lists of SyscallEvent (live mode); without it
    only counters are kept and no Python runs per stop. ``paths`` (full
    recording only) notes the paths and ports calls touch (``tree.accesses``).

    Recording through a seccomp filter (TRACE stops instead of syscall stops;
    docs/performance.md): ``sets_only`` stops once per call, at its entry (calls
    counted, no errors or times); ``baseline`` (a profile) also lets the calls
    known for each (program, phase) run without a stop (counts are then lower
    bounds, per-phase sets stay exact); ``select`` stops only on the selected
    calls and their exits (exact counts, errors and times for those; live
    events only for those). The filters are installed without no_new_privs
    when the kernel allows it (CAP_SYS_ADMIN). ``enforce`` runs the program
    under a policy's filters instead (its phases replace ``phases``).
    """
    fast = sets_only or baseline is not None or select is not None
    _check_combination(fast, sets_only or baseline is not None, sink, phases, enforce, paths)
    env = dict(os.environ if env is None else env)
    path = resolve_program(argv[0], env)
    config = enforce.phases if enforce is not None else phases or PhaseConfig()
    core_phases = _core_phases(config, path)
    filters = (
        _enforcing(enforce, core_phases.names)
        if enforce is not None
        else _recording(path, config, sets_only, baseline, select)
    )
    options = replace(
        _options(config, core_phases, filters, sink, arg_kinds, batch),
        paths=paths,
        **_landlock_options(enforce, core_phases.names),
    )
    envp = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()]
    spawn = Spawn(os.fsencode(path), [os.fsencode(a) for a in argv], envp)
    if service is not None:  # this process becomes the program; only its tracer returns
        options = replace(options, kill_after_ns=int(service.kill_after * 1e9))
        raw = keep_pid.trace_in_place(spawn, options, argv[0])
    else:
        raw = _run_core(spawn, options)
    if err := start_error(argv[0], raw.filter_errno, raw.exec_errno, raw.landlock_errno):
        raise err
    return _result(raw, attached=False, mode=filters.mode)


def attach(
    pid: int,
    *,
    sink: EventSink | None = None,
    arg_kinds: Mapping[str, bytes] | None = None,
    batch: int = 256,
    phases: PhaseConfig | None = None,
    first_phase: str = "start",
) -> TraceResult:
    """Attach to every thread of PID and trace until it ends or the tracer is interrupted.

    On SIGINT, SIGTERM or SIGHUP the tracer detaches and the process keeps running.
    The process is in phase ``first_phase`` from the attach on (its trigger:
    ``attach``); ``phases`` start later ones, as in a spawned trace.
    """
    exe = program_of(pid)
    config = phases or PhaseConfig()
    core_phases = _core_phases(config, exe, first=(first_phase, "attach"))
    options = _options(config, core_phases, _Filters(Mode.FULL), sink, arg_kinds, batch)
    return _result(_run_core(pid, options), attached=True, mode=Mode.FULL)


def attach_enforced(pid: int, enforce: Enforce, phase: str) -> TraceResult:
    """``run -p``: switch the running process PID to the filter of PHASE (a label of
    ``enforce.phase_filters``) in every thread, then supervise its later phases, or detach
    once none is left (sysphase._host.attach_enforcement checks what the kernel needs)."""
    if enforce.first_filter is not None or phase not in enforce.phase_filters:
        raise ValueError("attach_enforced switches to one of the phase filters, no first one")
    exe = program_of(pid)
    core_phases = _core_phases(enforce.phases, exe, ("attached", "attach"), ((phase, "attach"),))
    filters = _enforcing(enforce, core_phases.names)
    options = _options(enforce.phases, core_phases, filters, None, None, 256)
    options = replace(options, attach_target=1)  # the phase right after "attached"
    return _result(_run_core(pid, options), attached=True, mode=filters.mode)


def program_of(pid: int) -> str:
    """The executable process PID runs (/proc/PID/exe); TraceeLost or PtraceDenied if none."""
    if pid <= 0:
        raise TraceeLost(f"invalid pid {pid}", pid)
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except FileNotFoundError:
        if os.path.exists(f"/proc/{pid}"):
            raise TraceeLost(f"process {pid} runs no program (a kernel thread)", pid) from None
        raise TraceeLost(f"no such process: {pid}", pid) from None
    except OSError as err:
        raise PtraceDenied(f"process {pid}: {err.strerror}") from err
