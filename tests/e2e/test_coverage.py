"""`sysphase coverage` end to end: a fixture's calls made only on request, `ls /`, bad inputs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TRACEE_ENV, sysphase_cmd


def sysphase(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=timeout, env=TRACEE_ENV
    )


def record(out: Path, *command: str) -> Path:
    p = sysphase("record", "-o", str(out), "--", *command)
    assert p.returncode == 0, p.stderr
    return out


@pytest.fixture(scope="module")
def fixture_profile(fx, tmp_path_factory) -> Path:
    """The coverage fixture recorded without an argument: none of its optional calls."""
    return record(tmp_path_factory.mktemp("coverage") / "p.json", fx["coverage"])


def the_phase(doc: dict, executable: str) -> dict:
    (program,) = [p for p in doc["programs"] if p["executable"] == executable]
    (phase,) = program["phases"]
    return phase


def test_calls_made_only_on_request_are_reachable_not_seen(fx, fixture_profile):
    p = sysphase("coverage", "--json", str(fixture_profile))
    assert p.returncode == 0, p.stderr
    phase = the_phase(json.loads(p.stdout), fx["coverage"])
    unseen = phase["reachable_not_seen"]
    assert "connect@libc" in unseen["connect"]
    assert "socket@libc" in unseen["socket"]
    assert "(syscall instruction)" in unseen["getitimer"]  # the inline asm, eax = 36
    assert "syscall@libc" in unseen["getpgid"]  # syscall(SYS_getpgid, 0)
    assert "exit_group" in phase["seen"] and "exit_group" not in unseen
    assert not {"connect", "socket", "getitimer", "getpgid"} & set(phase["seen"])


def test_text_report_and_policy_beyond_both(fx, fixture_profile, tmp_path):
    policy = tmp_path / "policy.json"
    p = sysphase("policy", str(fixture_profile), "-o", str(policy))
    assert p.returncode == 0, p.stderr
    before = policy.read_bytes()
    p = sysphase("coverage", str(fixture_profile), "--policy", str(policy))
    assert p.returncode == 0, p.stderr
    assert f"{fx['coverage']}: " in p.stdout
    connect = next(line for line in p.stdout.splitlines() if line.strip().startswith("connect "))
    assert "← connect@libc" in connect
    assert "allowed by the policy, neither seen nor reachable:" in p.stdout
    assert policy.read_bytes() == before  # read, never widened


def test_ls(tmp_path):
    ls = shutil.which("ls")
    assert ls is not None
    profile = record(tmp_path / "ls.json", ls, "/")
    p = sysphase("coverage", "--json", str(profile))
    assert p.returncode == 0, p.stderr
    (program,) = json.loads(p.stdout)["programs"]
    (phase,) = program["phases"]
    assert "getdents64" in phase["seen"]
    # the user and group lookups of `ls -l` (nscd's socket) are reachable, not made by `ls /`
    assert {"connect", "socket"} <= set(phase["reachable_not_seen"])
    assert any(s.startswith("getpw") for s in phase["reachable_not_seen"]["connect"])


def _one_sentence(p: subprocess.CompletedProcess[str], *words: str) -> None:
    assert p.returncode != 0
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sysphase: "), p.stderr
    assert all(w in lines[0] for w in words), lines[0]


def test_bad_inputs_are_one_sentence(fx, tmp_path):
    _one_sentence(sysphase("coverage", str(tmp_path / "none.json")), "none.json", "no such file")
    copy = tmp_path / "prog"
    shutil.copy(fx["coverage"], copy)
    profile = record(tmp_path / "p.json", str(copy))
    copy.write_text("#!/bin/sh\n")
    _one_sentence(sysphase("coverage", str(profile)), str(copy), "not an ELF file")
    copy.unlink()
    _one_sentence(sysphase("coverage", str(profile)), str(copy), "no such file")
