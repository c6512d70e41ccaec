"""`sysphase record`: trace a command one or more times and write a merged, phased profile."""

from __future__ import annotations

import argparse
import signal
import sys
from types import FrameType

from sysphase._host import files, tracer
from sysphase.errors import UsageError
from sysphase.model import profile as prof
from sysphase.model import syscalls
from sysphase.model.phases import check_distinct, parse_trigger


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
        "--runs",
        type=int,
        metavar="N",
        help="run the command N times (default 1; with --until-stable, at most N, default 1000)",
    )
    p.add_argument(
        "--until-stable",
        type=int,
        metavar="K",
        help="stop once K runs in a row found no new syscall (at most --runs runs)",
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
        help="stop at every call's entry and exit in every run (exact counts, errors "
        "and times); by default runs after the first use the profile so far as baseline",
    )


class _Stop(Exception):
    def __init__(self, sig: int) -> None:
        super().__init__(sig)
        self.sig = sig


def _raise_stop(sig: int, _frame: FrameType | None) -> None:
    raise _Stop(sig)


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


def _keys(p: prof.Profile) -> set[tuple[str, str, str]]:
    return {(n.executable, ph.name, k) for n in p.processes for ph in n.phases for k in ph.syscalls}


def _record_workload(args: argparse.Namespace) -> int:
    """--workload: record every train scenario; progress per scenario run on stderr."""
    from sysphase.workloads import runner

    if args.command_argv:
        raise UsageError("record --workload takes no command after '--'")
    if args.phase or args.phase_signal or args.phase_names:
        raise UsageError("record --workload takes no --phase, --phase-signal or --phase-names")
    if args.full and (args.sets_only or args.baseline):
        raise UsageError("--full cannot be combined with --sets-only or --baseline")
    baseline = files.read_profile(args.baseline) if args.baseline else None

    def progress(scenario: str, k: int, new: list[str]) -> None:
        shown = ", ".join(new[:8]) + (", ..." if len(new) > 8 else "")
        print(
            f"scenario {scenario}, run {k}: {len(new)} new syscalls"
            + (f" ({shown})" if new else ""),
            file=sys.stderr,
        )

    runs = args.runs or (1 if args.until_stable is None else 1000)
    latest: list[prof.Profile] = []
    status = 0
    old = {s: signal.signal(s, _raise_stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        merged: prof.Profile | None = runner.record_workload(
            args.workload,
            runs,
            args.until_stable,
            progress,
            latest.append,
            sets_only=not args.full,
            baseline=baseline,
        )
    except runner.WorkloadInterrupted as stop:
        merged, status = stop.partial, 128 + stop.sig
    except (_Stop, KeyboardInterrupt) as stop:
        status = 128 + (stop.sig if isinstance(stop, _Stop) else signal.SIGINT)
        merged = latest[-1] if latest else None
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if merged is not None:
        if status:
            merged = prof.Profile(merged.command, merged.arch, merged.runs, False, merged.processes)
        files.write_atomic(args.output, prof.encode(merged))
        print(
            f"wrote {args.output}: {merged.runs} run(s)"
            + ("" if merged.complete else ", incomplete (interrupted)"),
            file=sys.stderr,
        )
    return status


def run(args: argparse.Namespace) -> int:
    if args.runs is not None and args.runs < 1:
        raise UsageError(f"--runs {args.runs}: must be at least 1")
    if args.until_stable is not None and args.until_stable < 1:
        raise UsageError(f"--until-stable {args.until_stable}: must be at least 1")
    if args.workload and args.backend == "ebpf":
        raise UsageError("record --workload records through ptrace: it takes no --backend ebpf")
    if args.workload:
        return _record_workload(args)
    if not args.command_argv:
        raise UsageError("record needs a command after '--'")
    runs = args.runs or (1 if args.until_stable is None else 1000)
    config = _config(args)
    if args.backend == "ebpf" and (
        config.triggers or config.signal or args.sets_only or args.baseline
    ):
        raise UsageError(
            "--backend ebpf starts phases only at exec: it takes no --phase, --phase-signal, "
            "--sets-only or --baseline"
        )
    if args.full and (args.sets_only or args.baseline):
        raise UsageError("--full cannot be combined with --sets-only or --baseline")
    merged: prof.Profile | None = files.read_profile(args.baseline) if args.baseline else None
    stable = 0
    status = 0
    old = {s: signal.signal(s, _raise_stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        for k in range(1, runs + 1):
            if args.backend == "ebpf":
                from sysphase._host import ebpf

                result = ebpf.trace_command(args.command_argv)
                ebpf.warn_lost(result)
            else:
                result = tracer.trace_command(
                    args.command_argv,
                    phases=config,
                    sets_only=args.sets_only,
                    baseline=None if args.full else merged,
                )
            one = prof.from_tree(
                result.tree, args.command_argv, "x86_64", complete=not result.interrupted
            )
            new = _keys(one) - (_keys(merged) if merged else set())
            merged = one if merged is None else prof.merge(merged, one)
            names = sorted({k[2] for k in new})
            total = "" if args.until_stable is not None and args.runs is None else f" of {runs}"
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            print(
                f"run {k}{total}: {len(names)} new syscalls" + (f" ({shown})" if names else ""),
                file=sys.stderr,
            )
            status = result.exit_status
            if result.interrupted:
                status = 128 + result.interrupted
                break
            stable = 0 if new and k > 1 else stable + (k > 1)
            if args.until_stable is not None and stable >= args.until_stable:
                break
    except (_Stop, KeyboardInterrupt) as stop:
        status = 128 + (stop.sig if isinstance(stop, _Stop) else signal.SIGINT)
        if merged is not None:
            merged = prof.Profile(merged.command, merged.arch, merged.runs, False, merged.processes)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if merged is not None:
        files.write_atomic(args.output, prof.encode(merged))
        print(
            f"wrote {args.output}: {merged.runs} run(s)"
            + ("" if merged.complete else ", incomplete (interrupted)"),
            file=sys.stderr,
        )
    return status
