"""The recording driver's OS part: run the recordings a plan asks for, and stop on a signal.

:class:`sysphase.recording.plan.Recording` decides each run's mode, when to
stop and what to merge; this module runs the runs. :func:`trace` is the one
place recording calls the tracer (the run's mode becomes the tracer's
set-only or known-set options); :func:`to_run` turns a traced run into the
plan's :class:`Run`; :func:`drive` loops until the plan stops;
:func:`interruptible` turns SIGTERM, SIGHUP and Ctrl-C that arrive between
traced runs into the end of the recording (during a traced run the C core
owns those signals and returns what it counted, marked interrupted).
:func:`record_command` is the whole of ``record -- CMD``; ``record
--workload`` (sysphase.workloads.runner) drives one series per scenario.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from types import FrameType

from sysphase._host import files, tracer
from sysphase.model import profile as prof
from sysphase.model.profile_build import from_tree
from sysphase.model.profile_codec import encode
from sysphase.model.profile_runs import stamp
from sysphase.model.timeline import of_tree
from sysphase.model.trigger_warnings import trigger_warnings
from sysphase.recording.plan import Mode, Recording, Run, RunMode, RunReport

__all__ = [
    "Report",
    "RunOnce",
    "drive",
    "interruptible",
    "record_command",
    "to_run",
    "trace",
    "write_profile",
]

#: run_once(mode): trace one run in that mode
RunOnce = Callable[[RunMode], Run]
#: report(progress of one run)
Report = Callable[[RunReport], None]

#: The signals that end a recording between runs (SIGINT arrives as KeyboardInterrupt).
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class _Stop(Exception):
    def __init__(self, sig: int) -> None:
        super().__init__(sig)
        self.sig = sig


def _raise_stop(sig: int, _frame: FrameType | None) -> None:
    raise _Stop(sig)


@contextmanager
def interruptible(rec: Recording) -> Iterator[None]:
    """Within: SIGTERM, SIGHUP or Ctrl-C end the block and the recording, marked interrupted.

    The profile so far stays in ``rec`` (marked incomplete); other exceptions
    pass. The previous handlers are restored on the way out.
    """
    old = {s: signal.signal(s, _raise_stop) for s in _STOP_SIGNALS}
    try:
        yield
    except (_Stop, KeyboardInterrupt) as stop:
        rec.interrupt(stop.sig if isinstance(stop, _Stop) else signal.SIGINT)
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def trace(
    argv: Sequence[str],
    mode: RunMode,
    *,
    phases: tracer.PhaseConfig | None = None,
    env: Mapping[str, str] | None = None,
    service: tracer.Service | None = None,
) -> tracer.TraceResult:
    """Record one run of argv through ptrace, in ``mode`` (docs/performance.md)."""
    return tracer.trace_command(
        argv,
        env=env,
        phases=phases,
        sets_only=mode.mode is Mode.SETS,
        baseline=mode.baseline,
        service=service,
        paths=mode.paths,
    )


def _trace_ebpf(argv: Sequence[str], mode: RunMode) -> tracer.TraceResult:
    """Record one run of argv with the eBPF backend (every run in full: it has no fast paths)."""
    from sysphase._host import ebpf

    if mode.mode is not Mode.FULL:
        raise ValueError(f"the eBPF backend records in full, not {mode.mode.value}")
    result = ebpf.trace_command(argv)
    ebpf.warn_lost(result)
    return result


def to_run(result: tracer.TraceResult, command: Sequence[str], mode: RunMode | None = None) -> Run:
    """One traced run as the plan takes it; its profile is incomplete if it was interrupted.

    ``mode``: the run's (None: full, as ``record -p`` and the eBPF backend
    record); the profile says it, with each call's count if the run was full
    (sysphase.model.profile_runs), and a known-set run's baseline tells the
    trigger warnings which calls ran without a stop.
    """
    paths = mode.paths if mode is not None else None
    profile = from_tree(
        result.tree, command, "x86_64", complete=not result.interrupted, paths=paths
    )
    how = mode.mode.value if mode is not None else Mode.FULL.value
    profile = stamp(profile, how)
    profile = replace(profile, timelines=(of_tree(result.tree, profile.arch, how),))
    known = mode.baseline if mode is not None else None
    warnings = tuple(trigger_warnings(result.tree, result.fires, known))
    return Run(profile, result.exit_status, result.interrupted, warnings)


def drive(rec: Recording, run_once: RunOnce, report: Report | None = None) -> None:
    """Run ``run_once`` in the mode ``rec`` asks for until it stops; report each run."""
    while (mode := rec.next_mode()) is not None:
        progress = rec.add(run_once(mode))
        if report is not None:
            report(progress)


def record_command(
    argv: Sequence[str],
    rec: Recording | None = None,
    *,
    phases: tracer.PhaseConfig | None = None,
    backend: str = "ptrace",
    report: Report | None = None,
    service: tracer.Service | None = None,
) -> Recording:
    """``record -- argv``: the runs ``rec`` plans (default: one, in full); returns ``rec``.

    Its ``profile`` is the merged profile (None if interrupted before any
    run), its ``status`` the exit status to give. With ``service`` (one run)
    the program keeps this process's pid and only its tracer returns
    (sysphase._host.keep_pid).
    """
    rec = rec if rec is not None else Recording()

    def run_once(mode: RunMode) -> Run:
        if backend == "ebpf":
            return to_run(_trace_ebpf(argv, mode), argv)  # full: the eBPF backend's one mode
        return to_run(trace(argv, mode, phases=phases, service=service), argv, mode)

    with interruptible(rec):
        drive(rec, run_once, report)
    return rec


def write_profile(path: str, profile: prof.Profile) -> None:
    """Write the profile atomically (``-``: stdout)."""
    files.write_atomic(path, encode(profile))
