"""Phases found automatically from timelines: `sysphase phases` and `record --phases auto`.

Real recordings: redis-server serving a few commands (the proposal must drop
socket, bind, listen and execve from the serving phase), the fixture server
whose worker threads wait before its main thread listens (the proposal must
not cut before the listen), and ls (only cuts past the documented threshold).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time

from sysphase.workloads import redis_driver, resp
from tests.conftest import TRACEE_ENV, sysphase_cmd


def sysphase(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=300, env=TRACEE_ENV
    )


def _proposals(profile) -> dict[str, list[dict]]:
    out = sysphase("phases", "--json", str(profile))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["proposals"]


def test_redis_serving_phase_drops_its_setup(tmp_path):
    assert shutil.which("redis-server"), "redis-server is not installed (.ci/run installs it)"
    prof, port = tmp_path / "redis.json", redis_driver.free_port()
    rec = subprocess.Popen(
        sysphase_cmd("record", "-o", str(prof), "--", "redis-server", "--port", str(port),
                     "--save", "", "--dir", str(tmp_path)),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=TRACEE_ENV,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while True:
        try:
            resp.Connection(port, 10).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "redis-server did not answer"
            time.sleep(0.05)
    # clients come and go while it serves, for longer than it took to start
    for _ in range(6):
        conn = resp.Connection(port, 10)
        for args in (["SET", "k", "v"], ["GET", "k"], ["INFO"]):
            conn.call(args)
        conn.close()
        time.sleep(0.1)
    conn = resp.Connection(port, 10)
    conn.send(["SHUTDOWN", "NOSAVE"])
    conn.close()
    assert rec.wait(timeout=60) == 0, rec.stderr.read() if rec.stderr else ""
    (props,) = _proposals(prof).values()
    best = props[0]
    # the cut comes once it serves (its event loop's first wait, or a first client's
    # command when that drops a little more): start-up's calls are gone after it
    assert best["argument"].startswith("--phase serve=syscall:")
    assert {"socket", "bind", "listen", "execve"} <= set(best["dropped"])
    assert best["share"] >= 0.5


def test_a_cut_never_comes_before_the_main_thread_listens(fx, tmp_path):
    prof = tmp_path / "server.json"
    assert sysphase("record", "--runs", "2", "-o", str(prof), "--", fx["server"]).returncode == 0
    (props,) = _proposals(prof).values()
    best = props[0]
    assert "listen" in best["dropped"]
    # its workers made the call first (epoll_create1, epoll_wait): a plain trigger would
    # fire in one of them, before the listen
    assert best["trigger"].endswith("@main")
    assert best["instances"] == 2
    auto = tmp_path / "auto.json"
    rec = sysphase("record", "--phases", "auto", "-o", str(auto), "--", fx["server"])
    assert rec.returncode == 0, rec.stderr
    assert f"phases auto: --phase serve={best['trigger']} drops" in rec.stderr
    root = json.loads(auto.read_text())["processes"][0]
    assert [p["name"] for p in root["phases"]] == ["start", "serve"]
    assert "listen" in root["phases"][0]["syscalls"]
    assert "listen" not in root["phases"][1]["syscalls"]


def test_ls_gets_only_cuts_past_the_threshold(tmp_path):
    prof = tmp_path / "ls.json"
    assert sysphase("record", "-o", str(prof), "--", "ls", "-la", "/etc").returncode == 0
    out = sysphase("phases", str(prof))
    assert out.returncode == 0
    assert out.stdout.splitlines()[-1] == (
        "(a cut is proposed when it drops at least 5 syscalls in every run and leaves the "
        "later phase at least 10% of the process's life)"
    )
    for props in _proposals(prof).values():
        for p in props:
            assert len(p["dropped"]) >= 5 and p["share"] >= 0.1
            assert not p["trigger"].startswith(("syscall:exit_group", "syscall:close"))


def test_a_profile_without_timelines_is_one_sentence(tmp_path):
    old = tmp_path / "old.json"
    doc = {"format": "sysphase-profile/1", "command": ["true"], "arch": "x86_64", "runs": 1,
           "complete": True, "processes": []}  # fmt: skip
    old.write_text(json.dumps(doc))
    out = sysphase("phases", str(old))
    assert out.returncode == 2
    assert out.stderr.strip() == (
        f"sysphase: {old}: the profile has no timelines (recorded before they existed): "
        "record it again"
    )
    bad = sysphase("record", "--phases", "auto", "--phase", "a=syscall:read", "-o",
                   str(tmp_path / "p.json"), "--", "true")  # fmt: skip
    assert bad.returncode == 2 and "--phases auto finds the trigger itself" in bad.stderr
