"""`python -m sysphase.bench` end to end: it runs and prints its JSON. No timing assertions."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import need_strace

MODES = {"native", "sysphase", "sysphase-startup", "strace"}


def bench(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sysphase.bench", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_bench_quick_json(tmp_path: Path) -> None:
    need_strace()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}  # build the C programs afresh
    proc = bench(
        "--quick", "--workload", "loop", "--loop-calls", "2000", "--rounds", "1", "--json", env=env
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["schema"] == "sysphase-bench/1"
    assert list(out["workloads"]) == ["loop"]
    loop = out["workloads"]["loop"]
    assert loop["error"] is None
    assert loop["calls"] == 2000
    assert set(loop["modes"]) == MODES
    for mode in loop["modes"].values():
        assert mode["runs"] == 1
        assert mode["peak_rss_kib"] > 0
    for kind in ("raw", "startup_subtracted"):
        ratio = loop["ratio"][kind]
        assert isinstance(ratio["value"], float) and math.isfinite(ratio["value"]), ratio
        assert ratio["verdict"] in ("PASS", "MISS")
    (per_round,) = loop["ratio"]["per_round_startup_subtracted"]
    assert isinstance(per_round, float)
    assert loop["tracer_peak_rss_kib"] > 0


def test_bench_without_gcc_fails_with_one_sentence(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": str(empty)}
    proc = bench("--workload", "loop", "--rounds", "1", env=env)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "sysphase bench: cannot build the loop workload: the C compiler 'gcc' is not on PATH"
    ]
    assert "Traceback" not in proc.stderr


def test_enforce_bench_smoke():
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "sysphase.bench",
            "--enforce",
            "--loop-calls",
            "2000",
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    assert "run 2 phases" in p.stdout and "phase switch latency" in p.stdout
