"""A traced service keeps its pid, its signals and its exit (sysphase._host.keep_pid).

`sysphase run` and a one-run `record` exec the program in place: the pid a
shell's `$!` or systemd's MainPID knows is the program's, a SIGTERM sent to
it is the program's own shutdown (traced, so the profile has it), and its
exit status is the program's. The fixture `service` (tests/fixtures/service.c)
shuts down on SIGTERM with a call made nowhere else (umask) and counts SIGHUPs.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import subprocess
import termios
import time
from pathlib import Path
from typing import IO

import pytest

from tests.conftest import TRACEE_ENV, alive, make_policy, sysphase_cmd, wait_gone

_started: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_leftovers():
    """A failed test leaves no program (nor, with it, its tracer) running."""
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


class Service:
    """`sysphase ARGS -- service EXTRA` with its stdout read line by line."""

    def __init__(self, args: list[str], program: str, *extra: str, **kw: object) -> None:
        self.proc = subprocess.Popen(
            sysphase_cmd(*args, "--", program, *extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=TRACEE_ENV,
            **kw,  # type: ignore[arg-type]
        )
        _started.append(self.proc)
        assert self.proc.stdout is not None
        self.out: IO[bytes] = self.proc.stdout
        self.pid = int(self.line().removeprefix("pid "))

    def line(self, timeout: float = 30.0) -> str:
        ready, _, _ = select.select([self.out], [], [], timeout)
        if not ready:
            self.proc.kill()
            pytest.fail("the service wrote no line in time")
        return self.out.readline().decode().strip()

    def tracer(self) -> int:
        """The detached tracer: the process that traces the program."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            tracer = int(_status(self.pid)["TracerPid"])
            if tracer:
                return tracer
            time.sleep(0.02)
        pytest.fail("the program is not traced")

    def end(self, timeout: float = 60.0) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)  # EOF: the tracer is done too
        return self.proc.returncode, out.decode(), err.decode()


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def _calls(profile: Path, program: str) -> dict[str, int]:
    stats = subprocess.run(
        sysphase_cmd("stats", "--json", str(profile)), capture_output=True, check=True
    )
    data = json.loads(stats.stdout)
    phases = data["programs"][os.path.realpath(program)]["phases"]
    return {name: row["calls"] for rows in phases.values() for name, row in rows.items()}


@pytest.fixture(scope="module")
def policy(fx, tmp_path_factory) -> str:
    """A policy recorded from one SIGHUP and a SIGTERM shutdown of the service."""
    d = tmp_path_factory.mktemp("service")
    prof = d / "p.json"
    svc = Service(["record", "-o", str(prof)], fx["service"])
    svc.proc.send_signal(signal.SIGHUP)
    assert svc.line() == "hup 1"
    svc.proc.send_signal(signal.SIGTERM)
    status, out, err = svc.end()
    assert (status, out) == (0, "bye\n"), err
    pol = d / "p.pol"
    make_policy(prof, pol)
    return str(pol)


@pytest.mark.parametrize("command", ["record", "run"])
def test_the_program_keeps_the_pid_and_shuts_down_cleanly(fx, policy, tmp_path, command):
    prof = tmp_path / "p.json"
    args = ["record", "-o", str(prof)] if command == "record" else ["run", "--policy", policy]
    svc = Service(args, fx["service"])
    assert svc.pid == svc.proc.pid  # the pid the caller knows is the program's
    assert _status(svc.pid)["Name"] == "service"
    tracer = svc.tracer()
    assert tracer != svc.pid and int(_status(tracer)["PPid"]) != svc.pid
    svc.proc.send_signal(signal.SIGTERM)
    status, out, err = svc.end()
    assert status == 0 and out == "bye\n", err
    assert "killed" not in err and "Traceback" not in err
    assert wait_gone([tracer]) == []
    if command == "record":
        calls = _calls(prof, fx["service"])
        assert calls["umask"] == 1  # the shutdown was traced
        assert calls["execve"] == 1  # as in a spawned run: the exec in place counts once
        assert json.loads(prof.read_text())["complete"] is True


def test_a_signal_sent_to_both_reaches_the_program_once(fx, policy):
    # systemd signals every process of the unit's cgroup: the program and its tracer
    svc = Service(["run", "--policy", policy], fx["service"])
    tracer = svc.tracer()
    os.kill(tracer, signal.SIGHUP)
    os.kill(svc.pid, signal.SIGHUP)
    assert svc.line() == "hup 1"
    os.kill(tracer, signal.SIGUSR1)  # to the tracer alone: passed on
    assert svc.line() == "usr1 1"
    time.sleep(1.2)  # anything passed on twice would have arrived by now
    os.kill(tracer, signal.SIGTERM)  # a stop for the tracer alone: passed on
    status, out, err = svc.end()
    assert (status, out) == (0, "bye\n"), err


def test_a_program_that_ignores_sigterm_is_killed_after_kill_after(fx, policy):
    svc = Service(["run", "--kill-after", "1", "--policy", policy], fx["service"], "stubborn")
    tracer = svc.tracer()
    start = time.monotonic()
    svc.proc.send_signal(signal.SIGTERM)
    status, _, err = svc.end()
    assert status == -signal.SIGKILL
    assert time.monotonic() - start >= 1.0
    assert "--kill-after" in err and "Traceback" not in err
    assert wait_gone([tracer]) == []


def test_processes_the_program_leaves_running_are_killed_after_kill_after(fx, tmp_path):
    prof = tmp_path / "p.json"
    svc = Service(["record", "--kill-after", "1", "-o", str(prof)], fx["service"], "orphan")
    child = int(svc.line().removeprefix("child "))
    svc.proc.send_signal(signal.SIGTERM)
    status, out, err = svc.end()
    assert status == 0 and out.endswith("bye\n"), err
    assert wait_gone([child]) == []  # it ignored SIGTERM, SIGINT and SIGHUP
    assert "--kill-after" in err
    assert _calls(prof, fx["service"])["umask"] == 1


def test_kill9_of_the_program_still_writes_the_profile(fx, tmp_path):
    prof = tmp_path / "p.json"
    svc = Service(["record", "--kill-after", "1", "-o", str(prof)], fx["service"], "orphan")
    child = int(svc.line().removeprefix("child "))
    tracer = svc.tracer()
    svc.proc.send_signal(signal.SIGKILL)
    status, _, err = svc.end()
    assert status == -signal.SIGKILL
    assert wait_gone([child, tracer]) == []
    assert "wrote" in err and "Traceback" not in err
    assert "fork" in _calls(prof, fx["service"]) or "clone" in _calls(prof, fx["service"])


def test_ctrl_c_on_a_terminal_reaches_the_program_once(fx, policy):
    master, slave = os.openpty()
    try:
        svc = Service(
            ["run", "--policy", policy],
            fx["service"],
            stdin=slave,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
        tracer = svc.tracer()
        assert os.getsid(tracer) != os.getsid(svc.pid)  # out of the terminal's reach
        os.write(master, b"\x03")
        status, out, err = svc.end()
    finally:
        os.close(slave)
        os.close(master)
    assert (status, out) == (0, "bye\n"), err


def test_a_program_that_cannot_start_is_one_sentence(tmp_path):
    p = subprocess.run(
        sysphase_cmd("record", "-o", str(tmp_path / "p.json"), "--", "/nonexistent/prog"),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert p.returncode == 127
    assert p.stderr.count("\n") == 1 and "/nonexistent/prog" in p.stderr
    assert not (tmp_path / "p.json").exists()


def test_the_caller_sees_the_exit_after_the_profile_exists(fx, tmp_path):
    prof = tmp_path / "p.json"
    svc = Service(["record", "-o", str(prof)], fx["service"])
    svc.proc.send_signal(signal.SIGTERM)
    assert svc.proc.wait(timeout=60) == 0
    assert prof.exists()  # written before the program was let go
    assert alive(svc.proc.pid) is False
    svc.end()
