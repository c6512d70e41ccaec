"""`python -m sysphase.bench` end to end: it runs and prints its JSON. No timing assertions."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sysphase.bench.measure import build_measure
from sysphase.bench.runner import run_benchmark
from sysphase.bench.workloads import Workload
from tests.conftest import need_strace

CLASSIC = {"native", "sysphase", "sysphase-startup", "strace"}
NEW_MODES = {"record", "record-paths", "sets-only", "baseline", "ebpf", "bpftrace"}


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
    # the classic modes ran; each new one ran or says why it could not
    assert set(loop["modes"]) >= CLASSIC
    assert set(loop["modes"]) | set(loop["unavailable"]) == CLASSIC | NEW_MODES
    for name in set(loop["unavailable"]):
        assert loop["unavailable"][name].startswith(("unavailable: ", "skipped: "))
    for mode in loop["modes"].values():
        assert mode["runs"] == 1
        assert mode["peak_rss_kib"] > 0
    rows = {(v["workload"], v["target"].split(" <= ")[0]) for v in out["verdicts"]}
    assert ("loop", "trace -c overhead / strace -f -c overhead") in rows
    assert ("loop", "record --sets-only overhead / strace -f -c overhead") in rows
    assert ("loop", "record --paths overhead / strace -f -c overhead") in rows
    assert all(v["verdict"] in ("PASS", "MISS", "n/a") for v in out["verdicts"])
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
        "sysphase bench: the benchmark needs gcc to build the loop workload (apt-get install gcc)"
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


def test_bench_redis_rates(tmp_path: Path) -> None:
    need_strace()
    if not all(shutil.which(p) for p in ("redis-server", "redis-benchmark", "redis-cli")):
        msg = "redis-server, redis-benchmark and redis-cli are needed (apt-get install redis)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    proc = bench(
        "--only", "redis", "--modes", "sets-only,strace", "--redis-requests", "500",
        "--rounds", "1", "--json", "-q", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    redis = json.loads(proc.stdout)["workloads"]["redis"]
    assert redis["throughput"] is True and redis["error"] is None
    assert set(redis["modes"]) | set(redis["unavailable"]) == {"native", "strace", "sets-only"}
    for mode in redis["modes"].values():
        assert set(mode["requests_per_s"]) == {"SET", "GET"}
        assert all(v > 0 for v in mode["requests_per_s"].values())


def test_a_mode_whose_flag_is_missing_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    # a "python" that rejects --sets-only like an older sysphase: argparse's usage error, exit 2
    fake = tmp_path / "python"
    fake.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" --sets-only "*)\n'
        "  echo 'sysphase: unrecognized arguments: --sets-only' >&2; exit 2;;\n"
        "esac\n"
        f'exec {sys.executable} "$@"\n'
    )
    fake.chmod(0o755)
    true = shutil.which("true") or "/bin/true"
    (runs,) = run_benchmark(
        [Workload("true", "true", (true,))],
        rounds=1,
        strace=None,
        measure=build_measure(outdir=tmp_path),
        modes=("sysphase", "sets-only"),
        python=str(fake),
    )
    assert runs.error is None
    assert runs.unavailable["sets-only"] == (
        "unavailable: the sets-only run of the true workload exited with status 2: "
        "sysphase: unrecognized arguments: --sets-only"
    )
    assert len(runs.samples["sysphase"]) == 1 and runs.samples["sets-only"] == []
