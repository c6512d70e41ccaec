"""`sysphase record`: trace a command one or more times and write a merged, phased profile.

Argument parsing and printing only: the runs, modes, stop rule and merge are
the recording driver's (sysphase.recording.plan decides, sysphase._host.recording
runs; ``--workload`` goes through sysphase.workloads.runner).
"""

from __future__ import annotations

import argparse
import signal
import sys

from sysphase._host import files, recording, tracer
from sysphase.cli import run_cmd
from sysphase.cli.phases_cmd import THRESHOLD
from sysphase.cli.progress import Progress
from sysphase.errors import UsageError
from sysphase.model import profile as prof
from sysphase.model import syscalls
from sysphase.model.phase_proposal import propose
from sysphase.model.phases import PhaseTrigger, check_distinct, check_phase_name, parse_trigger
from sysphase.recording.plan import Mode, Modes, Recording, RunReport, StopRule
from sysphase.report.escape import terminal_safe


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-o",
        dest="output",
        required=True,
        metavar="PROFILE",
        help="where to write the profile (JSON, sysphase-profile/1)",
    )
    p.add_argument(
        "--workload",
        metavar="W",
        help="record a workload's train scenarios instead of a command: ls, sqlite, redis "
        "or a scenario file (docs/workloads.md)",
    )
    p.add_argument(
        "--generated",
        type=int,
        metavar="N",
        help="with --workload: of the scenarios the workload generates (docs/workloads.md), "
        "record only N, spread evenly over them (default: all)",
    )
    p.add_argument(
        "--runs",
        type=int,
        metavar="N",
        help="run the command N times (default 1; with --until-stable, at most N, default 1000)",
    )
    p.add_argument(
        "--until-stable",
        type=int,
        metavar="K",
        help="stop once K runs in a row added no new (program, phase, syscall) "
        "(at most --runs runs)",
    )
    p.add_argument(
        "-p",
        "--pid",
        type=int,
        metavar="PID",
        help="record a running process (every thread, every later child) until Ctrl-C, "
        "SIGTERM or its end; it keeps running",
    )
    p.add_argument(
        "--phase-name",
        metavar="NAME",
        help="with -p: the phase the process is in from the attach on (default start); "
        "--phase triggers start later ones",
    )
    p.add_argument(
        "--kill-after",
        type=run_cmd.seconds,
        default=10.0,
        metavar="SECONDS",
        help="one run of a command: after the program gets SIGINT or SIGTERM, kill it and "
        "its children if they have not ended within SECONDS (default 10; 0: never)",
    )
    _add_phase_arguments(p)
    _add_mode_arguments(p)


def keeps_pid(args: argparse.Namespace) -> bool:
    """One ptrace run of a command keeps the pid (the program runs as this process)."""
    single = StopRule(args.runs, args.until_stable).max_runs == 1
    return (
        single
        and not args.workload
        and args.pid is None
        and args.backend == "ptrace"
        and not args.phases
    )


def _record_attached(args: argparse.Namespace, stop: StopRule) -> int:
    """-p PID: one recording of a running process, from now until it ends or we are stopped."""
    if args.command_argv or args.workload:
        raise UsageError("record -p takes no command after '--' and no --workload")
    if (
        stop.max_runs != 1
        or args.backend != "ptrace"
        or args.sets_only
        or args.baseline
        or args.fast
    ):
        raise UsageError(
            "record -p records one attached run in full: it takes no --runs, --until-stable, "
            "--backend ebpf, --sets-only, --baseline or --fast"
        )
    name = args.phase_name or "start"
    check_phase_name(name, "--phase-name")
    config = _config(args)
    check_distinct([*config.triggers, PhaseTrigger(name, "attach", "")])
    if args.paths:
        raise UsageError("record -p cannot record paths yet: --paths records spawned programs")
    rec = Recording(stop, Modes.full())
    with recording.interruptible(rec):
        result = tracer.attach(args.pid, phases=config, first_phase=name)
        command = list(result.tree.nodes[0].argv) if result.tree.nodes else [str(args.pid)]
        _progress(rec.add(recording.to_run(result, command)))
    _write(args.output, rec.profile)
    return 0


def _add_phase_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--phases",
        choices=("auto",),
        help="auto: record once, find the best phase trigger (as `sysphase phases`), "
        "and record again with it",
    )
    p.add_argument(
        "--phase",
        action="append",
        default=[],
        metavar="NAME=TRIGGER",
        help="a phase from a trigger on: syscall:NAME, symbol:FUNCTION or "
        "addr:0xOFFSET (repeatable, in order)",
    )
    p.add_argument(
        "--phase-signal",
        metavar="SIG",
        help="each delivery of this signal starts the next phase (swallowed)",
    )
    p.add_argument(
        "--phase-names",
        metavar="A,B,...",
        help="names for the phases the phase signal starts (default phase-1, ...)",
    )


def _add_mode_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        choices=("ptrace", "ebpf"),
        default="ptrace",
        help="ptrace (default) or ebpf: counts kept in the kernel, phases only at exec, no "
        "times, root (docs/performance.md)",
    )
    p.add_argument(
        "--sets-only",
        action="store_true",
        help="one stop per call, at its entry (a seccomp TRACE filter): syscall sets "
        "and call counts, no errors or times",
    )
    p.add_argument(
        "--baseline",
        metavar="PROFILE",
        help="calls this profile already knows for a program's phase run without a stop; "
        "the rest are recorded (the written profile includes PROFILE)",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="with --workload: stop at every call's entry and exit in every run (exact "
        "counts, errors and times; a command's runs are full by default)",
    )
    p.add_argument(
        "--fast",
        action="store_true",
        help="runs after the first know the profile so far: its calls run without a stop "
        "(sets exact over all runs, counts, errors and times from the first run only)",
    )
    p.add_argument(
        "--paths",
        action="store_true",
        help="also record the files, directories and TCP ports each phase used (for policy "
        "--landlock); every run in full",
    )


def _config(args: argparse.Namespace) -> tracer.PhaseConfig:
    triggers = tuple(parse_trigger(spec) for spec in args.phase)
    check_distinct(list(triggers))
    sig = 0
    if args.phase_signal:
        sig = syscalls.signal_number(args.phase_signal) or 0
        if sig <= 0 or sig in (signal.SIGKILL, signal.SIGSTOP):
            raise UsageError(f"--phase-signal {args.phase_signal}: not a signal that can be caught")
    names = tuple(n for n in (args.phase_names or "").split(",") if n)
    if names and not sig:
        raise UsageError("--phase-names needs --phase-signal")
    return tracer.PhaseConfig(triggers=triggers, signal=sig, signal_names=names)


def _baseline(args: argparse.Namespace) -> prof.Profile | None:
    if args.full and (args.sets_only or args.baseline or args.fast):
        raise UsageError("--full cannot be combined with --sets-only, --baseline or --fast")
    if args.paths and (args.sets_only or args.baseline or args.fast or args.backend == "ebpf"):
        raise UsageError(
            "--paths records every run in full through ptrace: it takes no --sets-only, "
            "--baseline, --fast or --backend ebpf"
        )
    return files.read_profile(args.baseline) if args.baseline else None


_warned: set[str] = set()
_shown = Progress(sys.stderr)


def _progress(report: RunReport) -> None:
    _shown.run(report.line(), bool(report.new))
    for warning in report.warnings:
        if warning not in _warned:  # once per recording, not once per run
            _warned.add(warning)
            _shown.keep(terminal_safe(warning))


def _write(path: str, profile: prof.Profile | None) -> None:
    _shown.done()
    if profile is None:
        return
    recording.write_profile(path, profile)
    _shown.keep(
        f"wrote {path}: {profile.runs} run(s)"
        + ("" if profile.complete else ", incomplete (interrupted)")
    )


def _record_auto(args: argparse.Namespace, stop: StopRule) -> int:
    """--phases auto: one full run, the best cut for its root program, then the runs asked for."""
    if args.phase or args.phase_signal or args.backend == "ebpf":
        raise UsageError(
            "--phases auto finds the trigger itself: no --phase, --phase-signal or ebpf"
        )
    first = Recording(StopRule(1, None), Modes.full())
    recording.record_command(args.command_argv, first, report=_progress)
    if first.interrupted or first.profile is None or not first.profile.processes:
        _write(args.output, first.profile)
        return first.status
    root = first.profile.processes[0].executable
    found = propose(first.profile).get(root, [])
    if not found:
        _shown.keep(f"phases auto: no useful cut for {terminal_safe(root)} ({THRESHOLD})")
        _write(args.output, first.profile)
        return first.status
    best = found[0]
    _shown.keep(
        terminal_safe(
            f"phases auto: {best.argument()} drops {len(best.dropped)}: {' '.join(best.dropped)}"
        )
    )
    config = tracer.PhaseConfig(triggers=(parse_trigger(f"serve={best.trigger}"),))
    modes = Modes(Mode.FULL) if args.fast else Modes.full(args.paths)
    rec = Recording(stop, modes, _baseline(args))
    recording.record_command(args.command_argv, rec, phases=config, report=_progress)
    _write(args.output, rec.profile)
    return rec.status


def _record_workload(args: argparse.Namespace, stop: StopRule) -> int:
    """--workload: record every train scenario; progress per scenario run on stderr."""
    from sysphase.workloads import runner

    if args.command_argv:
        raise UsageError("record --workload takes no command after '--'")
    if args.phase or args.phase_signal or args.phase_names:
        raise UsageError("record --workload takes no --phase, --phase-signal or --phase-names")
    if args.fast:
        raise UsageError(
            "record --workload is fast already (set-only, known sets); --full records it exactly"
        )
    if args.generated is not None and args.generated < 0:
        raise UsageError(f"--generated {args.generated}: expected 0 or more scenarios")
    baseline = _baseline(args)
    # set-only by default, each run knowing every earlier run's and scenario's sets
    modes = Modes.full(args.paths) if args.full or args.paths else Modes(Mode.SETS)
    rec = Recording(stop, modes, baseline)
    merged = runner.record_workload(
        args.workload, rec, _progress, args.generated, stable=args.paths
    )
    _write(args.output, merged)
    return 128 + rec.interrupted if rec.interrupted else 0


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    finally:
        _shown.done()  # an error's sentence starts on a line of its own


def _run(args: argparse.Namespace) -> int:
    stop = StopRule(args.runs, args.until_stable)
    if args.workload and args.backend == "ebpf":
        raise UsageError("record --workload records through ptrace: it takes no --backend ebpf")
    if args.generated is not None and not args.workload:
        raise UsageError("--generated needs --workload")
    if args.workload:
        return _record_workload(args, stop)
    if args.pid is not None:
        return _record_attached(args, stop)
    if args.phase_name:
        raise UsageError("--phase-name goes with -p")
    if not args.command_argv:
        raise UsageError("record needs a command after '--'")
    if args.phases:
        return _record_auto(args, stop)
    config = _config(args)
    if args.backend == "ebpf" and (
        config.triggers or config.signal or args.sets_only or args.baseline or args.fast
    ):
        raise UsageError(
            "--backend ebpf starts phases only at exec and records every run in full: it takes "
            "no --phase, --phase-signal, --sets-only, --baseline or --fast"
        )
    baseline = _baseline(args)
    if args.sets_only:  # set-only, later runs knowing the profile so far
        modes = Modes(Mode.SETS)
    elif args.fast or args.baseline:  # the first run in full, later ones known sets
        modes = Modes(Mode.FULL)
    else:  # every run in full: calls, errors and times exact over all of them
        modes = Modes.full(args.paths)
    rec = Recording(stop, modes, baseline)
    service = tracer.Service(args.kill_after) if args.keep_pid else None
    recording.record_command(
        args.command_argv,
        rec,
        phases=config,
        backend=args.backend,
        report=_progress,
        service=service,
    )
    if args.keep_pid:
        run_cmd.note_kill_after(rec.interrupted, args.kill_after)
    _write(args.output, rec.profile)
    return rec.status
