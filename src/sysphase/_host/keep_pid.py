"""Keep the pid: the traced program becomes the process the user started.

A shell's ``$!``, systemd's MainPID, ``timeout`` and ``kill`` know the pid of
the ``sysphase run`` (or ``record``) command. For a service that pid must be
the program's: a signal sent to it reaches the program, and its exit is the
program's exit. So ``run`` and a one-run ``record`` do not spawn the program
in a child; this process hands itself over:

1. the sysphase process forks a child that forks the tracer and exits, so the
   tracer is no child of the program (which must not find an unknown child
   to wait for) and, after ``setsid``, in none of its process groups (a
   terminal's Ctrl-C reaches the program once, directly);
2. this process lets the tracer trace it (``PR_SET_PTRACER``, for Yama's
   ptrace_scope 1) and waits; the tracer seizes it (``_core.trace`` with an
   :class:`Adopt` target, ``PTRACE_O_EXITKILL``) and says so on a pipe;
3. this process execs the program in place (``_core.exec_program``: signals
   as a shell leaves them, the first filter installed first, as a spawned
   child would);
4. the tracer traces the program as a spawned one, with a service's
   signal rules (csrc/service.c): it holds the program at its exit, the
   caller writes the results, then :func:`finish` lets it go, so whoever
   waits for the pid sees it end after the profile or report exists.

:func:`trace_in_place` returns only in the tracer; this process execs or
raises. Limits: sysphase's own errors after the exec can only be printed
(the exit status is the program's), and the tracer's output goes to the
stderr this process had.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys

from sysphase import _core
from sysphase._host.core_errors import domain_error, start_error
from sysphase._host.core_options import Adopt, CoreOptions, Spawn
from sysphase.errors import TracerError

__all__ = ["finish", "held_pid", "trace_in_place"]

_INT = struct.Struct("i")

#: in the tracer: the program's pid, held at its exit until finish()
_held: int | None = None


def held_pid() -> int | None:
    """In the tracer, the pid of the program it traces in place; None elsewhere."""
    return _held


def _read_int(fd: int) -> int | None:
    data = b""
    while len(data) < _INT.size:
        chunk = os.read(fd, _INT.size - len(data))
        if not chunk:
            return None
        data += chunk
    return int(_INT.unpack(data)[0])


def trace_in_place(spawn: Spawn, options: CoreOptions, command: str) -> _core.TraceResult:
    """Exec SPAWN in this process, traced with OPTIONS by a detached tracer; see the module."""
    program = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    to_program_r, to_program_w = os.pipe()
    to_tracer_r, to_tracer_w = os.pipe()
    child = os.fork()
    if child == 0:  # the middle process: fork the tracer, tell its pid, go
        os.close(to_program_r)
        os.close(to_tracer_w)
        try:
            tracer = os.fork()
        except OSError:
            os._exit(1)
        if tracer != 0:
            os.write(to_program_w, _INT.pack(tracer))
            os._exit(0)
        return _tracer(program, options, to_tracer_r, to_program_w)
    os.close(to_program_w)
    os.close(to_tracer_r)
    try:
        os.waitpid(child, 0)
        tracer_pid = _read_int(to_program_r)
        if tracer_pid is None:
            raise TracerError("the tracer process could not be started")
        _core.allow_tracer(tracer_pid)  # EINVAL without Yama: nothing to allow
        os.write(to_tracer_w, b"g")
        seized = _read_int(to_program_r)
    finally:
        os.close(to_tracer_w)
    os.close(to_program_r)
    if seized is None:
        raise TracerError("the tracer process ended before it could trace this one")
    if seized != 0:
        raise domain_error(_core.CoreError(seized, os.strerror(seized)))
    stage, err = _core.exec_program(spawn, options)
    failure = start_error(
        command, err if stage == 1 else 0, err if stage == 2 else 0, err if stage == 3 else 0
    )
    raise failure or TracerError(f"{command}: exec returned")


def _tracer(program: int, options: CoreOptions, go_fd: int, ready_fd: int) -> _core.TraceResult:
    """In the tracer: wait for leave to trace, seize the program, trace it to its end."""
    global _held
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    if os.read(go_fd, 1) != b"g":
        os._exit(0)  # the sysphase process went away before it handed itself over
    os.close(go_fd)
    _held = program
    try:
        raw = _core.trace(Adopt(program, ready_fd), options)
    except OSError as err:
        if isinstance(err, _core.CoreError) and err.call == "PTRACE_SEIZE" and err.pid == program:
            os._exit(1)  # the sysphase process reports it, and exits
        raise domain_error(err) from err
    finally:
        os.close(ready_fd)
    if not raw.images:
        os._exit(0)  # the program never started: the sysphase process said why
    return raw


def finish() -> None:
    """In the tracer: let the held program end (its results are written). Elsewhere: nothing."""
    global _held
    if _held is not None:
        with contextlib.suppress(OSError):
            sys.stdout.flush()
            sys.stderr.flush()
        _core.release(_held)
        _held = None
