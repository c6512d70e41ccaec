"""The processes this one started: what a workload driver kills when a scenario fails.

OS layer. The runner traces a scenario's program on its own thread, so the
traced program is a child of this process; a driver that gives up (a failed
step, a program past its time) SIGKILLs it, and the trace ends.
"""

from __future__ import annotations

import os
import signal
from contextlib import suppress

__all__ = ["STOP_SIGNALS", "kill_children", "quiet_thread"]

#: the signals that stop a recording: only the tracing thread may take them
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


def quiet_thread() -> None:
    """Block STOP_SIGNALS in the calling thread (a driver or watchdog, not the tracer).

    A signal sent to the process goes to a thread that does not block it; if
    that were a helper thread, the tracer would not see Ctrl-C until its run
    ended on its own.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def kill_children(name_part: str = "") -> None:
    """SIGKILL this process's children whose command name holds NAME_PART (all with "")."""
    me = str(os.getpid())
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
