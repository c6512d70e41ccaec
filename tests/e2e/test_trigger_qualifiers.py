"""Triggers that mean what the operator meant: ``@main``, ``,after=CALL``, and record's warnings.

The fixture `server` (tests/fixtures/server.c) starts worker threads that wait
in epoll_wait before its main thread binds and listens. A plain
``serve=syscall:epoll_wait`` fires in a worker, before listen: record says so
(two warnings) and serve keeps socket, bind and listen. With
``@main,after=listen`` serve starts at the main thread's wait after listen:
no warning, and neither serve nor its filter allows bind or listen, under
``run`` too.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import TRACEE_ENV, sysphase_cmd


def sysphase(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=120, env=TRACEE_ENV
    )


def _serve_calls(profile: Path) -> set[str]:
    """Every call any process made in phase serve."""
    data = json.loads(profile.read_text())
    return {
        name
        for process in data["processes"]
        for phase in process["phases"]
        if phase["name"] == "serve"
        for name in phase["syscalls"]
    }


def test_a_plain_trigger_fires_in_a_worker_before_listen_and_record_says_so(fx, tmp_path):
    prof = tmp_path / "p.json"
    rec = sysphase(
        "record", "-o", str(prof), "--phase", "serve=syscall:epoll_wait", "--", fx["server"]
    )
    assert rec.returncode == 0, rec.stderr
    warnings = [x for x in rec.stderr.splitlines() if x.startswith("sysphase: warning: ")]
    assert len(warnings) == 2, rec.stderr
    assert "not the main thread: syscall:epoll_wait@main counts" in warnings[0]
    assert (
        "started before the process called listen, so serve allows bind and listen" in (warnings[1])
    )
    assert "syscall:epoll_wait,after=listen waits for it" in warnings[1]
    assert {"bind", "listen"} <= _serve_calls(prof)


def test_main_and_after_start_serve_after_listen_under_record_and_run(fx, tmp_path):
    prof, pol = tmp_path / "p.json", tmp_path / "p.pol"
    trigger = "serve=syscall:epoll_wait@main,after=listen"
    rec = sysphase("record", "-o", str(prof), "--phase", trigger, "--", fx["server"])
    assert rec.returncode == 0, rec.stderr
    assert "warning" not in rec.stderr
    serve = _serve_calls(prof)
    assert "epoll_wait" in serve and not serve & {"socket", "bind", "listen"}
    made = sysphase("policy", "--format", "sysphase", "-o", str(pol), str(prof))
    assert made.returncode == 0, made.stderr
    (program,) = json.loads(pol.read_text())["programs"]
    phases = {p["name"]: p for p in program["phases"]}
    assert phases["serve"]["trigger"] == "syscall:epoll_wait@main,after=listen"
    allowed = {a["syscall"] for a in phases["serve"]["allowed"]}
    assert "listen" not in allowed and "bind" not in allowed
    ran = sysphase("run", "--policy", str(pol), "--", fx["server"])
    assert ran.returncode == 0, ran.stderr  # a worker's early wait did not switch it
    patched = sysphase("patch", "--policy", str(pol), fx["server"], "-o", str(tmp_path / "s"))
    assert patched.returncode == 2 and patched.stderr.count("\n") == 1
    assert "@main or after=" in patched.stderr


def test_a_bad_qualifier_is_one_sentence(fx, tmp_path):
    for spec, words in [
        ("serve=syscall:epoll_wait@worker", "the only thread a trigger names is @main"),
        ("serve=syscall:epoll_wait,after=nosuchcall", "after=nosuchcall: unknown syscall"),
        ("serve=symbol:main@main", "@main and after= go with syscall: triggers"),
    ]:
        p = sysphase("record", "-o", str(tmp_path / "x.json"), "--phase", spec, "--", fx["server"])
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and words in p.stderr, p.stderr
