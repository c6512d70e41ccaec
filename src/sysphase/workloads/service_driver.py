"""What the nginx and memcached drivers share: a thread that plays steps against a traced server.

The runner traces the server on its own thread while a :class:`ServiceDriver`
thread waits for the server's port, plays the scenario's steps (the driver's
own kind, pauses, signals to the server) and stops it with a signal: the
last step's, or the driver's default (nginx: SIGQUIT, a graceful shutdown;
memcached: SIGTERM). No child processes: the tracer's ``waitpid(-1)`` would
collect them. The server is found in /proc as the process running the
program in the scenario's folder (its working directory) whose parent does
not; it is signalled directly, whatever sysphase's own pid is. On a failure,
or when the server does not exit within :data:`STEP_TIMEOUT` of its stop
signal, every process of the server is SIGKILLed so the trace ends, and
``error`` names the step and what went wrong.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import Generic, Protocol, TypeVar

from sysphase.workloads import children

__all__ = ["POLL", "STEP_TIMEOUT", "ServiceDriver", "server_pids"]

#: seconds a step (or the server's start, or its exit after the stop signal) may take
STEP_TIMEOUT = 60.0
#: between two tries of the port
POLL = 0.05


class _Step(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def seconds(self) -> float: ...
    @property
    def signal(self) -> str: ...


S = TypeVar("S", bound=_Step)


class _Gone(Exception):
    """The server exited before it answered."""


def server_pids(program: str, folder: str) -> list[int]:
    """The processes running PROGRAM (a real path) with FOLDER as working directory, root first.

    The root is the one whose parent is not among them (nginx's master; the
    workers follow). This process itself never counts.
    """
    folder = os.path.realpath(folder)
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.readlink(f"/proc/{entry}/exe") != program:
                continue
            if os.readlink(f"/proc/{entry}/cwd") != folder:
                continue
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        parents[int(entry)] = int(stat[stat.rfind(")") + 2 :].split()[1])
    return sorted(parents, key=lambda pid: (parents[pid] in parents, pid))


class ServiceDriver(threading.Thread, Generic[S]):
    """Plays ``steps`` against the server on ``port``; ``error`` holds the first failure.

    Subclasses implement :meth:`play` (one step of their own kind: the problem or
    None), :meth:`describe` and :meth:`close`.
    """

    #: the exceptions of the driver's client that fail a step (besides OSError)
    errors: tuple[type[Exception], ...] = ()

    def __init__(
        self,
        steps: Sequence[S],
        port: int,
        program: str,
        folder: str,
        stops: Mapping[str, bool],
        fill: Callable[[str], str],
    ) -> None:
        """STOPS: the signals steps may send, each with whether the server exits on it.

        The first one the server exits on stops it when the steps did not.
        """
        super().__init__(name=f"sysphase-{os.path.basename(program)}-driver", daemon=True)
        self.steps = steps
        self.port = port
        self.program = os.path.realpath(program)
        self.folder = folder
        self.stops = stops
        self.fill = fill
        self.error: str | None = None
        self.finished = threading.Event()  # set by the runner when the trace has ended
        #: (CLOCK_MONOTONIC ns, description) as each step began, in order
        self.steps_began: list[tuple[int, str]] = []

    def play(self, step: S) -> str | None:
        raise NotImplementedError

    def describe(self, step: S) -> str:
        raise NotImplementedError

    def close(self) -> None:
        """Close the connections the steps opened."""

    def run(self) -> None:
        children.quiet_thread()
        name = os.path.basename(self.program)
        caught: tuple[type[Exception], ...] = (OSError, _Gone, *self.errors)
        where = ""
        try:
            self._wait_for_port()
            for i, step in enumerate(self.steps, 1):
                where = f"step {i} ({self.describe(step)}): "
                self.steps_began.append((time.monotonic_ns(), self.describe(step)))
                problem = self._step(step)
                if problem is not None:
                    self.error = where + problem
                    break
            where = ""
            last = self.steps[-1] if self.steps else None
            if self.error is None and not (
                last and last.kind == "signal" and self.stops[last.signal]
            ):
                self.error = self._signal(next(k for k, exits in self.stops.items() if exits))
            if self.error is None and not self.finished.wait(STEP_TIMEOUT):
                self.error = f"{name} did not exit within {STEP_TIMEOUT:.0f} s of its stop signal"
        except caught as err:
            self.error = self.error or f"{where}talking to {name}: {err or type(err).__name__}"
        finally:
            self.close()
            if self.error is not None:
                self._kill()

    def _step(self, step: S) -> str | None:
        if step.kind == "sleep":
            time.sleep(step.seconds)
            return None
        if step.kind == "signal":
            return self._signal(step.signal)
        return self.play(step)

    def _signal(self, name: str) -> str | None:
        pids = server_pids(self.program, self.folder)
        if not pids:
            return f"no {os.path.basename(self.program)} process to send SIG{name} to"
        os.kill(pids[0], getattr(signal, f"SIG{name}"))
        return None

    def _wait_for_port(self) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT
        while not self.finished.is_set():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=STEP_TIMEOUT).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"nothing answered on port {self.port} within {STEP_TIMEOUT:.0f} s"
                    ) from None
                time.sleep(POLL)
        raise _Gone(f"{os.path.basename(self.program)} exited before it answered")

    def _kill(self) -> None:
        for pid in server_pids(self.program, self.folder):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
