"""Interrupting the tracer: tracees die (or, attached, keep running), counts are still printed."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.conftest import TRACEE_ENV, alive, need_root, sysphase_cmd, wait_gone


def _start_ignore_term(fx, tmp_path, *extra: str) -> tuple[subprocess.Popen[bytes], list[int]]:
    out = tmp_path / "pids"
    summary = tmp_path / "summary"
    with open(out, "wb") as f:
        proc = subprocess.Popen(
            sysphase_cmd("trace", "-c", "-o", str(summary), *extra, "--", fx["ignore_term"]),
            stdout=f,
            stderr=subprocess.PIPE,
            env=os.environ.copy(),
            start_new_session=True,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        lines = out.read_text().split()
        if len(lines) == 2:
            return proc, [int(x) for x in lines]
        time.sleep(0.05)
    proc.kill()
    pytest.fail("ignore_term did not print its two pids under the tracer")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_kills_tracees_and_prints_summary(fx, tmp_path, sig):
    proc, pids = _start_ignore_term(fx, tmp_path)
    assert all(alive(p) for p in pids)
    time.sleep(0.2)  # let both reach pause()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig
    assert f"interrupted by {signal.Signals(sig).name}" in err.decode()
    assert "Traceback" not in err.decode()
    assert wait_gone(pids) == []
    summary = (tmp_path / "summary").read_text()
    assert "clone" in summary and "total" in summary  # the counts gathered so far
    assert "pause 2" in summary  # both processes were inside pause() when killed


def test_sigkill_of_tracer_kills_tracees(fx, tmp_path):
    proc, pids = _start_ignore_term(fx, tmp_path)
    proc.kill()
    proc.wait(timeout=30)
    assert wait_gone(pids) == []  # PTRACE_O_EXITKILL


def test_attach_and_detach_leaves_process_running(fx, tmp_path):
    need_root()
    sleeper = subprocess.Popen([fx["sleeper"], "30"], stdout=subprocess.PIPE, env=TRACEE_ENV)
    try:
        assert sleeper.stdout is not None
        assert sleeper.stdout.readline() == b"ready\n"
        summary = tmp_path / "summary"
        tracer = subprocess.Popen(
            sysphase_cmd("trace", "-c", "-o", str(summary), "-p", str(sleeper.pid)),
            stderr=subprocess.PIPE,
            env=os.environ.copy(),
        )
        deadline = time.monotonic() + 20
        while _tracer_pid(sleeper.pid) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        # the tracer is the worker the started process forked (cli/survive.py)
        with open(f"/proc/{tracer.pid}/task/{tracer.pid}/children") as f:
            assert _tracer_pid(sleeper.pid) == int(f.read())
        time.sleep(0.5)
        tracer.send_signal(signal.SIGINT)
        _, err = tracer.communicate(timeout=30)
        assert tracer.returncode == 130, err
        assert "detached" in err.decode()
        assert _tracer_pid(sleeper.pid) == 0
        assert _state(sleeper.pid) in ("S", "R")  # running, not left stopped
        calls = [line.split() for line in summary.read_text().splitlines() if "getppid" in line]
        assert calls and int(calls[0][3]) > 5  # it saw the sleeper's markers
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_attach_to_missing_pid_is_one_sentence():
    proc = subprocess.run(
        sysphase_cmd("trace", "-p", "999999999"), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1 and "999999999" in proc.stderr


def _status_field(pid: int, field: str) -> str:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1]
    raise AssertionError(field)


def _tracer_pid(pid: int) -> int:
    return int(_status_field(pid, "TracerPid"))


def _state(pid: int) -> str:
    return _status_field(pid, "State")


def test_no_tracee_left_stopped_after_normal_exit(fx):
    # a child that is group-stopped when its parent exits must not stay a stopped tracee
    proc = subprocess.run(
        sysphase_cmd("trace", "-c", "-o", os.devnull, "--", fx["stopcont"]),
        capture_output=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert proc.returncode == 0
