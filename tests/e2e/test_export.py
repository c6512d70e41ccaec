"""`sysphase export --format perfetto` on a real recording, and on inputs it refuses.

The trace is checked with the format's rules (report.trace_event_rules) and
for what Perfetto's JSON importer needs before it reads a single event: one
JSON object, ``displayTimeUnit`` before ``traceEvents``, no other top-level
key than those it knows.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sysphase.report.trace_event_rules import problems
from tests.conftest import TRACEE_ENV, sysphase_cmd


def sysphase(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args),
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=120,
        env=TRACEE_ENV,
    )


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A profile of `sh -c 'ls -la /etc | head -3'`: a shell, two forks, two execs."""
    prof = tmp_path_factory.mktemp("export") / "p.json"
    p = sysphase("record", "-o", str(prof), "--", "sh", "-c", "ls -la /etc | head -3")
    assert p.returncode == 0, p.stderr
    return prof


def test_a_recorded_profile_exports_a_trace_that_follows_the_rules(recorded, tmp_path):
    out = tmp_path / "trace.json"
    p = sysphase("export", "--format", "perfetto", str(recorded), "-o", str(out))
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", p.stderr
    text = out.read_text()
    assert text.startswith('{"displayTimeUnit": "ns"')  # Perfetto reads it in the first chunk
    doc = json.loads(text)
    assert problems(doc) == []
    events = doc["traceEvents"]
    shell = Path(json.loads(recorded.read_text())["processes"][0]["executable"]).name  # dash
    lives = {e["name"] for e in events if e["ph"] == "X" and e["cat"] == "process"}
    assert lives == {shell, "ls", "head"}
    calls = {e["name"] for e in events if e["ph"] == "X" and e["cat"] == "syscalls"}
    assert {"execve", "openat", "getdents64", "write", "exit_group"} <= calls
    created = {e["name"].split()[0] for e in events if e["ph"] == "i"}
    assert {"spawn", "fork", "exec"} <= created
    names = [e["args"]["name"] for e in events if e["name"] == "process_name"]
    assert sorted(names) == [f"run 1 (full): {shell}", f"run 1 (full): {shell} → head",
                             f"run 1 (full): {shell} → ls"]  # fmt: skip


def test_stdout_is_the_default_output_and_the_same_trace(recorded, tmp_path):
    out = tmp_path / "trace.json"
    assert sysphase("export", str(recorded), "-o", str(out)).returncode == 0
    p = sysphase("export", str(recorded))
    assert p.returncode == 0, p.stderr
    assert p.stdout == out.read_text()
    assert sysphase("export", str(recorded), "-o", "-").stdout == p.stdout


def test_two_runs_stay_apart(tmp_path):
    prof = tmp_path / "p.json"
    p = sysphase("record", "-o", str(prof), "--runs", "2", "--", "true")
    assert p.returncode == 0, p.stderr
    doc = json.loads(sysphase("export", str(prof)).stdout)
    assert problems(doc) == []
    names = sorted(e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "process_name")
    assert names == ["run 1 (full): true", "run 2 (full): true"]
    pids = {e["pid"] for e in doc["traceEvents"] if e["ph"] == "X" and e["name"] == "true"}
    assert len(pids) == 2


def _one_line_error(p: subprocess.CompletedProcess[str], *words: str) -> None:
    assert p.returncode != 0 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.startswith("sysphase: ") and all(w in p.stderr for w in words), p.stderr


def test_a_broken_profile_is_one_sentence(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "sysphase-profile/1", "command": [')
    p = sysphase("export", "--format", "perfetto", str(bad), "-o", str(tmp_path / "t.json"))
    _one_line_error(p, str(bad))
    assert not (tmp_path / "t.json").exists()


def test_a_profile_without_timelines_is_one_sentence(recorded, tmp_path):
    old = tmp_path / "old.json"
    data = json.loads(recorded.read_text())
    del data["timelines"]  # as written before timelines existed
    old.write_text(json.dumps(data))
    p = sysphase("export", str(old))
    _one_line_error(p, str(old), "has no timelines", "record it again")
    assert p.returncode == 2


def test_the_profile_is_never_overwritten_and_other_formats_are_refused(recorded):
    before = recorded.read_text()
    _one_line_error(sysphase("export", str(recorded), "-o", str(recorded)), "-o", str(recorded))
    assert recorded.read_text() == before
    p = sysphase("export", "--format", "json", str(recorded))
    assert p.returncode == 2 and "invalid choice: 'json'" in p.stderr
    assert "the only format for now" in " ".join(sysphase("export", "--help").stdout.split())
