"""redis-server under a two-phase policy recorded from a workload (start-up / serving)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import IN_CI, TRACEE_ENV, sysphase_cmd
from tests.e2e.test_record import _free_port, _redis


def _server() -> str:
    server = shutil.which("redis-server")
    if server is None:
        msg = "redis-server is not installed (apt-get install redis-server); CI installs it"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return server


def _workload(port: int, proc: subprocess.Popen[bytes]) -> dict[str, bytes]:
    """Wait for the server, drive it (data, BGSAVE), shut it down; return some replies."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if _redis(port, "PING") == b"+PONG\r\n":
                break
        except OSError:
            pass
        assert proc.poll() is None, "redis-server exited early"
        assert time.monotonic() < deadline, "redis-server did not answer"
        time.sleep(0.1)
    replies = {
        "set": _redis(port, "SET", "greeting", "hello"),
        "get": _redis(port, "GET", "greeting"),
        "incr": _redis(port, "INCR", "counter"),
        "bgsave": _redis(port, "BGSAVE"),
    }
    deadline = time.monotonic() + 30
    while b"rdb_bgsave_in_progress:0" not in _redis(port, "INFO", "persistence"):
        assert time.monotonic() < deadline, "BGSAVE did not finish"
        time.sleep(0.1)
    replies["persistence"] = _redis(port, "INFO", "persistence")
    with contextlib.suppress(OSError):
        _redis(port, "SHUTDOWN", "NOSAVE")
    proc.wait(timeout=60)
    return replies


def _start(args: list[str], port: int, d: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        sysphase_cmd(
            *args,
            "--",
            _server(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(d),
            "--save",
            "",
            "--appendonly",
            "no",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=TRACEE_ENV,
    )


def test_redis_serves_under_its_two_phase_policy(tmp_path):
    _server()
    port = _free_port()
    profile, policy = tmp_path / "redis.json", tmp_path / "redis.pol"
    proc = _start(
        ["record", "-o", str(profile), "--phase", "serve=syscall:epoll_wait"], port, tmp_path
    )
    try:
        _workload(port, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    p = subprocess.run(
        sysphase_cmd("policy", str(profile), "-o", str(policy)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    pol = json.loads(policy.read_text())
    exe = os.path.realpath(_server())
    prog = next(x for x in pol["programs"] if x["executable"] == exe)
    phases = {ph["name"]: {a["syscall"] for a in ph["allowed"]} for ph in prog["phases"]}
    assert {"execve", "listen", "bind"} <= phases["start"]
    assert not {"execve", "listen", "bind"} & phases["serve"]

    (tmp_path / "dump.rdb").unlink(missing_ok=True)
    port = _free_port()
    proc = _start(["run", "--policy", str(policy)], port, tmp_path)
    try:
        replies = _workload(port, proc)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    assert replies["set"] == b"+OK\r\n" and replies["get"] == b"$5\r\nhello\r\n"
    assert replies["bgsave"] == b"+Background saving started\r\n"
    # the fork child saved under the serving filter it inherited
    assert b"rdb_last_bgsave_status:ok" in replies["persistence"]
    assert (tmp_path / "dump.rdb").exists()
    assert proc.returncode == 0, stderr
    assert "killed by seccomp" not in stderr
