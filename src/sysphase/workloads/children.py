"""The processes this one started: what a workload driver kills when a scenario fails.

OS layer. The runner traces a scenario's program on its own thread, so the
traced program is a child of this process; a driver that gives up (a failed
step, a program past its time) SIGKILLs it, and the trace ends.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

__all__ = ["STOP_SIGNALS", "kill_children", "quiet_thread", "watchdog"]

#: the signals that stop a recording: only the tracing thread may take them
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


def quiet_thread() -> None:
    """Block STOP_SIGNALS in the calling thread (a driver, not the tracer).

    A signal sent to the process goes to a thread that does not block it; if
    that were a helper thread, the tracer would not see Ctrl-C until its run
    ended on its own.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


@contextmanager
def watchdog(seconds: float) -> Iterator[Callable[[], bool]]:
    """Within: after SECONDS, this process's children are SIGKILLed.

    Yields a function that says, once the block has ended, whether it fired.

    The watchdog is a grandchild, orphaned at once (its parent exits and is
    reaped here before the block runs), so no waitpid of ours sees it; it is
    SIGKILLed when the block ends. It writes one byte to a pipe when it fires.
    """
    me = os.getpid()
    fired_r, fired_w = os.pipe()
    pid_r, pid_w = os.pipe()
    middle = os.fork()
    if middle == 0:  # pragma: no cover - runs in the forked processes
        try:
            dog = os.fork()
            if dog == 0:
                # nothing of ours held open (a pipe's reader would wait for our stderr)
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.closerange(3, fired_w)
                os.closerange(fired_w + 1, os.sysconf("SC_OPEN_MAX"))
                signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
                time.sleep(seconds)
                os.write(fired_w, b"x")
                _kill_children_of(str(me))
                os._exit(0)
            os.write(pid_w, str(dog).encode())
        finally:
            os._exit(0)
    os.close(fired_w)
    os.close(pid_w)
    os.waitpid(middle, 0)
    dog = int(os.read(pid_r, 32) or b"0")
    os.close(pid_r)
    fired = [False]
    try:
        yield lambda: fired[0]
    finally:
        if dog > 0:
            with suppress(ProcessLookupError):
                os.kill(dog, signal.SIGKILL)
        ready, _, _ = select.select([fired_r], [], [], 0)
        fired[0] = bool(ready) and os.read(fired_r, 1) == b"x"
        os.close(fired_r)


def kill_children(name_part: str = "") -> None:
    """SIGKILL this process's children whose command name holds NAME_PART (all with "")."""
    _kill_children_of(str(os.getpid()), name_part)


def _kill_children_of(me: str, name_part: str = "") -> None:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        name, fields = stat[: stat.rfind(")")], stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1] == me and name_part in name:
            with suppress(ProcessLookupError):
                os.kill(int(entry), signal.SIGKILL)
