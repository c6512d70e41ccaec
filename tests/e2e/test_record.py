"""`sysphase record`, `stats`, `merge`, `diff` end to end, and redis-server's phases."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from tests.conftest import IN_CI, TRACEE_ENV, sysphase_cmd


def sysphase(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=timeout, env=TRACEE_ENV
    )


def load(path) -> dict:
    return json.loads(path.read_text())


def test_record_runs_merge_and_progress(fx, tmp_path):
    out = tmp_path / "p.json"
    p = sysphase(
        "record",
        "-o",
        str(out),
        "--runs",
        "3",
        "--full",  # exact counts in every run (later runs would otherwise use a baseline)
        "--phase",
        "serve=syscall:getpid",
        "--",
        fx["phases"],
        "syscall",
    )
    assert p.returncode == 0, p.stderr
    assert "run 1 of 3:" in p.stderr and "run 3 of 3: 0 new syscalls" in p.stderr
    data = load(out)
    assert data["format"] == "sysphase-profile/1" and data["runs"] == 3 and data["complete"]
    s = json.loads(sysphase("stats", "--json", str(out)).stdout)
    phases = s["programs"][fx["phases"]]["phases"]
    assert phases["start"]["getppid"]["calls"] == 6
    assert phases["serve"]["getppid"]["calls"] == 3 * (3 + 5)
    assert s["totals"]["getpid"]["calls"] == 3


def test_until_stable_stops(fx, tmp_path):
    out = tmp_path / "p.json"
    p = sysphase("record", "-o", str(out), "--until-stable", "2", "--", fx["markers"], "1", "0")
    assert p.returncode == 0
    assert load(out)["runs"] == 3  # run 1 finds everything, runs 2 and 3 nothing new


def test_merge_and_diff(fx, tmp_path):
    a, b, m = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "m.json"
    assert sysphase("record", "-o", str(a), "--", fx["markers"], "1", "0").returncode == 0
    assert sysphase("record", "-o", str(b), "--", fx["markers"], "1", "2").returncode == 0
    assert sysphase("merge", "-o", str(m), str(a), str(b)).returncode == 0
    merged = json.loads(sysphase("stats", "--json", str(m)).stdout)
    assert merged["totals"]["fchdir"] == {**merged["totals"]["fchdir"], "calls": 2, "errors": 2}
    assert merged["totals"]["getppid"]["calls"] == 2
    d = sysphase("diff", str(a), str(b))
    assert d.returncode == 0 and "fchdir" in d.stdout


def test_interrupted_record_writes_incomplete_profile(fx, tmp_path):
    out = tmp_path / "p.json"
    proc = subprocess.Popen(
        # several runs; one run would keep the pid: SIGTERM is then the program's (test_service)
        sysphase_cmd("record", "--runs", "2", "-o", str(out), "--", fx["sleeper"], "30"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=TRACEE_ENV,
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM
    data = load(out)
    assert data["complete"] is False
    assert "getppid" in json.dumps(data)


@pytest.mark.parametrize(
    "args",
    [
        ["record", "-o", "x.json", "--phase", "bad", "--", "true"],
        ["record", "-o", "x.json", "--phase-signal", "SIGNOPE", "--", "true"],
        ["stats", "/nonexistent/profile.json"],
    ],
)
def test_bad_input_is_one_sentence(args, tmp_path):
    p = subprocess.run(
        sysphase_cmd(*args),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=TRACEE_ENV,
    )
    assert p.returncode != 0
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


def test_corrupt_profile_names_file_and_path(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"format": "sysphase-profile/1", "command": [], "arch": "x86_64", '
        '"runs": -1, "complete": true, "processes": []}'
    )
    p = sysphase("stats", str(bad))
    assert p.returncode != 0
    assert str(bad) in p.stderr and "$.runs" in p.stderr and p.stderr.count("\n") == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis(port: int, *cmd: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        parts = [f"*{len(cmd)}\r\n".encode()]
        for c in cmd:
            parts.append(f"${len(c)}\r\n{c}\r\n".encode())
        s.sendall(b"".join(parts))
        return s.recv(4096)


def test_redis_serving_phase_drops_socket_setup(tmp_path):
    server = shutil.which("redis-server")
    if server is None:
        msg = "redis-server is not installed (apt-get install redis-server); CI installs it"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    port = _free_port()
    out = tmp_path / "redis.json"
    proc = subprocess.Popen(
        sysphase_cmd(
            "record",
            "-o",
            str(out),
            "--phase",
            "serve=syscall:epoll_wait",
            "--",
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(tmp_path),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=TRACEE_ENV,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _redis(port, "PING") == b"+PONG\r\n":
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not answer under record"
            time.sleep(0.1)
        for i in range(50):
            assert _redis(port, "SET", f"k{i}", "v" * i) == b"+OK\r\n"
        assert _redis(port, "GET", "k3") == b"$3\r\nvvv\r\n"
        with contextlib.suppress(OSError):  # the server closes without a reply
            _redis(port, "SHUTDOWN", "NOSAVE")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stats = json.loads(sysphase("stats", "--json", str(out)).stdout)
    phases = stats["programs"][os.path.realpath(server)]["phases"]
    start, serve = set(phases["start"]), set(phases["serve"])
    assert {"socket", "bind", "listen"} <= start
    assert not {"socket", "bind", "listen", "execve"} & serve
    assert {"epoll_wait", "read", "write"} <= serve
