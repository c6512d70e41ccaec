"""Attacks on phase switches through the command line: `sysphase run` and a `patch`ed binary.

tests/trace/test_attacks.py repeats every attack in-process against the C core; here
each attack runs once as a user would run it, to check what the user sees: exit status
and one sentence. The fixture is tests/fixtures/escape.c.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TRACEE_ENV, need_root, sysphase_cmd


def sysphase(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=120, env=TRACEE_ENV, cwd=cwd
    )


@pytest.fixture(scope="module")
def made(fx, tmp_path_factory) -> dict[str, str]:
    """The honest profile's policy, and a patched copy of the fixture."""
    need_root()
    d = tmp_path_factory.mktemp("attacks")
    rec = sysphase(
        "record", "-o", str(d / "p.json"), "--phase", "serve=syscall:chdir", "--",
        fx["escape"], "honest",
    )  # fmt: skip
    assert rec.returncode == 0, rec.stderr
    assert sysphase("policy", str(d / "p.json"), "-o", str(d / "p.pol")).returncode == 0
    patched = sysphase("patch", "--policy", str(d / "p.pol"), fx["escape"], "-o", str(d / "esc"))
    assert patched.returncode == 0, patched.stderr
    return {"policy": str(d / "p.pol"), "patched": str(d / "esc"), "dir": str(d)}


def test_a_lying_filter_is_one_sentence_and_the_program_dies(fx, made):
    p = sysphase("run", "--policy", made["policy"], "--", fx["escape"], "errno0")
    assert p.returncode == -signal.SIGKILL  # the program keeps the pid: its own death
    assert "ESCAPED" not in p.stdout
    lines = p.stderr.splitlines()
    assert lines[-1].startswith("sysphase: phase switch refused, the program was killed: thread ")
    assert "a filter of the program answered seccomp() in the kernel's place" in lines[-1]
    assert "Traceback" not in p.stderr


def test_the_honest_program_runs_under_run_and_patched(fx, made):
    assert sysphase("run", "--policy", made["policy"], "--", fx["escape"], "honest").returncode == 0
    p = subprocess.run([made["patched"], "honest"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "serving honest" in p.stdout


@pytest.mark.parametrize("mode", ["errno0", "trap", "eperm"])
def test_a_patched_binary_refuses_to_serve_when_its_filter_does_not_take(made, mode):
    p = subprocess.run([made["patched"], mode], capture_output=True, text=True, timeout=60)
    assert p.returncode == 126
    assert "ESCAPED" not in p.stdout and "serving" not in p.stdout
    assert p.stderr.startswith("sysphase-guard: esc: seccomp(SECCOMP_SET_MODE_FILTER) ")
    assert p.stderr.rstrip().endswith("; refusing to run unsandboxed")


def test_copies_and_links_of_the_program_get_its_phases(fx, made):
    d = Path(made["dir"])
    shutil.copy2(fx["escape"], d / "copy")
    os.link(d / "copy", d / "hardlink")
    (d / "symlink").symlink_to(fx["escape"])
    for path in ("copy", "hardlink", "symlink"):
        p = sysphase("run", "--policy", made["policy"], "--", str(d / path), "spin")
        assert p.returncode == -signal.SIGSYS, (path, p.stderr)
        assert "killed by seccomp: socket (41)" in p.stderr and "phase serve" in p.stderr
        assert "ESCAPED" not in p.stdout


def test_a_program_the_policy_does_not_have_is_refused(made):
    p = sysphase("run", "--policy", made["policy"], "--", "/bin/true")
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1
    assert "/usr/bin/true is not a program of this policy" in p.stderr
    assert "--program" in p.stderr
