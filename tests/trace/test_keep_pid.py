"""The core's adopt mode: a process traced by a detached tracer after it execs in place.

Each test runs a small Python driver in a process of its own (it is the process
that becomes the program): ``tracer.trace_command(..., service=Service(...))``
returns only in the tracer, which prints what it counted as JSON on stderr
and then lets the held program end (``keep_pid.finish``). Under ``make asan``
the driver inherits the sanitized build, so this covers the core's adopt
paths (seize, pre-exec run, exit hold, signals, deadline) under ASan too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.conftest import TRACEE_ENV, wait_gone

DRIVER = """
import json, os, sys
from sysphase._host import keep_pid, tracer
from sysphase.errors import SysphaseError

kill_after = float(sys.argv[1])
try:
    r = tracer.trace_command(sys.argv[2:], service=tracer.Service(kill_after))
except SysphaseError as err:
    print("error", err, file=sys.stderr)
    sys.exit(3)
calls = {}
for c in r.tree.counts:
    calls[c.nr] = calls.get(c.nr, 0) + c.calls
root = r.tree.nodes[0]
print(json.dumps({"tracer": os.getpid(), "interrupted": r.interrupted, "status": r.exit_status,
                  "end": root.end.value, "calls": calls, "nodes": len(r.tree.nodes)}),
      file=sys.stderr, flush=True)
keep_pid.finish()
"""

EXECVE, UMASK = 59, 95


def _start(*argv: str, kill_after: float = 10.0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(kill_after), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **{k: v for k, v in TRACEE_ENV.items() if k == "LC_ALL"}},
    )


def _report(err: str) -> dict[str, object]:
    lines = [line for line in err.splitlines() if line.startswith("{")]
    assert len(lines) == 1, err
    return dict(json.loads(lines[0]))


def test_the_program_execs_in_place_and_its_exit_waits_for_the_tracer(fx):
    proc = _start(fx["exit_signal"], "code", "42")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 42  # the program's own status, in the process we started
    rep = _report(err)
    assert rep["status"] == 42 and rep["end"] == "exited" and rep["interrupted"] == 0
    calls = rep["calls"]
    assert isinstance(calls, dict) and calls[str(EXECVE)] == 1  # the exec in place, once
    assert wait_gone([int(str(rep["tracer"]))]) == []


def test_the_pid_is_the_programs_and_sigterm_is_its_own(fx):
    proc = _start(fx["service"])
    assert proc.stdout is not None
    assert proc.stdout.readline() == f"pid {proc.pid}\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (0, "bye\n")
    rep = _report(err)
    calls = rep["calls"]
    assert isinstance(calls, dict) and calls[str(UMASK)] == 1  # the shutdown was traced


def test_a_stubborn_program_is_killed_at_the_deadline(fx):
    proc = _start(fx["service"], "stubborn", kill_after=0.5)
    assert proc.stdout is not None
    proc.stdout.readline()
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert time.monotonic() - start >= 0.5
    assert _report(err)["interrupted"] == signal.SIGKILL


def test_an_exec_that_fails_is_reported_by_the_process_and_the_tracer_says_nothing():
    proc = _start("/nonexistent/program")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3
    assert err.startswith("error /nonexistent/program:") and "{" not in err
