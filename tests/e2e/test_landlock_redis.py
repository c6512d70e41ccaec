"""redis-server under a two-phase policy with Landlock sections (issue 16).

Trained with `record --paths` (start-up until the first epoll_wait, then
serving), the policy's start-up phase reads the config file and binds the
port; the serving phase may write only the data directory: SAVE and BGSAVE
work, and after `CONFIG SET dir` to another directory SAVE fails (Landlock
refuses the new file there; seccomp allows every call it makes). Under
`sysphase run` and as a `sysphase patch`ed binary. Same port and data
directory in training and under the policy, as a deployed server has; the
workload's own test scenarios run enforced with `validate --enforce` in the
stable layout. Needs Landlock ABI 4 (TCP ports); the machine's kernel has 7.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import TRACEE_ENV, sysphase_cmd
from tests.e2e.test_record import _free_port, _redis
from tests.e2e.test_run_redis import _server
from tests.landlock_helpers import need_landlock


def _wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(OSError):
            if _redis(port, "PING") == b"+PONG\r\n":
                return
        assert proc.poll() is None, "redis-server exited early"
        assert time.monotonic() < deadline, "redis-server did not answer"
        time.sleep(0.1)


def _bgsave(port: int) -> bytes:
    started = _redis(port, "BGSAVE")
    deadline = time.monotonic() + 30
    while b"rdb_bgsave_in_progress:0" not in _redis(port, "INFO", "persistence"):
        assert time.monotonic() < deadline, "BGSAVE did not finish"
        time.sleep(0.1)
    return started + _redis(port, "INFO", "persistence")


def _drive(port: int, data: Path, elsewhere: Path | None) -> dict[str, bytes]:
    """SET, SAVE, BGSAVE, CONFIG SET dir (to DATA in training, then ELSEWHERE), SAVE."""
    replies = {
        "set": _redis(port, "SET", "greeting", "hello"),
        "save": _redis(port, "SAVE"),
        "bgsave": _bgsave(port),
        "dir-same": _redis(port, "CONFIG", "SET", "dir", str(data)),
        "save-again": _redis(port, "SAVE"),
    }
    if elsewhere is not None:
        replies["dir-elsewhere"] = _redis(port, "CONFIG", "SET", "dir", str(elsewhere))
        replies["save-elsewhere"] = _redis(port, "SAVE")
        replies["dir-back"] = _redis(port, "CONFIG", "SET", "dir", str(data))
        replies["save-back"] = _redis(port, "SAVE")
    with contextlib.suppress(OSError):
        _redis(port, "SHUTDOWN", "NOSAVE")
    return replies


def _serve(argv: list[str], conf: Path, port: int, data: Path, elsewhere: Path | None):
    """Start ARGV + [CONF] (a server), drive it, shut it down: (exit status, replies, stderr)."""
    proc = subprocess.Popen(
        [*argv, str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=TRACEE_ENV,
    )
    try:
        _wait_up(port, proc)
        replies = _drive(port, data, elsewhere)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    return proc.returncode, replies, stderr


@pytest.fixture()
def trained(tmp_path: Path) -> tuple[Path, int, Path, Path, Path]:
    """redis.conf, its port, its data directory, another directory, its Landlock policy."""
    _server()
    need_landlock()
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    data.mkdir()
    elsewhere.mkdir()
    port = _free_port()
    conf = tmp_path / "redis.conf"
    conf.write_text(
        f'port {port}\nbind 127.0.0.1\ndir {data}\nsave ""\nappendonly no\n'
        'daemonize no\nlogfile ""\nenable-protected-configs yes\n'
    )
    profile, policy = tmp_path / "redis.json", tmp_path / "redis.pol"
    rec = ["record", "--paths", "--phase", "serve=syscall:epoll_wait", "-o", str(profile)]
    code, trained, err = _serve(sysphase_cmd(*rec, "--", _server()), conf, port, data, None)
    assert code == 0, err
    assert trained["dir-same"] == b"+OK\r\n" and trained["save-again"] == b"+OK\r\n"
    made = subprocess.run(
        sysphase_cmd("policy", "--landlock", "-o", str(policy), str(profile)),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    for old in data.iterdir():
        old.unlink()
    return conf, port, data, elsewhere, policy


def _writes_only_its_data(replies: dict[str, bytes], data: Path, elsewhere: Path) -> None:
    assert replies["set"] == b"+OK\r\n" and replies["save"] == b"+OK\r\n"
    assert b"rdb_last_bgsave_status:ok" in replies["bgsave"]
    assert replies["dir-elsewhere"] == b"+OK\r\n"  # chdir: not a Landlock access
    assert replies["save-elsewhere"].startswith(b"-ERR")
    assert not list(elsewhere.iterdir())
    assert replies["save-back"] == b"+OK\r\n" and (data / "dump.rdb").exists()


def test_redis_serving_phase_writes_only_its_data_directory(
    trained: tuple[Path, int, Path, Path, Path],
) -> None:
    conf, port, data, elsewhere, policy = trained
    prog = next(
        p
        for p in json.loads(policy.read_text())["programs"]
        if p["executable"] == os.path.realpath(_server())
    )
    start, serve = (ph["landlock"] for ph in prog["phases"])
    covered = {r["path"] for r in start["rules"]}
    assert str(conf) in covered or str(conf.parent) in covered  # start-up reads its config
    assert port in start["bind_tcp"] and port not in serve["bind_tcp"]
    writable = [r["path"] for r in serve["rules"] if "make_reg" in r["rights"]]
    assert writable == [str(data)]
    run = sysphase_cmd("run", "--policy", str(policy), "--", _server())
    code, replies, err = _serve(run, conf, port, data, elsewhere)
    assert code == 0, err
    assert "killed" not in err
    _writes_only_its_data(replies, data, elsewhere)


def test_patched_redis_writes_only_its_data_directory(
    tools: None, trained: tuple[Path, int, Path, Path, Path]
) -> None:
    """The same policy through `sysphase patch`: the guard applies the rulesets itself."""
    conf, port, data, elsewhere, policy = trained
    patched = conf.parent / "redis-patched"
    made = subprocess.run(
        sysphase_cmd("patch", "--policy", str(policy), _server(), "-o", str(patched)),
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    code, replies, err = _serve([str(patched)], conf, port, data, elsewhere)
    assert code == 0, err
    _writes_only_its_data(replies, data, elsewhere)


def test_redis_workload_policy_with_landlock_serves_the_test_scenarios(tmp_path: Path) -> None:
    """The workload's train scenarios recorded with --paths (in the stable layout: one data
    directory and one port set), then its test scenarios under the enforced policy, Landlock
    rules included: every check passes, nothing is killed. A serving phase without its data
    directory fails the scenarios that write there (the rules are really applied)."""
    _server()
    need_landlock()
    profile, policy = tmp_path / "redis.json", tmp_path / "redis.pol"
    rec = subprocess.run(
        sysphase_cmd("record", "--workload", "redis", "--paths", "--generated", "0",
                     "-o", str(profile)),
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert rec.returncode == 0, rec.stderr[-2000:]
    made = subprocess.run(
        sysphase_cmd("policy", "--landlock", "-o", str(policy), str(profile)),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    checked = subprocess.run(
        sysphase_cmd("validate", "--enforce", "--workload", "redis", "--policy", str(policy)),
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 failed or killed" in checked.stdout

    doc = json.loads(policy.read_text())
    serve = doc["programs"][0]["phases"][1]["landlock"]
    serve["rules"] = [r for r in serve["rules"] if "sysphase-stable" not in r["path"]]
    narrowed = tmp_path / "narrowed.pol"
    narrowed.write_text(json.dumps(doc))
    checked = subprocess.run(
        sysphase_cmd("validate", "--enforce", "--workload", "redis", "--policy", str(narrowed)),
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert checked.returncode == 1 and "BGREWRITEAOF" in checked.stdout
