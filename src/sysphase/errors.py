"""The one exception hierarchy of sysphase.

OSError from the C core becomes one of these in a single place
(sysphase._host.tracer); sysphase.cli.main alone turns them into one sentence
on stderr and an exit code.
"""

from __future__ import annotations


class SysphaseError(Exception):
    """Base of every error sysphase reports to a user. str() is one sentence."""

    exit_code = 1


class UsageError(SysphaseError):
    """The command line or an input file is wrong."""

    exit_code = 2


class ProgramNotFound(SysphaseError):
    """The program to trace does not exist (exit 127, like a shell)."""

    exit_code = 127


class ProgramNotExecutable(SysphaseError):
    """The program to trace exists but cannot be executed (exit 126, like a shell)."""

    exit_code = 126


class PtraceDenied(SysphaseError):
    """The kernel refused ptrace (permissions, Yama, another tracer)."""


class TraceeLost(SysphaseError):
    """A traced process vanished in a way the tracer could not follow."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class TracerError(SysphaseError):
    """A system call of the tracer itself failed."""


class ProfileInvalid(SysphaseError):
    """A profile file is corrupt, of another version, or has a bad field (names file and path)."""


class PolicyInvalid(SysphaseError):
    """A policy file is corrupt, of another version, or has a bad field (names file and path)."""


class PolicyError(SysphaseError):
    """A policy cannot be generated, compiled or installed."""


class SwitchRefused(SysphaseError):
    """An enforcing phase switch could not be made or verified; the program was killed.

    The message says why (a filter of the program answered seccomp(), a thread died or
    did not stop, a process runs untraced, ...); ``pid`` is the switching thread.
    """

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class PatchError(SysphaseError):
    """A binary cannot be patched: a tool is missing, or gcc or patchelf failed."""


class WorkloadError(SysphaseError):
    """A scenario did not behave as its file says (exit status or output); names the scenario."""


class BackendUnavailable(SysphaseError):
    """A tracing backend cannot run here: a missing capability, tool or kernel feature (named)."""


class AuditSourceError(SysphaseError):
    """The kernel's audit records cannot be read from a source (dmesg, the journal, a file)."""
