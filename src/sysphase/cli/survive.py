"""Counts that survive a SIGKILL of the sysphase process the user started.

``trace`` and ``record`` split in two at once (:func:`split`):

- the *front*, the process the user started (its pid is the one a shell,
  ``timeout`` or a supervisor knows), only waits for the worker and exits
  with the worker's status. It forwards SIGINT, SIGTERM and SIGHUP that are
  sent to it alone; signals the kernel sends (a terminal's Ctrl-C or hangup,
  which reach the whole foreground process group, the worker too) are not
  forwarded, so the worker sees each of them once.
- the *worker*, its child, runs the command as before: it traces, prints,
  writes. It asks the kernel for SIGHUP when the front dies
  (``PR_SET_PDEATHSIG``), and SIGHUP is one of the signals the C core owns
  while it traces: it kills every tracee (detaches, with ``-p``) and returns
  what it counted, so ``kill -9`` of the front still ends with the summary
  (or the ``-o`` file, or the profile marked incomplete) written by the
  worker, which then exits.

Outside the C core the worker's SIGHUP handler tells a hangup for a dead
front from a real one: a real one acts as the disposition the worker had
before (default: die; ignored, under ``nohup``: nothing). With the front
gone it blocks SIGHUP and leaves one pending: the code that writes the
results, outside the core, goes on, and a trace that starts afterwards is
interrupted the moment the core installs its handler (the core unblocks its
stop signals then, and the pending one is delivered to it).

strace, for comparison: ``kill -9`` of ``strace -f -c`` loses the summary
and, without ``PTRACE_O_EXITKILL``, leaves the tracees running untraced.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType

__all__ = ["DEATH_SIGNAL", "front_gone", "front_pid", "split"]

DEATH_SIGNAL = signal.SIGHUP
"""What the worker gets when the front dies: one of the C core's stop signals."""

_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_SI_KERNEL = 0x80  # siginfo si_code of a signal the kernel sent (a terminal's ^C, hangup)
_PR_SET_PDEATHSIG = 1

_front: int | None = None
_previous_hangup: object = signal.SIG_DFL


def front_pid() -> int | None:
    """In the worker, the front's pid; None when this process did not split."""
    return _front


def front_gone() -> bool:
    """True in a worker whose front has died (it was SIGKILLed)."""
    return _front is not None and os.getppid() != _front


def split() -> None:
    """Fork into front and worker. Returns in the worker; the front never returns.

    When the fork or the death signal cannot be set up, returns in the
    original process, which then runs the command unprotected, as before.
    """
    global _front
    front = os.getpid()
    waited = {*_FORWARDED, signal.SIGCHLD}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        return
    if pid != 0:
        _wait_as_front(pid, waited)  # never returns
    import ctypes  # here: `sysphase --help` imports nothing it does not need

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(DEATH_SIGNAL), 0, 0, 0) != 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        return  # keeps working, without the watch on the front
    if os.getppid() != front:
        os._exit(128 + DEATH_SIGNAL)  # the front died before the watch was set: nothing ran yet
    _front = front
    _watch_hangups()
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _wait_as_front(worker: int, waited: set[signal.Signals]) -> None:
    """Wait for the worker, forwarding signals; exit as it did."""
    while True:
        info = signal.sigwaitinfo(waited)
        if info.si_signo != signal.SIGCHLD:
            if info.si_code != _SI_KERNEL:  # the kernel sent it to the worker as well
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker, info.si_signo)
            continue
        try:
            done, status = os.waitpid(worker, os.WNOHANG)
        except ChildProcessError:
            os._exit(1)
        if done == worker:
            _exit_like(status)


def _exit_like(status: int) -> None:
    """Exit with the worker's code, or die of the signal that killed it."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):  # SIGKILL has no disposition to set
            signal.signal(sig, signal.SIG_DFL)
        with contextlib.suppress(OSError, ValueError):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)  # a signal that does not end a process by default
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def _watch_hangups() -> None:
    global _previous_hangup
    _previous_hangup = signal.getsignal(DEATH_SIGNAL)
    signal.signal(DEATH_SIGNAL, _on_hangup)


def _on_hangup(sig: int, _frame: FrameType | None) -> None:
    """SIGHUP outside the C core (inside it, the core's own handler runs)."""
    if front_gone():
        # pending until the C core unblocks it: the next trace stops as it begins
        signal.pthread_sigmask(signal.SIG_BLOCK, {DEATH_SIGNAL})
        os.kill(os.getpid(), DEATH_SIGNAL)
        return
    previous = _previous_hangup
    if previous is signal.SIG_IGN:
        return
    if callable(previous):
        previous(sig, _frame)
        return
    signal.signal(sig, signal.SIG_DFL)  # as before the split: a hangup ends the process
    os.kill(os.getpid(), sig)
