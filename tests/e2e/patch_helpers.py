"""Helpers for the `sysphase patch` tests (tests/e2e/test_patch_*.py).

The patched copies run with MIN_ENV: no sysphase on PATH, nothing
importable. ``record_policy`` records a program and writes its policy in the
sysphase format; ``build_c`` compiles a test program; ``need`` skips (or, in
CI, fails) when a tool is missing.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess

import pytest

from tests.conftest import IN_CI, TRACEE_ENV, sysphase_cmd

SIGSYS = -signal.SIGSYS
#: No sysphase here: not on PATH, not importable (the patched copies run with this).
MIN_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        msg = f"{tool} is not installed (apt-get install {package}); CI installs it"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def sysphase(*args: str, ok: bool = True, env=None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        sysphase_cmd(*args),
        capture_output=True,
        text=True,
        timeout=300,
        env=TRACEE_ENV if env is None else env,
        stdin=subprocess.DEVNULL,
    )
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def run(argv, env=MIN_ENV) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, timeout=120, env=env, stdin=subprocess.DEVNULL
    )


def record_env() -> dict[str, str]:
    """MIN_ENV for the recorded program, plus what sysphase itself needs to import."""
    env = dict(MIN_ENV)
    if "PYTHONPATH" in TRACEE_ENV:
        env["PYTHONPATH"] = TRACEE_ENV["PYTHONPATH"]
    return env


def record_policy(tmp, name: str, argv, *phase_opts: str) -> str:
    prof, pol = tmp / f"{name}.profile.json", tmp / f"{name}.policy.json"
    sysphase("record", "-o", str(prof), *phase_opts, "--", *map(str, argv), env=record_env())
    sysphase("policy", str(prof), "--format", "sysphase", "-o", str(pol))
    return str(pol)


def sha256(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def one_sentence(p: subprocess.CompletedProcess[str]) -> str:
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sysphase: "), p.stderr
    return lines[0]


def build_c(tmp_path, name: str, source: str, *flags: str) -> str:
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    binary = tmp_path / name
    subprocess.run(
        ["gcc", "-O1", "-pthread", "-Wall", "-Wextra", "-Werror", *flags, "-o", binary, src],
        check=True,
        capture_output=True,
    )
    return str(binary)
