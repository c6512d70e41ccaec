"""The hand-written _core.pyi matches the compiled module (mypy's stubtest)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest


def test_stub_matches_module():
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install -e .[test] installs it)")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "sysphase._core", "--ignore-missing-stub"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
