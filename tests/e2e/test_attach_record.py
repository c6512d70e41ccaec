"""`sysphase record -p PID`: a running service recorded from now on, left running after.

The fixture `respawn` (tests/fixtures/respawn.c) is started untraced; record
attaches to its master, sees every worker it forks from then on, and on
Ctrl-C detaches: the master keeps running and shuts down cleanly later.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

from tests.conftest import TRACEE_ENV, alive, sysphase_cmd


def _tracer_pid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(x for x in f if x.startswith("TracerPid:")).split()[1])


def test_record_p_sees_later_children_and_leaves_the_service_running(fx, tmp_path):
    prof = tmp_path / "p.json"
    master = subprocess.Popen([fx["respawn"]], stdout=subprocess.PIPE, env=TRACEE_ENV)
    try:
        assert master.stdout is not None
        assert master.stdout.readline().startswith(b"master ")
        rec = subprocess.Popen(
            sysphase_cmd("record", "-p", str(master.pid), "--phase-name", "serve",
                         "-o", str(prof)),
            stderr=subprocess.PIPE,
            env=TRACEE_ENV,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while _tracer_pid(master.pid) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.6)  # a few workers
        rec.send_signal(signal.SIGINT)
        _, err = rec.communicate(timeout=60)
        assert rec.returncode == 0, err
        assert alive(master.pid) and _tracer_pid(master.pid) == 0  # detached, running
        data = json.loads(prof.read_text())
        root, *children = data["processes"]
        assert root["created"] == "attach" and root["parent"] is None
        assert len(children) >= 2 and {c["created"] for c in children} == {"fork"}
        assert {p["name"] for p in root["phases"]} == {"serve"}
        assert root["phases"][0]["trigger"] == "attach"
        assert "getppid" in json.dumps(children)  # what the workers did
    finally:
        master.send_signal(signal.SIGTERM)
        out, _ = master.communicate(timeout=60)
    assert master.returncode == 0 and out.endswith(b"bye\n")


def test_record_p_of_no_process_is_one_sentence(tmp_path):
    p = subprocess.run(
        sysphase_cmd("record", "-p", "999999999", "-o", str(tmp_path / "p.json")),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert p.returncode != 0 and p.stderr.count("\n") == 1, p.stderr
    assert "999999999" in p.stderr and not (tmp_path / "p.json").exists()
