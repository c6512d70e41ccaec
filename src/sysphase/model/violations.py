"""One seccomp kill or complain-mode violation, as ``sysphase run`` sees it happen.

The C core reports each as it happens (csrc/violations.c); sysphase._host.core_records
turns its records into :class:`ViolationEvent`, and sysphase.report.violation_lines
prints them.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ViolationEvent"]


@dataclass(frozen=True, slots=True)
class ViolationEvent:
    """A call a filter refused (``killed``) or, in complain mode, would have refused."""

    time_ns: int  #: CLOCK_MONOTONIC when the tracer saw it
    pid: int
    tid: int
    program: str  #: the process's executable ("" if unknown)
    build_id: str  #: its GNU build-id ("" if none)
    phase: str  #: the process's phase (its label)
    filter_phase: str  #: the phase whose filter it ran under (its label)
    arch: str
    nr: int
    syscall: str
    args: tuple[int, ...]  #: the six raw argument registers
    killed: bool
