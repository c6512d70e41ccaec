"""The benchmark's statistics: medians, overhead ratios, verdicts, summaries, redis rates.

Also the invariant that keeps them pure: stats.py, verdicts.py and report.py
import nothing that touches the OS.
"""

from __future__ import annotations

import ast
import math

import pytest

from sysphase.bench.stats import (
    NATIVE,
    SETS_ONLY,
    STARTUP,
    STRACE,
    STRACE_MISSING,
    SYSPHASE,
    Ratio,
    Sample,
    median,
    mode_stats,
    overhead_ratio,
    parse_redis_benchmark,
    round_ratios,
    summarise,
    time_ratio,
    verdict,
)
from sysphase.bench.workloads import LOOP_SOURCE
from tests.conftest import ROOT
from tests.unit.bench_samples import CLASSIC, full_samples, s

BENCH = ROOT / "src/sysphase/bench"


# --- median -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [([3.0], 3.0), ([3.0, 1.0, 2.0], 2.0), ([4.0, 1.0, 3.0, 2.0], 2.5), ([5.0, 5.0], 5.0)],
)
def test_median(values: list[float], expected: float) -> None:
    assert median(values) == expected


def test_median_does_not_reorder_its_input() -> None:
    values = [3.0, 1.0, 2.0]
    median(values)
    assert values == [3.0, 1.0, 2.0]


@pytest.mark.parametrize("values", [[], [1.0, math.nan]])
def test_median_rejects_empty_and_nan(values: list[float]) -> None:
    with pytest.raises(ValueError):
        median(values)


def test_mode_stats() -> None:
    m = mode_stats(SYSPHASE, [s(2.0, 100, 1.0), s(1.0, 300, 3.0), s(3.0, 200, 2.0)])
    assert (m.runs, m.median_s, m.min_s, m.max_s) == (3, 2.0, 1.0, 3.0)
    assert m.peak_rss_kib == 300
    assert m.median_cpu_s == 2.0
    assert m.times_s == (2.0, 1.0, 3.0)
    with pytest.raises(ValueError):
        mode_stats(SYSPHASE, [])


# --- ratio and verdict --------------------------------------------------------


def test_ratio_plain() -> None:
    assert overhead_ratio(3.0, 1.0, 5.0) == Ratio(0.5)
    assert overhead_ratio(5.0, 1.0, 5.0).value == 1.0
    assert overhead_ratio(9.0, 1.0, 5.0).value == 2.0


def test_ratio_traced_faster_than_native_is_negative_not_hidden() -> None:
    assert overhead_ratio(0.9, 1.0, 2.0).value == pytest.approx(-0.1)


@pytest.mark.parametrize(
    ("native", "strace"),
    [
        (1.0, 1.0),  # exactly equal: division by zero
        (0.5, 0.5005),  # 0.5 ms: below the 1 ms floor
        (10.0, 10.05),  # 50 ms over 10 s: below 1 % of native
        (1.0, 0.9),  # strace "faster" than native: noise
        (1.0, math.nan),
    ],
)
def test_ratio_not_computed_when_strace_is_within_noise_of_native(
    native: float, strace: float
) -> None:
    r = overhead_ratio(5.0, native, strace)
    assert r.value is None
    assert "within noise" in r.reason
    assert r.verdict() == "n/a"


def test_ratio_just_above_the_floor_is_computed() -> None:
    assert overhead_ratio(1.002, 1.0, 1.02).value == pytest.approx(0.1)


def test_verdict_against_target() -> None:
    assert verdict(1.0) == "PASS"
    assert verdict(0.3) == "PASS"
    assert verdict(-0.1) == "PASS"
    assert verdict(1.0001) == "MISS"
    assert verdict(None) == "n/a"
    assert verdict(0.6, target=0.5) == "MISS"


# --- summarise ----------------------------------------------------------------


def test_summarise_ratios_raw_and_startup_subtracted() -> None:
    w = summarise("loop", "getppid loop", ["loop", "100"], full_samples(), calls=100)
    assert list(w.modes) == list(CLASSIC)
    native, traced, startup, strace = 0.11, 60.2, 0.15, 88.0
    assert w.ratio_raw.value == pytest.approx((traced - native) / (strace - native))
    assert w.ratio_startup_subtracted.value == pytest.approx(
        (traced - startup - native) / (strace - native)
    )
    assert w.startup_s == pytest.approx(startup)
    assert w.overhead_s(SYSPHASE) == pytest.approx(traced - native)
    assert w.overhead_s(SYSPHASE, subtract_startup=True) == pytest.approx(traced - startup - native)
    assert w.overhead_s(STRACE) == pytest.approx(strace - native)
    assert w.command == ("loop", "100")


def test_summarise_without_strace() -> None:
    samples = full_samples()
    del samples[STRACE]
    w = summarise("ls", "ls", ["ls"], samples, strace_installed=False)
    assert STRACE not in w.modes
    assert w.ratio_raw == Ratio(None, STRACE_MISSING)
    assert w.ratio_startup_subtracted == Ratio(None, STRACE_MISSING)
    assert STRACE_MISSING == "strace not installed: ratio not computed"
    assert w.overhead_s(STRACE) is None


def test_summarise_failed_workload_keeps_what_ran() -> None:
    samples = {NATIVE: [s(1.0)], SYSPHASE: [], STARTUP: [], STRACE: []}
    w = summarise("find", "find", ["find"], samples, error="the sysphase run exited 1")
    assert list(w.modes) == [NATIVE]
    assert w.ratio_raw.value is None
    assert "sysphase, strace did not run" in w.ratio_raw.reason
    assert w.error == "the sysphase run exited 1"
    assert w.startup_s is None
    assert w.overhead_s(SYSPHASE) is None


def test_round_ratios_pair_the_modes_of_each_round() -> None:
    samples = {
        NATIVE: [s(1.0), s(2.0)],
        SYSPHASE: [s(3.5), s(12.5)],  # the second round ran on a slow machine
        STARTUP: [s(0.5), s(0.5)],
        STRACE: [s(5.0), s(22.0)],
    }
    assert [r.value for r in round_ratios(samples)] == [0.5, 0.5]
    # a round that did not finish (a failure part-way) has no ratio
    samples[STRACE] = samples[STRACE][:1]
    assert [r.value for r in round_ratios(samples)] == [0.5]
    # without strace: none
    del samples[STRACE]
    assert round_ratios(samples) == ()


def test_round_ratio_not_computed_when_strace_is_within_noise() -> None:
    samples = {NATIVE: [s(1.0)], SYSPHASE: [s(3.0)], STARTUP: [s(0.1)], STRACE: [s(1.0)]}
    (r,) = round_ratios(samples)
    assert r.value is None


# --- redis rates and throughput ----------------------------------------------


REDIS_OUTPUT = (
    " \nSET: rps=0.0 (overall: 0.0) avg_msec=-nan (overall: -nan)\r"
    "SET: rps=52000.0 (overall: 51000.0) avg_msec=0.4 (overall: 0.4)\r"
    "                                                          \n"
    "SET: 111111.12 requests per second, p50=0.231 msec\n \n"
    "GET: 124999.99 requests per second, p50=0.199 msec\n\n"
)


def test_parse_redis_benchmark() -> None:
    assert parse_redis_benchmark(REDIS_OUTPUT) == (("SET", 111111.12), ("GET", 124999.99))
    # redis 5/6 print no percentiles
    assert parse_redis_benchmark("SET: 80000.00 requests per second\r\n") == (("SET", 80000.0),)
    for bad in ("", "SET: rps=0.0 (overall: 0.0)\r", "Could not connect to Redis at ::1"):
        with pytest.raises(ValueError):
            parse_redis_benchmark(bad)


def test_verdict_at_least_and_time_ratio() -> None:
    assert verdict(2.0, 2.0, at_least=True) == "PASS"
    assert verdict(1.9, 2.0, at_least=True) == "MISS"
    assert verdict(None, 2.0, at_least=True) == "n/a"
    assert time_ratio(1.1, 1.0).value == pytest.approx(1.1)
    assert time_ratio(1.0, 0.0).value is None
    assert "within noise" in time_ratio(1.0, 0.005).reason  # 5 ms: start-up noise decides


def test_mode_stats_keeps_the_median_rate_of_each_test() -> None:
    samples = [
        Sample(1.0, 100, 0.0, (("SET", 10.0), ("GET", 20.0))),
        Sample(2.0, 100, 0.0, (("SET", 30.0), ("GET", 40.0))),
        Sample(3.0, 100, 0.0, (("SET", 50.0), ("GET", 60.0))),
    ]
    m = mode_stats(SETS_ONLY, samples)
    assert m.rps == (("SET", 30.0), ("GET", 40.0))
    assert m.throughput == 35.0
    assert samples[0].throughput == 15.0
    assert mode_stats(NATIVE, [s(1.0)]).throughput is None


# --- invariants ---------------------------------------------------------------


def test_embedded_loop_source_matches_the_fixture() -> None:
    assert (ROOT / "tests/fixtures/loop.c").read_text(encoding="utf-8") == LOOP_SOURCE


@pytest.mark.parametrize("module", ["stats.py", "verdicts.py", "report.py"])
def test_pure_modules_import_nothing_from_the_os(module: str) -> None:
    tree = ast.parse((BENCH / module).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    forbidden = {"os", "subprocess", "ctypes", "resource", "time", "sysphase._core"}
    assert not imported & forbidden
    assert not any(m.startswith(("sysphase._host", "sysphase.bench.runner")) for m in imported)
