"""`sysphase run -p PID`: a running process sandboxed without a restart, against the real kernel.

The fixture `service` (tests/fixtures/service.c) is recorded through one
SIGHUP and a SIGTERM shutdown; its SIGUSR2 path (getpgrp) is never recorded,
so the policy refuses it. Started untraced, the service is then given the
policy's filter by `run -p`: every thread gets it (the kernel's filter count
says so), what was recorded still works, and SIGUSR2 gets it killed.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import TRACEE_ENV, make_policy, sysphase_cmd


def sysphase(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=120, env=TRACEE_ENV
    )


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def _record(fx: dict[str, str], d, *phase: str) -> str:
    prof, pol = d / "p.json", d / "p.pol"
    proc = subprocess.Popen(
        sysphase_cmd("record", *phase, "-o", str(prof), "--", fx["service"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=TRACEE_ENV,
    )
    assert proc.stdout is not None and proc.stdout.readline().startswith(b"pid ")
    proc.send_signal(signal.SIGHUP)
    assert proc.stdout.readline() == b"hup 1\n"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return make_policy(prof, pol)


@pytest.fixture(scope="module")
def policy(fx, tmp_path_factory) -> str:
    return _record(fx, tmp_path_factory.mktemp("attach"))


def _start(program: str, *args: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([*prefix, program, *args], stdout=subprocess.PIPE, env=TRACEE_ENV)
    assert proc.stdout is not None and proc.stdout.readline().startswith(b"pid ")
    return proc


def test_a_running_service_gets_its_filter_in_place(fx, policy):
    svc = _start(fx["service"])
    try:
        assert _status(svc.pid)["Seccomp"] == "0"
        p = sysphase("run", "-p", str(svc.pid), "--policy", policy)
        assert p.returncode == 0, p.stderr
        assert p.stderr.endswith("runs under phase start's filter; detached, the filter stays\n")
        st = _status(svc.pid)
        assert (st["Seccomp"], st["Seccomp_filters"], st["TracerPid"]) == ("2", "1", "0")
        assert svc.stdout is not None
        svc.send_signal(signal.SIGHUP)  # recorded: allowed
        assert svc.stdout.readline() == b"hup 1\n"
        svc.send_signal(signal.SIGUSR2)  # never recorded: getpgrp is refused
        assert svc.wait(timeout=60) == -signal.SIGSYS
    finally:
        if svc.poll() is None:
            svc.kill()
            svc.wait()


def test_later_phases_are_followed_before_detaching(fx, tmp_path):
    pol = _record(fx, tmp_path, "--phase", "serve=syscall:rt_sigsuspend")
    svc = _start(fx["service"])
    try:
        p = sysphase("run", "-p", str(svc.pid), "--phase", "start", "--policy", pol)
        assert p.returncode == 0, p.stderr
        assert "runs under phase start's filter; 1 later phase(s) followed; detached" in p.stderr
        # its wait, restarted after the attach, fired serve's trigger before any other call:
        # the one switch installed serve's filter (phases narrow: start's adds nothing)
        assert _status(svc.pid)["Seccomp_filters"] == "1"
        svc.send_signal(signal.SIGTERM)
        assert svc.wait(timeout=60) == 0  # the recorded shutdown, under serve's filter
    finally:
        if svc.poll() is None:
            svc.kill()
            svc.wait()


def test_what_cannot_take_a_filter_is_refused_in_one_sentence(fx, policy):
    # a shell waiting for its child (respawn's workers come and go: 50 ms without one)
    master = subprocess.Popen(["sh", "-c", "sleep 60; exit 0"], env=TRACEE_ENV)
    other = subprocess.Popen(["sleep", "60"])
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv (util-linux) is needed"
    nobody = _start(
        fx["service"],
        prefix=(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"),
    )
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split():
            assert time.monotonic() < deadline, "the shell started no child"
            time.sleep(0.01)
        cases = [
            (master.pid, "has child processes"),
            (other.pid, "is not a program of this policy"),
            (nobody.pid, "has neither no_new_privs nor CAP_SYS_ADMIN"),
            (999999999, "no such process"),
        ]
        for pid, words in cases:
            p = sysphase("run", "-p", str(pid), "--policy", policy)
            assert p.returncode == 2 and p.stderr.count("\n") == 1, (pid, p.stderr)
            assert words in p.stderr, p.stderr
            if pid != 999999999:
                assert _status(pid)["Seccomp"] == "0"  # untouched
    finally:
        for proc in (master, other, nobody):
            proc.kill()
            proc.wait()
