"""The C core's failures as sysphase's errors, decided here and nowhere else.

A ``_core.CoreError`` (an ``OSError`` with ``.call`` and ``.pid``; this module
does not import the core) is mapped by its call, never by its message; a
program that could not be started (its first filter refused, or exec failed)
by the errno the core reports.
"""

from __future__ import annotations

import errno
import os

from sysphase.errors import (
    PolicyError,
    ProgramNotExecutable,
    ProgramNotFound,
    PtraceDenied,
    SwitchRefused,
    SysphaseError,
    TraceeLost,
    TracerError,
)

__all__ = ["domain_error", "start_error"]


def domain_error(err: OSError) -> Exception:
    """The domain error for the core's CoreError (by its .call, never its message text)."""
    msg = str(err.strerror or err)
    call = str(getattr(err, "call", ""))  # a _core.CoreError names its call and pid
    pid = int(getattr(err, "pid", 0))
    if call == "phase switch":
        return SwitchRefused(f"phase switch refused, the program was killed: {msg}", pid)
    if err.errno == errno.EPERM and call.startswith("PTRACE"):
        return PtraceDenied(
            f"the kernel refused to trace: {msg} (are you root, or is Yama ptrace_scope set?)"
        )
    if err.errno == errno.ESRCH:
        return TraceeLost(f"no such process: {msg}", pid or None)
    return TracerError(f"tracing failed: {msg}")


def start_error(
    command: str, filter_errno: int, exec_errno: int, landlock_errno: int = 0
) -> SysphaseError | None:
    """Why COMMAND did not start: its first Landlock ruleset or filter was refused, or exec
    failed; None if it did."""
    if landlock_errno:
        return PolicyError(
            f"the first phase's Landlock ruleset could not be applied: "
            f"{os.strerror(landlock_errno)}"
        )
    if filter_errno:
        return PolicyError(
            f"the seccomp filter could not be installed: {os.strerror(filter_errno)}"
        )
    if exec_errno in (errno.ENOENT, errno.ENOTDIR):
        return ProgramNotFound(f"{command}: {os.strerror(exec_errno)}")
    if exec_errno:
        return ProgramNotExecutable(f"{command}: {os.strerror(exec_errno)}")
    return None
