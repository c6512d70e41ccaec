"""The only importer of sysphase._core: run or attach, and turn its tuples into the model.

OSError from the C core becomes a SysphaseError here and nowhere else.
Tracing runs on the calling thread; while it runs, waitpid(-1) in the core
also collects other children of this process that exit, so callers should not
run unrelated child processes in the same process during a trace.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from sysphase import _core
from sysphase._host import files, seccomp
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
from sysphase.model.tree import END_BY_CODE, KIND_BY_CODE, ArgValue, Count, Node, ProcessTree

X32_BIT = 0x40000000
ARCH_BY_CODE = {
    _core.ARCH_X86_64: X86_64,
    _core.ARCH_I386: I386,
    _core.ARCH_X32: X32,
    _core.ARCH_AARCH64: AARCH64,
}

EventSink = Callable[[list[SyscallEvent]], None]


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


def resolve_program(name: str, env: Mapping[str, str]) -> str:
    """Find NAME like a shell does (PATH search when it has no slash).

    Raises ProgramNotFound (127) or ProgramNotExecutable (126), naming the program.
    """
    if "/" in name:
        candidates = [name]
    else:
        path = env.get("PATH", os.defpath)
        candidates = [os.path.join(d or ".", name) for d in path.split(os.pathsep)]
    found_not_exec = None
    for cand in candidates:
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            found_not_exec = found_not_exec or cand
            continue
        if os.access(cand, os.X_OK):
            return cand
        found_not_exec = found_not_exec or cand
    if found_not_exec is not None:
        raise ProgramNotExecutable(f"{found_not_exec}: permission denied (not an executable file)")
    raise ProgramNotFound(f"{name}: command not found")


def _events(batch: list[tuple[object, ...]]) -> list[SyscallEvent]:
    out = []
    for tid, arch_code, nr, args, retval, data, time_ns in batch:
        arch = ARCH_BY_CODE.get(arch_code, "unknown")  # type: ignore[call-overload]
        if arch == X32:
            nr |= X32_BIT  # type: ignore[operator]
        out.append(SyscallEvent(tid, arch, nr, args, retval, data, time_ns))  # type: ignore[arg-type]
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


def _counts(rows: list[tuple[int, ...]]) -> list[Count]:
    out = []
    for node, phase, arch_code, nr, calls, errors, time_ns, unfinished, in_flight in rows:
        arch = ARCH_BY_CODE.get(arch_code, "unknown")
        if arch == X32:
            nr |= X32_BIT
        out.append(Count(node, phase, arch, nr, calls, errors, time_ns, unfinished, in_flight))
    out.sort(key=lambda c: (c.node, c.phase, c.arch, c.nr))
    return out


def _result(raw: dict[str, object], attached: bool) -> TraceResult:
    images = [
        (os.fsdecode(e), tuple(os.fsdecode(a) for a in av.split(b"\0")[:-1] or [av]), build_id)
        for e, av, build_id in raw["images"]
    ]  # type: ignore[attr-defined]
    nodes = []
    for i, row in enumerate(raw["nodes"]):  # type: ignore[arg-type]
        (
            tid,
            tgid,
            parent,
            image,
            kind,
            end,
            end_value,
            start,
            stop,
            base,
            entry,
            phases,
            nr,
            nr_arch,
        ) = row
        exe, argv, build_id = images[image] if image >= 0 else ("", (), "")
        nodes.append(
            Node(
                i,
                tid,
                tgid,
                parent if parent >= 0 else None,
                KIND_BY_CODE[kind],
                exe,
                argv,
                END_BY_CODE[end],
                end_value,
                start,
                stop,
                phases=list(phases) or [0],
                load_base=base,
                entry=entry,
                exit_nr=(nr | X32_BIT if nr_arch == _core.ARCH_X32 else nr) if nr >= 0 else None,
                exit_arch=ARCH_BY_CODE.get(nr_arch, "unknown"),
                build_id=build_id,
            )
        )
    counts = _counts(raw["counts"])  # type: ignore[arg-type]
    status = raw["root_status"]
    names = [(n, _trigger_name(t)) for n, t in raw["phase_names"]]  # type: ignore[attr-defined]
    argvals = [
        ArgValue(node, phase, ARCH_BY_CODE.get(code, "unknown"), nr, arg, value)
        for node, phase, code, nr, arg, value in raw["arg_values"]  # type: ignore[attr-defined]
    ]
    return TraceResult(
        tree=ProcessTree(nodes, counts, names, argvals),
        root_status=None if status == -1 else status,  # type: ignore[arg-type]
        interrupted=raw["interrupted"],  # type: ignore[arg-type]
        stops=raw["stops"],  # type: ignore[arg-type]
        attached=attached,
        violations=_counts(raw["violations"]),  # type: ignore[arg-type]
        switches=raw["switches"],  # type: ignore[arg-type]
        switch_ns=raw["switch_ns"],  # type: ignore[arg-type]
    )


def _trigger_name(trigger: str) -> str:
    """The core writes phase-signal triggers as signal:NUMBER; show the name."""
    if trigger.startswith("signal:") and trigger[7:].isdigit():
        return "signal:" + signal.Signals(int(trigger[7:])).name
    return trigger


def _kinds_for_core(arg_kinds: Mapping[str, bytes] | None) -> dict[int, bytes] | None:
    if not arg_kinds:
        return None
    codes = {v: k for k, v in ARCH_BY_CODE.items()}
    return {codes[a]: b for a, b in arg_kinds.items() if a in codes}


@dataclass(frozen=True, slots=True)
class PhaseConfig:
    """Explicit phase boundaries: sequential triggers and an optional phase signal."""

    triggers: tuple[PhaseTrigger, ...] = ()
    signal: int = 0
    signal_names: tuple[str, ...] = ()


def _core_phases(config: PhaseConfig, program: str) -> tuple[dict[str, object], list[str]]:
    """C-core arguments for the phases, and the phase names by id.

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

    triggers: list[tuple[object, ...]] = []
    for trig in config.triggers:
        pid = phase_id(trig.name, trig.spec)
        scope = os.fsencode(trig.program)
        scope_id = trig.program_id.encode()
        if trig.kind == "syscall":
            nr = syscalls.number(X86_64, trig.value)
            assert nr is not None  # parse_trigger checked it
            triggers.append(("syscall", _core.ARCH_X86_64, nr, pid, scope, scope_id))
            continue
        target = os.path.realpath(trig.program) if trig.program else exe
        if trig.kind == "addr":
            offset = int(trig.value, 0)
        else:
            try:  # a regular file, bounded: a policy may name any path as a program
                data = files.read_bytes_bounded(target, files.BINARY_LIMIT, "a program")
            except UsageError as err:
                raise UsageError(f"--phase {trig.name}={trig.spec}: {err}") from None
            try:
                offset = elf.symbol_offset(data, trig.value)
            except elf.ElfError as err:
                raise UsageError(f"--phase {trig.name}={trig.spec}: {target}: {err}") from err
        triggers.append(("breakpoint", os.fsencode(target), offset, pid, scope, scope_id))
    if config.signal:
        for name in config.signal_names:
            phase_id(name, f"signal:{config.signal}")
    args = {
        "phase_names": names,
        "triggers": triggers,
        "phase_signal": config.signal,
        "signal_names": list(config.signal_names),
    }
    return args, [n for n, _ in names]


#: Calls a recording filter never lets through without a stop: the tracer reads clone's
#: flags at its entry (thread or process).
ALWAYS_STOP: Final = frozenset({"clone", "clone3"})


@dataclass(frozen=True, slots=True)
class Selection:
    """``trace -e trace=SET``: the syscall names selected, or all but them (inverted)."""

    names: frozenset[str]
    inverted: bool = False


def _trigger_names(config: PhaseConfig) -> set[str]:
    return {t.value for t in config.triggers if t.kind == "syscall"}


def known_allow(
    phases: Sequence[prof.Phase], arch: str, never: frozenset[str] | set[str] = frozenset()
) -> dict[str, list[list[seccomp.Cond]]]:
    """The calls a known (program, phase) lets through without a stop, as libseccomp
    alternatives: its syscalls over every node (``phases``), less ``never``.

    A syscall whose arguments recording watches (sysphase.model.arg_watch) passes only
    with values already recorded for it (every combination of them, at most 64), so
    new values still stop and are recorded; without recorded values it always stops.
    """
    values: dict[str, dict[int, set[int]]] = {}
    for phase in phases:
        for key in phase.syscalls:
            key_arch, name = prof.split_key(arch, key)
            if key_arch != arch or name in never or syscalls.number(arch, name) is None:
                continue
            per_arg = values.setdefault(name, {})
            recorded = phase.arg_values.get(key, {})
            for i in arg_watch.WATCHED.get(name, ()):
                per_arg.setdefault(i, set()).update(recorded.get(str(i), ()))
    out: dict[str, list[list[seccomp.Cond]]] = {}
    for name, per_arg in sorted(values.items()):
        combos: list[list[seccomp.Cond]] = [[]]
        for i, vals in sorted(per_arg.items()):
            combos = [[*c, (i, "eq", v, 0)] for c in combos for v in sorted(vals)]
        if not per_arg:
            out[name] = []
        elif combos and len(combos) <= 64:
            out[name] = combos
    return out


def _known_filters(
    baseline: prof.Profile, config: PhaseConfig, root: str
) -> tuple[bytes, list[tuple[bytes, str, bytes]]]:
    """The root's first filter and the filter of every (program, phase) of the baseline."""
    never = set(ALWAYS_STOP) | _trigger_names(config)
    by_key: dict[tuple[str, str], list[prof.Phase]] = {}
    for node in baseline.processes:
        for ph in node.phases:
            by_key.setdefault((node.executable, ph.name), []).append(ph)
    allows = {k: known_allow(v, baseline.arch, never) for k, v in by_key.items()}
    filters = {k: seccomp.recording_filter(allow=v) for k, v in allows.items()}
    known = [(os.fsencode(exe), phase, bpf) for (exe, phase), bpf in sorted(filters.items())]
    if (root, "start") in filters:  # an ELF file: the image the exec starts
        return filters[(root, "start")], known
    # a script (its interpreter runs) or a program the baseline lacks: the baseline's own
    # root program is the best guess, but its exec must stop (it is the new program's
    # first call); at the exec the real program's filter is stacked
    roots = [n.executable for n in baseline.processes if n.parent is None]
    guess = dict(allows.get((roots[0], "start"), {})) if roots else {}
    for name in ("execve", "execveat"):
        guess.pop(name, None)
    return seccomp.recording_filter(allow=guess), known


def trace_command(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    sink: EventSink | None = None,
    arg_kinds: Mapping[str, bytes] | None = None,
    batch: int = 256,
    phases: PhaseConfig | None = None,
    seccomp_filter: bytes | None = None,
    syscall_stops: bool = True,
    complain: bool = False,
    phase_filters: Mapping[str, bytes] | None = None,
    enforce_exe: str | None = None,
    enforce_id: str = "",
    sets_only: bool = False,
    baseline: prof.Profile | None = None,
    select: Selection | None = None,
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
    when the kernel allows it (CAP_SYS_ADMIN).
    """
    env = dict(os.environ if env is None else env)
    path = resolve_program(argv[0], env)
    envp = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()]
    core_sink = None if sink is None else (lambda b: sink(_events(b)))
    config = phases or PhaseConfig()
    phase_args, phase_names = _core_phases(config, path)
    mode = "full"
    fast: dict[str, object] = {}
    if sets_only or baseline is not None or select is not None:
        if seccomp_filter is not None or complain or phase_filters:
            raise UsageError("recording filters cannot be combined with enforcement")
        if sink is not None and select is None:
            raise UsageError("set-only recording has no live events")
        fast = {"seccomp_stops": _core.STOPS_SECCOMP, "no_new_privs": False}
        if baseline is not None:
            mode = "baseline"
            seccomp_filter, known = _known_filters(baseline, config, os.path.realpath(path))
            fast |= {"known_filters": known, "unknown_filter": seccomp.recording_filter()}
        elif sets_only:
            mode = "sets"
            seccomp_filter = seccomp.recording_filter()
        else:
            assert select is not None
            mode = "filtered"
            fast["seccomp_stops"] = _core.STOPS_SECCOMP_EXIT
            if select.inverted:
                keep = _trigger_names(config) | ALWAYS_STOP
                seccomp_filter = seccomp.recording_filter(
                    allow={n: [] for n in select.names - keep}
                )
            else:
                wanted = select.names | _trigger_names(config) | ALWAYS_STOP
                seccomp_filter = seccomp.recording_filter(trace=wanted)
    try:
        raw = _core.trace(
            os.fsencode(path),
            [os.fsencode(a) for a in argv],
            envp,
            sink=core_sink,
            arg_kinds=_kinds_for_core(arg_kinds),
            batch=batch,
            arg_watch={_core.ARCH_X86_64: arg_watch.table(X86_64)},
            filter=seccomp_filter,
            syscall_stops=syscall_stops,
            complain=complain,
            phase_filters=[phase_filters.get(n, b"") for n in phase_names]
            if phase_filters
            else None,
            enforce_exe=os.fsencode(enforce_exe) if enforce_exe else b"",
            enforce_id=enforce_id.encode(),
            **phase_args,  # type: ignore[arg-type]
            **fast,  # type: ignore[arg-type]
        )
    except OSError as err:
        raise _domain_error(err) from err
    if raw["filter_errno"]:
        raise PolicyError(
            f"the seccomp filter could not be installed: {os.strerror(raw['filter_errno'])}"
        )
    exec_errno = raw["exec_errno"]
    if exec_errno:
        if exec_errno in (errno.ENOENT, errno.ENOTDIR):
            raise ProgramNotFound(f"{argv[0]}: {os.strerror(exec_errno)}")
        raise ProgramNotExecutable(f"{argv[0]}: {os.strerror(exec_errno)}")
    result = _result(raw, attached=False)
    result.mode = mode
    return result


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
    core_sink = None if sink is None else (lambda b: sink(_events(b)))
    try:
        raw = _core.trace(
            None, [], [], pid=pid, sink=core_sink, arg_kinds=_kinds_for_core(arg_kinds), batch=batch
        )
    except OSError as err:
        raise _domain_error(err) from err
    return _result(raw, attached=True)
