"""redis-server as its own test suite starts it, under `record` and then `run`.

redis's test harness starts the server, reads its pid from the server's log,
pings it, and shuts it down with SIGTERM, expecting the clean-shutdown line.
Under sysphase the pid in the log must be the one the harness started (the
program keeps the pid), the SIGTERM must be the server's own shutdown (not a
kill), and the recording must contain that shutdown (the pid file's unlink).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import TRACEE_ENV, make_policy, sysphase_cmd
from tests.e2e.test_record import _free_port, _redis
from tests.e2e.test_run_redis import _server

BYE = "Redis is now ready to exit, bye bye..."


def _wait_log(log: Path, pattern: str, proc: subprocess.Popen[bytes]) -> re.Match[str]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text() if log.exists() else "")
        if found:
            return found
        assert proc.poll() is None, "redis-server exited early"
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"redis-server's log never showed {pattern!r}")


def _harness(args: list[str], d: Path) -> tuple[int, str]:
    """Start, read the pid from the log, ping, SIGTERM; the exit status and the log."""
    port, log, pidfile = _free_port(), d / "redis.log", d / "redis.pid"
    server = [
        _server(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d),
        "--save", "", "--appendonly", "no", "--logfile", str(log), "--pidfile", str(pidfile),
    ]  # fmt: skip
    proc = subprocess.Popen(
        sysphase_cmd(*args, "--", *server),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=TRACEE_ENV,
    )
    try:
        pid = int(_wait_log(log, r"pid=(\d+), just started", proc).group(1))
        assert pid == proc.pid  # the pid the harness started is the server's
        _wait_log(log, "Ready to accept connections", proc)
        assert _redis(port, "PING") == b"+PONG\r\n"
        assert int(pidfile.read_text()) == proc.pid
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "killed" not in err.decode() and "Traceback" not in err.decode(), err
    assert not pidfile.exists()  # the server removed it: a clean shutdown
    return proc.returncode, log.read_text()


def test_redis_records_and_runs_as_its_harness_expects(tmp_path):
    prof, pol = tmp_path / "r.json", tmp_path / "r.pol"
    (tmp_path / "rec").mkdir()
    status, log = _harness(["record", "-o", str(prof)], tmp_path / "rec")
    assert status == 0 and BYE in log
    stats = subprocess.run(
        sysphase_cmd("stats", "--json", str(prof)), capture_output=True, check=True
    )
    (program,) = json.loads(stats.stdout)["programs"].values()
    seen = {name for rows in program["phases"].values() for name in rows}
    assert "unlink" in seen  # the pid file's removal: the shutdown was recorded
    make_policy(prof, pol)
    (tmp_path / "run").mkdir()
    status, log = _harness(["run", "--policy", str(pol)], tmp_path / "run")
    assert status == 0 and BYE in log
