"""The only importer of sysphase._core: run or attach, and turn its records into the model.

The seam with the C core is narrow and typed (``_core.pyi``, checked by mypy's
stubtest): the tracing :class:`Mode` is decided here, once, from what the caller
asks for; the core gets one :class:`CoreOptions` object and returns one
``_core.TraceResult`` of named records. A ``_core.CoreError`` (an ``OSError``
with ``.call`` and ``.pid``) becomes a SysphaseError here and nowhere else,
by its call, never by its message.

Tracing runs on the calling thread; while it runs, waitpid(-1) in the core
also collects other children of this process that exit, so callers should not
run unrelated child processes in the same process during a trace.
"""

from __future__ import annotations

import enum
import errno
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sysphase import _core
from sysphase._host import files, recording_filters
from sysphase._host.core_options import CoreKnown, CoreOptions, CoreTrigger, Spawn
from sysphase._host.programs import resolve_program
from sysphase._host.recording_filters import Selection
from sysphase.errors import (
    PolicyError,
    ProgramNotExecutable,
    ProgramNotFound,
    PtraceDenied,
    SwitchRefused,
    TraceeLost,
    TracerError,
    UsageError,
)
from sysphase.model import arg_watch, elf, syscalls
from sysphase.model import profile as prof
from sysphase.model.events import AARCH64, I386, X32, X86_64, SyscallEvent
from sysphase.model.phases import PhaseTrigger
from sysphase.model.tree import ArgValue, Count, Node, NodeEnd, NodeKind, ProcessTree

__all__ = [
    "X32_BIT",
    "Enforce",
    "Mode",
    "PhaseConfig",
    "Selection",
    "TraceResult",
    "attach",
    "trace_command",
]

X32_BIT = 0x40000000
ARCH_BY_CODE = {
    _core.ARCH_X86_64: X86_64,
    _core.ARCH_I386: I386,
    _core.ARCH_X32: X32,
    _core.ARCH_AARCH64: AARCH64,
}
_CODE_BY_ARCH = {name: code for code, name in ARCH_BY_CODE.items()}
KIND_BY_CODE = {
    _core.KIND_SPAWN: NodeKind.SPAWN,
    _core.KIND_ATTACH: NodeKind.ATTACH,
    _core.KIND_FORK: NodeKind.FORK,
    _core.KIND_VFORK: NodeKind.VFORK,
    _core.KIND_CLONE: NodeKind.CLONE,
    _core.KIND_THREAD: NodeKind.THREAD,
    _core.KIND_EXEC: NodeKind.EXEC,
}
END_BY_CODE = {
    _core.END_RUNNING: NodeEnd.RUNNING,
    _core.END_EXITED: NodeEnd.EXITED,
    _core.END_SIGNALED: NodeEnd.SIGNALED,
    _core.END_EXEC: NodeEnd.EXEC,
    _core.END_DETACHED: NodeEnd.DETACHED,
    _core.END_VANISHED: NodeEnd.VANISHED,
}

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


# --- from the core's records to the model ---------------------------------------------------


def _arch_nr(code: int, nr: int) -> tuple[str, int]:
    """The architecture name and the syscall number as the model writes it (x32: with its bit)."""
    arch = ARCH_BY_CODE.get(code, "unknown")
    return arch, nr | X32_BIT if arch == X32 else nr


def _events(batch: list[_core.Event]) -> list[SyscallEvent]:
    out = []
    for e in batch:
        arch, nr = _arch_nr(e.arch, e.nr)
        out.append(SyscallEvent(e.tid, arch, nr, e.args, e.retval, e.data, e.time_ns))
    return out


def _domain_error(err: OSError) -> Exception:
    """The domain error for the core's CoreError (by its .call, never its message text)."""
    msg = str(err.strerror or err)
    call = err.call if isinstance(err, _core.CoreError) else ""
    pid = err.pid if isinstance(err, _core.CoreError) else 0
    if call == "phase switch":
        return SwitchRefused(f"phase switch refused, the program was killed: {msg}", pid)
    if err.errno == errno.EPERM and call.startswith("PTRACE"):
        return PtraceDenied(
            f"the kernel refused to trace: {msg} (are you root, or is Yama ptrace_scope set?)"
        )
    if err.errno == errno.ESRCH:
        return TraceeLost(f"no such process: {msg}", pid or None)
    return TracerError(f"tracing failed: {msg}")


def _counts(rows: list[_core.Counter]) -> list[Count]:
    out = []
    for c in rows:
        arch, nr = _arch_nr(c.arch, c.nr)
        out.append(
            Count(
                c.node, c.phase, arch, nr, c.calls, c.errors, c.time_ns, c.unfinished, c.in_flight
            )
        )
    out.sort(key=lambda c: (c.node, c.phase, c.arch, c.nr))
    return out


def _node(i: int, n: _core.Node, images: list[tuple[str, tuple[str, ...], str]]) -> Node:
    exe, argv, build_id = images[n.image] if n.image >= 0 else ("", (), "")
    exit_arch, exit_nr = _arch_nr(n.exit_arch, n.exit_nr)
    return Node(
        i,
        n.tid,
        n.tgid,
        n.parent if n.parent >= 0 else None,
        KIND_BY_CODE[n.kind],
        exe,
        argv,
        END_BY_CODE[n.end],
        n.end_value,
        n.start_ns,
        n.end_ns,
        phases=list(n.phases) or [0],
        load_base=n.load_base,
        entry=n.entry,
        exit_nr=exit_nr if n.exit_nr >= 0 else None,
        exit_arch=exit_arch,
        build_id=build_id,
    )


def _result(raw: _core.TraceResult, attached: bool, mode: Mode) -> TraceResult:
    images = [
        (
            os.fsdecode(im.exe),
            tuple(map(os.fsdecode, im.argv.split(b"\0")[:-1] or [im.argv])),
            im.build_id,
        )
        for im in raw.images
    ]
    nodes = [_node(i, n, images) for i, n in enumerate(raw.nodes)]
    names = [(p.name, _trigger_name(p.trigger)) for p in raw.phase_names]
    argvals = [
        ArgValue(a.node, a.phase, *_arch_nr(a.arch, a.nr), a.arg, a.value) for a in raw.arg_values
    ]
    return TraceResult(
        tree=ProcessTree(nodes, _counts(raw.counts), names, argvals),
        root_status=None if raw.root_status == -1 else raw.root_status,
        interrupted=raw.interrupted,
        stops=raw.stops,
        attached=attached,
        violations=_counts(raw.violations),
        switches=raw.switches,
        switch_ns=raw.switch_ns,
        mode=mode.label,
    )


def _trigger_name(trigger: str) -> str:
    """The core writes phase-signal triggers as signal:NUMBER; show the name."""
    if trigger.startswith("signal:") and trigger[7:].isdigit():
        return "signal:" + signal.Signals(int(trigger[7:])).name
    return trigger


# --- from the caller's request to the options object ----------------------------------------


def _kinds_for_core(arg_kinds: Mapping[str, bytes] | None) -> dict[int, bytes] | None:
    if not arg_kinds:
        return None
    return {_CODE_BY_ARCH[a]: b for a, b in arg_kinds.items() if a in _CODE_BY_ARCH}


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


def _core_phases(config: PhaseConfig, program: str) -> _Phases:
    """The phase names by id and the core's triggers.

    Symbols are resolved in the trigger's program, or in PROGRAM's ELF image.
    """
    exe = os.path.realpath(program)
    names: list[tuple[str, str]] = [("start", "start")]

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
            triggers.append(CoreTrigger("syscall", pid, *scope, arch=_core.ARCH_X86_64, nr=nr))
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
    return _Filters(
        Mode.COMPLAIN if enforce.complain else Mode.ENFORCE,
        enforce.first_filter,
        filters if enforce.phase_filters else None,
        os.fsencode(exe),
        build_id.encode(),
        supervise=enforce.supervise,
    )


def _options(
    config: PhaseConfig,
    core_phases: _Phases,
    filters: _Filters,
    sink: EventSink | None,
    arg_kinds: Mapping[str, bytes] | None,
    batch: int,
) -> CoreOptions:
    """The one options object of a spawned trace."""
    return CoreOptions(
        mode=filters.mode.value,
        sink=None if sink is None else (lambda b: sink(_events(b))),
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
    )


def _run_core(target: Spawn | int, options: CoreOptions) -> _core.TraceResult:
    try:
        return _core.trace(target, options)
    except OSError as err:
        raise _domain_error(err) from err


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
) -> TraceResult:
    """Spawn argv under the tracer and follow its whole tree until it ends.

    sink, when given, receives lists of SyscallEvent (live mode); without it
    only counters are kept and no Python runs per stop.

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
    if enforce is not None and (fast or phases is not None):
        raise UsageError("recording filters and phases cannot be combined with enforcement")
    if sink is not None and (sets_only or baseline is not None):
        raise UsageError("set-only recording has no live events")
    env = dict(os.environ if env is None else env)
    path = resolve_program(argv[0], env)
    config = enforce.phases if enforce is not None else phases or PhaseConfig()
    core_phases = _core_phases(config, path)
    filters = (
        _enforcing(enforce, core_phases.names)
        if enforce is not None
        else _recording(path, config, sets_only, baseline, select)
    )
    options = _options(config, core_phases, filters, sink, arg_kinds, batch)
    envp = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()]
    raw = _run_core(Spawn(os.fsencode(path), [os.fsencode(a) for a in argv], envp), options)
    if raw.filter_errno:
        raise PolicyError(
            f"the seccomp filter could not be installed: {os.strerror(raw.filter_errno)}"
        )
    if raw.exec_errno:
        if raw.exec_errno in (errno.ENOENT, errno.ENOTDIR):
            raise ProgramNotFound(f"{argv[0]}: {os.strerror(raw.exec_errno)}")
        raise ProgramNotExecutable(f"{argv[0]}: {os.strerror(raw.exec_errno)}")
    return _result(raw, attached=False, mode=filters.mode)


def attach(
    pid: int,
    *,
    sink: EventSink | None = None,
    arg_kinds: Mapping[str, bytes] | None = None,
    batch: int = 256,
) -> TraceResult:
    """Attach to every thread of PID and trace until it ends or the tracer is interrupted.

    On SIGINT, SIGTERM or SIGHUP the tracer detaches and the process keeps running.
    """
    if pid <= 0:
        raise TraceeLost(f"invalid pid {pid}", pid)
    if not os.path.exists(f"/proc/{pid}"):
        raise TraceeLost(f"no such process: {pid}", pid)
    options = CoreOptions(
        mode=Mode.FULL.value,
        sink=None if sink is None else (lambda b: sink(_events(b))),
        batch=batch,
        arg_kinds=_kinds_for_core(arg_kinds),
    )
    return _result(_run_core(pid, options), attached=True, mode=Mode.FULL)
