"""`kill -9` of the sysphase process: the summary, -o file or profile is still written.

The process the user starts is a front that waits; its child traces
(cli/survive.py). SIGKILL of the front makes the kernel send the child
SIGHUP, on which the C core kills every tracee and returns its counts. The
tracees here (`forever`) ignore SIGINT, SIGTERM and SIGHUP: only the
tracer's SIGKILL ends them.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import IO

import pytest

from tests.conftest import TRACEE_ENV, alive, need_root, sysphase_cmd, wait_gone


def _wait_pids(path: Path, count: int, proc: subprocess.Popen[bytes]) -> list[int]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        lines = path.read_text().split()
        if len(lines) == count:
            return [int(x) for x in lines]
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"forever did not print {count} pids under the tracer")


def _start(
    tmp_path: Path, args: list[str], *, stderr: int | IO[bytes] = subprocess.PIPE, **kw: object
) -> tuple[subprocess.Popen[bytes], list[int]]:
    pids = tmp_path / "pids"
    with open(pids, "wb") as out:
        proc = subprocess.Popen(
            sysphase_cmd(*args),
            stdout=out,
            stderr=stderr,
            env=os.environ.copy(),
            start_new_session=True,
            **kw,  # type: ignore[arg-type]
        )
    found = _wait_pids(pids, int(args[-1]), proc)
    time.sleep(0.3)  # some markers
    return proc, found


def _tracer_of(front: int) -> int:
    """The worker: the front's only child."""
    with open(f"/proc/{front}/task/{front}/children") as f:
        (child,) = f.read().split()
    return int(child)


def _getppid_calls(summary: str) -> int:
    rows = [line.split() for line in summary.splitlines() if line.endswith(" getppid")]
    assert len(rows) == 1, summary
    return int(rows[0][3])


def _killed_front(proc: subprocess.Popen[bytes], pids: list[int]) -> str:
    tracer = _tracer_of(proc.pid)
    assert alive(tracer)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=30)  # stderr closes when the tracer has finished too
    assert proc.returncode == -signal.SIGKILL
    assert wait_gone([tracer]) == []
    assert wait_gone(pids) == []  # the tracer killed them: they ignore every other signal
    text = err.decode() if err else ""
    assert "Traceback" not in text
    return text


def test_kill9_trace_c_still_writes_the_summary_file(fx, tmp_path):
    summary = tmp_path / "summary"
    proc, pids = _start(tmp_path, ["trace", "-c", "-o", str(summary), "--", fx["forever"], "3"])
    err = _killed_front(proc, pids)
    text = summary.read_text()
    assert text.count("total") == 1
    assert _getppid_calls(text) > 3  # the counts so far, from all three processes
    assert "clone" in text
    assert f"process {proc.pid} (the sysphase command) was killed" in err
    assert "killed every traced process" in err


def test_kill9_trace_c_prints_the_summary_on_stderr(fx, tmp_path):
    err_file = tmp_path / "stderr"
    with open(err_file, "wb") as err_out:
        proc, pids = _start(tmp_path, ["trace", "-c", "--", fx["forever"], "2"], stderr=err_out)
    _killed_front(proc, pids)
    err = err_file.read_text()
    assert _getppid_calls(err) > 2
    assert err.count("total") == 1


def test_kill9_record_writes_a_profile_marked_incomplete(fx, tmp_path):
    # several runs: a front and a worker (one run keeps the pid instead: test_service.py)
    out = tmp_path / "p.json"
    args = ["record", "--runs", "2", "-o", str(out), "--", fx["forever"], "2"]
    proc, pids = _start(tmp_path, args)
    err = _killed_front(proc, pids)
    assert "incomplete" in err
    profile = json.loads(out.read_text())
    assert profile["complete"] is False
    text = json.dumps(profile)
    assert "getppid" in text and "clone" in text


def test_sigterm_to_the_front_is_passed_on_once(fx, tmp_path):
    summary = tmp_path / "summary"
    proc, pids = _start(tmp_path, ["trace", "-c", "-o", str(summary), "--", fx["forever"], "2"])
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM  # as before the split: the tracer's status
    assert err.decode().count("interrupted by SIGTERM") == 1
    assert "was killed" not in err.decode()
    assert wait_gone(pids) == []
    assert summary.read_text().count("total") == 1


def test_ctrl_c_on_a_terminal_gives_one_summary(fx, tmp_path):
    # ^C on a terminal reaches the whole foreground group: front, tracer and tracees
    master, slave = os.openpty()
    summary = tmp_path / "summary"
    err_file = tmp_path / "stderr"
    try:
        with open(err_file, "wb") as err_out:
            proc, pids = _start(
                tmp_path,
                ["trace", "-c", "-o", str(summary), "--", fx["forever"], "2"],
                stderr=err_out,
                stdin=slave,
                preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
            )
        os.write(master, b"\x03")
        proc.wait(timeout=30)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 130
    assert wait_gone(pids) == []
    err = err_file.read_text()
    assert err.count("interrupted by SIGINT") == 1, err
    assert summary.read_text().count("total") == 1


@pytest.mark.parametrize(("argv", "status"), [(["code", "42"], 42), (["15"], 128 + 15)])
def test_exit_status_passes_through_the_front(fx, argv, status):
    proc = subprocess.run(
        sysphase_cmd("trace", "-c", "-o", os.devnull, "--", fx["exit_signal"], *argv),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == status, proc.stderr
    assert proc.stderr == b""


def test_kill9_while_attached_detaches_and_writes_the_summary(fx, tmp_path):
    need_root()
    sleeper = subprocess.Popen([fx["sleeper"], "30"], stdout=subprocess.PIPE, env=TRACEE_ENV)
    try:
        assert sleeper.stdout is not None
        assert sleeper.stdout.readline() == b"ready\n"
        summary = tmp_path / "summary"
        proc = subprocess.Popen(
            sysphase_cmd("trace", "-c", "-o", str(summary), "-p", str(sleeper.pid)),
            stderr=subprocess.PIPE,
            env=os.environ.copy(),
        )
        deadline = time.monotonic() + 20
        while _status_field(sleeper.pid, "TracerPid") == "0" and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        assert "detached from every traced process" in err.decode()
        assert _getppid_calls(summary.read_text()) > 5
        assert _status_field(sleeper.pid, "TracerPid") == "0"
        assert _status_field(sleeper.pid, "State") in ("S", "R")  # running, not left stopped
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def _status_field(pid: int, field: str) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1]
    raise AssertionError(field)


WINDOW_SCRIPT = """
import os, signal, sys, time
from sysphase.cli import survive
from sysphase._host import tracer

survive.split()  # from here on, the worker
os.kill(os.getppid(), signal.SIGKILL)  # the front dies before any trace began
time.sleep(0.3)  # its SIGHUP arrives here, outside the C core
r = tracer.trace_command([sys.argv[1], "1"])
print("interrupted", r.interrupted, "front gone", survive.front_gone(), file=sys.stderr)
"""


def test_a_front_killed_before_the_trace_began_still_stops_it(fx, tmp_path):
    pids = tmp_path / "pids"
    with open(pids, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", WINDOW_SCRIPT, fx["forever"]],
            stdout=out,
            stderr=subprocess.PIPE,
            env=os.environ.copy(),
            start_new_session=True,
        )
        _, err = proc.communicate(timeout=30)  # EOF: the worker is done too
    assert proc.returncode == -signal.SIGKILL
    assert err.decode().strip() == f"interrupted {int(signal.SIGHUP)} front gone True"
    traced = [int(x) for x in pids.read_text().split()]
    assert len(traced) <= 1 and wait_gone(traced) == []
