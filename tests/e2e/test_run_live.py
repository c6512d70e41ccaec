"""`sysphase run` reports each kill and violation as it happens, while the program still runs.

The fixture `respawn` (tests/fixtures/respawn.c) is a master that keeps one
worker process alive; with `bad`, each worker makes a call the recorded run
never made (umask) and is killed for it. The master never exits on its own,
so every report checked here is read while it runs.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

import pytest

from tests.conftest import TRACEE_ENV, make_policy, sysphase_cmd

KILL = re.compile(
    r"killed by seccomp: umask \(95\) in (?P<exe>\S+), phase start; pid (?P<pid>\d+), "
    r"tid (?P<tid>\d+), at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}, args \(0x3f, "
)


def _lines(stream: IO[bytes], count: int, pattern: re.Pattern[str]) -> list[re.Match[str]]:
    """The first COUNT lines of STREAM that match, within 60 s."""
    found: list[re.Match[str]] = []
    deadline = time.monotonic() + 60
    while len(found) < count:
        ready, _, _ = select.select([stream], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            pytest.fail(f"only {len(found)} of {count} lines came")
        line = stream.readline().decode()
        assert line, "the stream ended"
        m = pattern.match(line)
        if m:
            found.append(m)
    return found


@pytest.fixture(scope="module")
def policy(fx, tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("respawn")
    prof, pol = d / "p.json", d / "p.pol"
    proc = subprocess.Popen(
        sysphase_cmd("record", "-o", str(prof), "--", fx["respawn"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=TRACEE_ENV,
    )
    assert proc.stdout is not None
    _lines(proc.stdout, 3, re.compile(r"worker \d+ ended 0"))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    make_policy(prof, pol)
    return str(pol)


def test_each_kill_is_reported_while_the_master_runs(fx, policy, tmp_path):
    events = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        sysphase_cmd(
            "run", "--events", str(events), "--policy", policy, "--", fx["respawn"], "bad"
        ),
        stdout=subprocess.PIPE,  # as recorded: a pipe (a device would make stdio ask ioctl)
        stderr=subprocess.PIPE,
        env=TRACEE_ENV,
    )
    try:
        assert proc.stderr is not None
        kills = _lines(proc.stderr, 3, KILL)
        assert proc.poll() is None  # the master still runs: each kill came as it happened
        pids = {int(m["pid"]) for m in kills}
        assert len(pids) == 3 and proc.pid not in pids  # three workers, not the master
        assert all(m["exe"] == os.path.realpath(fx["respawn"]) for m in kills)
        assert all(int(m["tid"]) == int(m["pid"]) for m in kills)
        records = [json.loads(x) for x in events.read_text().splitlines()]  # flushed each
        assert len(records) >= 3
        first = records[0]
        assert first["action"] == "kill" and first["syscall"] == "umask" and first["nr"] == 95
        assert first["pid"] == int(kills[0]["pid"]) and first["args"][0] == "0x3f"
        assert first["phase"] == first["filter_phase"] == "start" and first["own_policy"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 0  # the master's own clean exit
    summary = rest.decode().splitlines()
    total = re.search(r"^sysphase: (\d+) kill\(s\) by seccomp:$", rest.decode(), re.M)
    assert total is not None and int(total[1]) >= 3
    assert summary[-1].endswith(f"respawn, phase start  umask (95)  {total[1]}")
    assert len(events.read_text().splitlines()) == int(total[1])


def test_a_complain_report_is_written_while_the_program_runs(fx, policy, tmp_path):
    report = tmp_path / "report.json"
    proc = subprocess.Popen(
        sysphase_cmd(
            "run",
            "--complain",
            "--report",
            str(report),
            "--report-every",
            "0.3",
            "--policy",
            policy,
            "--",
            fx["respawn"],
            "bad",
        ),
        stdout=subprocess.PIPE,  # as recorded: a pipe (a device would make stdio ask ioctl)
        stderr=subprocess.PIPE,
        env=TRACEE_ENV,
    )
    try:
        assert proc.stderr is not None
        _lines(proc.stderr, 2, re.compile(r"outside the policy: umask \(95\) in "))
        deadline = time.monotonic() + 30
        while not report.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None
        so_far = json.loads(report.read_text())
        assert so_far["fragment"] is True and so_far["complete"] is False
        assert "umask" in json.dumps(so_far)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    final = json.loads(report.read_text())
    assert final["complete"] is True and final["fragment"] is True
    assert re.search(r"complain: \d+ call\(s\) outside the policy", err.decode())


def test_events_is_one_sentence_when_it_cannot_be_opened(policy, fx, tmp_path):
    p = subprocess.run(
        sysphase_cmd(
            "run",
            "--events",
            str(tmp_path / "no" / "such" / "dir.jsonl"),
            "--policy",
            policy,
            "--",
            fx["respawn"],
        ),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=TRACEE_ENV,
    )
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert "--events" in p.stderr and "dir.jsonl" in p.stderr
    assert not Path(tmp_path / "no").exists()


def test_an_execd_program_without_a_policy_is_named_with_the_filter_it_ran_under(tmp_path):
    prof, pol = tmp_path / "sh.json", tmp_path / "sh.pol"
    rec = subprocess.run(
        sysphase_cmd("record", "-o", str(prof), "--", "sh", "-c", "exit 0"),
        capture_output=True,
        check=False,
    )
    assert rec.returncode == 0, rec.stderr
    made = subprocess.run(
        sysphase_cmd("policy", "-o", str(pol), str(prof)), capture_output=True, check=False
    )
    assert made.returncode == 0, made.stderr
    shell = os.path.realpath(shutil.which("sh") or "sh")
    ls = os.path.realpath(shutil.which("ls") or "ls")
    p = subprocess.run(
        sysphase_cmd("run", "--policy", str(pol), "--", "sh", "-c", "exec ls /"),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=TRACEE_ENV,
    )
    assert p.returncode == -signal.SIGSYS, p.stderr
    first = p.stderr.splitlines()[0]
    assert re.match(rf"killed by seccomp: \w+ \(\d+\) in {re.escape(ls)}, under ", first), first
    assert f", under {shell}'s filter, phase start; pid " in first
