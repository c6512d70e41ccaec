"""What `sysphase run` prints for each seccomp kill and complain-mode violation, and at exit.

One line per event, as it happens (time, pid, tid, program, phase, syscall name
and number, the raw arguments); the same as one JSON object per line for
``--events FILE``; and at exit the kills per (program, phase, syscall). A process
whose program has no entry of its own in the policy ran under the filter of the
program that started it, and its line says so: ``in /usr/bin/xz, under
/usr/bin/tar's filter, phase start``. Pure: the caller prints and writes.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sysphase.model.violations import ViolationEvent
from sysphase.report.escape import terminal_safe

__all__ = ["Key", "Reporter", "json_record", "key", "line", "summary"]


@dataclass(frozen=True, slots=True)
class Reporter:
    """How lines name programs and times for one run."""

    #: the policy's programs (real paths) and their build-ids
    programs: Collection[str]
    build_ids: Collection[str]
    #: the program whose filter a process without an entry of its own runs under
    root: str
    #: add to a CLOCK_MONOTONIC time (ns) to get the wall-clock time (ns)
    clock_offset_ns: int

    def known(self, event: ViolationEvent) -> bool:
        """Whether the event's program has an entry of its own in the policy."""
        return event.program in self.programs or (
            bool(event.build_id) and event.build_id in self.build_ids
        )

    def where(self, event: ViolationEvent) -> str:
        """``/usr/bin/x, phase serve`` or ``/usr/bin/xz, under /usr/bin/tar's filter, ...``."""
        program = event.program or "an unknown program"
        if self.known(event) or not event.program:
            return f"{program}, phase {event.filter_phase}"
        return f"{program}, under {self.root}'s filter, phase {event.filter_phase}"

    def wall_time(self, event: ViolationEvent) -> str:
        """Local time with milliseconds, as a log line shows it."""
        ns = event.time_ns + self.clock_offset_ns
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns // 1_000_000_000))
        return f"{stamp}.{ns // 1_000_000 % 1000:03d}"


def _call(event: ViolationEvent) -> str:
    name = event.syscall if event.arch == "x86_64" else f"{event.syscall} [{event.arch}]"
    return f"{name} ({event.nr})"


def line(reporter: Reporter, event: ViolationEvent) -> str:
    """``killed by seccomp: socket (41) in /usr/bin/x, phase serve; pid 7, tid 8, ...``."""
    what = "killed by seccomp" if event.killed else "outside the policy"
    args = ", ".join(f"{a:#x}" for a in event.args)
    text = (
        f"{what}: {_call(event)} in {reporter.where(event)}; pid {event.pid}, tid {event.tid}, "
        f"at {reporter.wall_time(event)}, args ({args})"
    )
    return terminal_safe(text)


def json_record(reporter: Reporter, event: ViolationEvent) -> dict[str, Any]:
    """The event as one ``--events`` JSON line (arguments as hex strings, like strace's)."""
    return {
        "time": reporter.wall_time(event),
        "action": "kill" if event.killed else "complain",
        "pid": event.pid,
        "tid": event.tid,
        "program": event.program,
        "build_id": event.build_id,
        "own_policy": reporter.known(event),
        "phase": event.phase,
        "filter_phase": event.filter_phase,
        "arch": event.arch,
        "syscall": event.syscall,
        "nr": event.nr,
        "args": [f"{a:#x}" for a in event.args],
    }


#: what the exit summary counts: (killed, where, call)
Key = tuple[bool, str, str]


def key(reporter: Reporter, event: ViolationEvent) -> Key:
    """The summary row an event counts in."""
    return event.killed, reporter.where(event), _call(event)


def summary(counts: Mapping[Key, int]) -> list[str]:
    """At exit: the kills per (program, phase, syscall), most first. (Complain mode's summary
    comes from the core's exact counters: sysphase.cli.run_cmd.)"""
    rows = [(k, n) for k, n in counts.items() if k[0]]
    if not rows:
        return []
    rows.sort(key=lambda kn: (-kn[1], kn[0]))
    out = [f"sysphase: {sum(n for _, n in rows)} kill(s) by seccomp:"]
    out.extend(terminal_safe(f"  {where}  {call}  {n}") for (_, where, call), n in rows)
    return out
