"""The benchmark's pure parts: medians, ratios, verdicts, rendering, command lines."""

from __future__ import annotations

import ast
import json
import math
from pathlib import Path

import pytest

from sysphase.bench import __main__ as bench_main
from sysphase.bench import policygen
from sysphase.bench.policygen import GenResult, measure, render_series, synthetic_profile
from sysphase.bench.report import BenchInfo, format_rss, render_text, to_json
from sysphase.bench.runner import (
    BPFTRACE_PROGRAM,
    describe_exit,
    mode_argv,
    parse_measure_output,
    rotated,
    selected_modes,
)
from sysphase.bench.stats import (
    BASELINE,
    BPFTRACE,
    EBPF,
    MODES,
    NATIVE,
    SETS_ONLY,
    STARTUP,
    STRACE,
    STRACE_MISSING,
    SYSPHASE,
    TARGETS,
    Ratio,
    Sample,
    VerdictRow,
    WorkloadSummary,
    median,
    mode_stats,
    overhead_ratio,
    parse_redis_benchmark,
    round_ratios,
    summarise,
    time_ratio,
    verdict,
    verdicts,
)
from sysphase.bench.workloads import LOOP_SOURCE
from sysphase.model import profile as profile_codec
from sysphase.policy.generate import MAX_PHASES

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "src/sysphase/bench"

CLASSIC = (NATIVE, SYSPHASE, STARTUP, STRACE)
INFO = BenchInfo(
    rounds=3, python="CPython 3.11.7", strace="strace 6.1", kernel="6.1.0", cpus=2, modes=CLASSIC
)


def s(seconds: float, rss: int = 1024, cpu: float = 0.0) -> Sample:
    return Sample(seconds=seconds, max_rss_kib=rss, cpu_seconds=cpu)


def full_samples() -> dict[str, list[Sample]]:
    return {
        NATIVE: [s(0.10, 1100), s(0.12, 1200), s(0.11, 1150)],
        SYSPHASE: [s(60.2, 18000), s(60.0, 19400), s(61.0, 18500)],
        STARTUP: [s(0.15, 18000), s(0.16, 18100), s(0.14, 17900)],
        STRACE: [s(88.0, 3300), s(88.5, 3400), s(87.9, 3200)],
    }


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


# --- rendering ----------------------------------------------------------------

EXPECTED_TEXT = """\
sysphase benchmark: 3 rounds, modes alternated within each round; times are wall-clock medians
CPython 3.11.7 | strace 6.1 | Linux 6.1.0 | 2 CPUs

loop: getppid loop
  $ loop 100
  mode                median s     min s     max s    peak RSS  runs
  native                 0.110     0.100     0.120     1.2 MiB     3
  sysphase              60.200    60.000    61.000    18.9 MiB     3
  sysphase-startup       0.150     0.140     0.160    17.7 MiB     3
  strace                88.000    87.900    88.500     3.3 MiB     3
  overhead over native: sysphase +60.090 s (+59.940 s without start-up), strace +87.890 s
  per call: sysphase 599400.00 us (start-up subtracted), strace 878900.00 us
  ratio (sysphase - native) / (strace - native), target <= 1.00:
    raw (includes Python start-up 0.150 s)  0.684 PASS
    Python start-up subtracted              0.682 PASS
    each round alone, start-up subtracted   0.682, 0.676, 0.692

ls: ls -laR
  $ ls -laR
  mode                median s     min s     max s    peak RSS  runs
  native                 0.110     0.100     0.120     1.2 MiB     3
  sysphase              60.200    60.000    61.000    18.9 MiB     3
  sysphase-startup       0.150     0.140     0.160    17.7 MiB     3
  overhead over native: sysphase +60.090 s (+59.940 s without start-up)
  ratio (sysphase - native) / (strace - native), target <= 1.00:
    raw (includes Python start-up 0.150 s)  strace not installed: ratio not computed
    Python start-up subtracted              strace not installed: ratio not computed

summary: ratio (sysphase - native) / (strace - native), target <= 1.00
  workload  raw           start-up subtracted   tracer peak RSS
  loop      0.684 PASS    0.682 PASS                   18.9 MiB
  ls        n/a           n/a                          18.9 MiB
  n/a: strace not installed: ratio not computed

verdicts (targets: DESIGN.md "Performance targets", issue 7)
  loop       0.682 PASS  trace -c overhead / strace -f -c overhead <= 1; start-up subtracted
  loop    +1.3 MiB PASS  trace -c peak RSS growth over tracing /bin/true <= 4 MiB; 100 calls
  ls           n/a n/a   trace -c overhead / strace -f -c overhead <= 1; strace: not measured

peak RSS: ru_maxrss from wait4 (taken by a ~1 MiB C helper that starts each run), the
largest of the process started and the processes it reaped; for sysphase and strace
that is the tracer (the traced program's own is in the native row).
"""


def two_summaries() -> list[WorkloadSummary]:
    no_strace = full_samples()
    del no_strace[STRACE]
    return [
        summarise("loop", "getppid loop", ["loop", "100"], full_samples(), calls=100),
        summarise("ls", "ls -laR", ["ls", "-laR"], no_strace, strace_installed=False),
    ]


def test_render_text_table() -> None:
    assert render_text(two_summaries(), INFO) == EXPECTED_TEXT


def test_render_text_shows_a_miss_and_an_error() -> None:
    samples = full_samples()
    samples[SYSPHASE] = [s(100.0)]
    miss = summarise("find", "find /usr", ["find", "/usr"], samples)
    failed = summarise(
        "ls", "ls", ["ls"], {NATIVE: [s(0.2)]}, error="the sysphase run of ls exited 1"
    )
    text = render_text([miss, failed], BenchInfo(1, "py", None, "k", 1))
    assert "1 round," in text
    assert "py | strace not installed | Linux k | 1 CPU" in text
    assert "1.137 MISS" in text
    assert "  error: the sysphase run of ls exited 1" in text
    assert "raw (includes Python start-up)" in text


def test_format_rss() -> None:
    assert format_rss(1024) == "1.0 MiB"
    assert format_rss(19354) == "18.9 MiB"


def test_json_has_every_mode_and_the_ratios() -> None:
    obj = json.loads(json.dumps(to_json(two_summaries(), INFO)))
    assert obj["schema"] == "sysphase-bench/1"
    assert obj["modes"] == list(MODES)
    loop = obj["workloads"]["loop"]
    assert set(loop["modes"]) == set(CLASSIC)
    assert loop["modes"][SYSPHASE]["times_s"] == [60.2, 60.0, 61.0]
    assert loop["ratio"]["raw"]["value"] == pytest.approx(0.684, abs=5e-4)
    assert loop["ratio"]["raw"]["verdict"] == "PASS"
    assert loop["ratio"]["raw"]["reason"] is None
    assert len(loop["ratio"]["per_round_startup_subtracted"]) == 3
    assert loop["tracer_peak_rss_kib"] == 19400
    assert loop["startup_s"] == pytest.approx(0.15)
    ls = obj["workloads"]["ls"]
    assert ls["ratio"]["raw"] == {"value": None, "verdict": "n/a", "reason": STRACE_MISSING}
    assert ls["overhead_s"]["strace"] is None
    assert obj["environment"]["strace"] == "strace 6.1"


# --- command lines ------------------------------------------------------------


def test_mode_argv() -> None:
    cmd = ["/usr/bin/find", "/usr"]
    assert mode_argv(NATIVE, cmd) == cmd
    assert mode_argv(SYSPHASE, cmd, python="py") == [
        "py", "-m", "sysphase", "trace", "-c", "-o", "/dev/null", "--", "/usr/bin/find", "/usr"
    ]  # fmt: skip
    assert mode_argv(STARTUP, cmd, python="py", true="/bin/true") == [
        "py", "-m", "sysphase", "trace", "-c", "-o", "/dev/null", "--", "/bin/true"
    ]  # fmt: skip
    assert mode_argv(STRACE, cmd, strace="/usr/bin/strace") == [
        "/usr/bin/strace", "-f", "-c", "-o", "/dev/null", "/usr/bin/find", "/usr"
    ]  # fmt: skip
    with pytest.raises(ValueError):
        mode_argv(STRACE, cmd, strace=None)
    with pytest.raises(ValueError):
        mode_argv("perf", cmd)


def test_rotated_gives_each_mode_a_turn_first() -> None:
    modes = ["a", "b", "c"]
    assert [rotated(modes, i)[0] for i in range(4)] == ["a", "b", "c", "a"]
    assert rotated(modes, 1) == ["b", "c", "a"]
    assert rotated([], 5) == []


def test_parse_measure_output() -> None:
    assert parse_measure_output("0 1192 900 1100\n") == (0, 1192, 0.002)
    assert parse_measure_output("768 10 0 0") == (3, 10, 0.0)  # exit status 3
    assert parse_measure_output("9 10 0 0")[0] == -9  # SIGKILL
    for bad in ("", "0 1 2", "0 1 2 x"):
        with pytest.raises(ValueError):
            parse_measure_output(bad)


def test_describe_exit() -> None:
    assert describe_exit(1) == "exited with status 1"
    assert describe_exit(-11) == "was killed by SIGSEGV"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], (("loop", "find", "ls", "redis"), 3, 1_000_000)),
        (["--quick"], (("loop", "ls"), 1, 100_000)),
        (
            ["--quick", "--workload", "loop", "--loop-calls", "2000", "--rounds", "2"],
            (("loop",), 2, 2000),
        ),
        (
            ["--workload", "ls", "--workload", "find", "--workload", "ls"],
            (("ls", "find"), 3, 10**6),
        ),
        (["--loop-calls", "1_000"], (("loop", "find", "ls", "redis"), 3, 1000)),
    ],
)
def test_settings(argv: list[str], expected: tuple[tuple[str, ...], int, int]) -> None:
    st = bench_main.settings_from_args(bench_main.build_parser().parse_args(argv))
    assert (st.workloads, st.rounds, st.loop_calls) == expected


@pytest.mark.parametrize(
    "argv", [["--rounds", "0"], ["--loop-calls", "-1"], ["--workload", "x"], ["--rounds", "a"]]
)
def test_bad_command_line_is_one_sentence_and_status_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        bench_main.build_parser().parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("sysphase bench: ") and err.count("\n") == 1


# --- invariants ---------------------------------------------------------------


def test_embedded_loop_source_matches_the_fixture() -> None:
    assert (ROOT / "tests/fixtures/loop.c").read_text(encoding="utf-8") == LOOP_SOURCE


@pytest.mark.parametrize("module", ["stats.py", "report.py"])
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


# --- issue 7: more modes, redis, verdicts ---------------------------------------

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


def every_mode() -> dict[str, list[Sample]]:
    samples = full_samples()  # native 0.11, trace -c 60.2, start-up 0.15, strace 88.0
    samples[SETS_ONLY] = [s(30.0, 17000)]
    samples[BASELINE] = [s(0.27, 17000)]  # 0.12 s over the start-up: 1.09 x native
    samples[EBPF] = [s(0.5, 33000)]
    samples[BPFTRACE] = [s(1.0, 99000)]
    return samples


def by_target(rows: list[VerdictRow]) -> dict[str, VerdictRow]:
    return {row.target.name: row for row in rows}


def test_verdicts_for_every_target_on_a_timed_workload() -> None:
    w = summarise("find", "find /usr", ["find", "/usr"], every_mode())
    rows = by_target(verdicts([w]))
    native, startup, strace = 0.11, 0.15, 88.0
    sets = rows[TARGETS[SETS_ONLY].name]
    assert sets.value == pytest.approx((30.0 - startup - native) / (strace - native))
    assert sets.verdict == "PASS" and sets.note == "start-up subtracted"
    base = rows[TARGETS[BASELINE].name]
    assert base.value == pytest.approx((0.27 - startup) / native) and base.verdict == "PASS"
    ebpf = rows[TARGETS[EBPF].name]
    assert ebpf.value == pytest.approx((0.5 - startup) / native) and ebpf.verdict == "MISS"
    assert ebpf.note == "start-up subtracted"  # find: the workload the target is set on
    vs_bpftrace = rows[TARGETS[BPFTRACE].name]
    assert vs_bpftrace.value == pytest.approx(0.5) and vs_bpftrace.verdict == "PASS"
    assert rows[TARGETS[SYSPHASE].name].verdict == "PASS"
    assert TARGETS["memory"].name not in rows  # measured on the loop only
    assert len(rows) == 5


def test_verdicts_say_why_a_mode_is_missing_and_skip_modes_not_asked_for() -> None:
    samples = full_samples()
    reason = "unavailable: the sets-only run of the loop workload exited with status 2: usage"
    w = summarise("loop", "loop", ["loop"], samples, calls=100, unavailable={SETS_ONLY: reason})
    rows = by_target(verdicts([w], selected=(NATIVE, SYSPHASE, STARTUP, STRACE, SETS_ONLY)))
    sets = rows[TARGETS[SETS_ONLY].name]
    assert (sets.value, sets.verdict, sets.note) == (None, "n/a", f"sets-only: {reason}")
    memory = rows[TARGETS["memory"].name]
    assert memory.value == pytest.approx((19400 - 18100) / 1024)
    assert TARGETS[BASELINE].name not in rows and TARGETS[EBPF].name not in rows
    assert set(rows) == {TARGETS[k].name for k in (SYSPHASE, SETS_ONLY, "memory")}


def redis_summary(sets_rate: float, unavailable: dict[str, str] | None = None):
    def rate(v: float) -> list[Sample]:
        return [Sample(1.0, 12000, 0.0, (("SET", v), ("GET", v)))]

    samples = {NATIVE: rate(100_000.0), STRACE: rate(30_000.0)}
    if sets_rate:
        samples[SETS_ONLY] = rate(sets_rate)
    return summarise(
        "redis", "redis", ["redis-server"], samples, throughput=True, unavailable=unavailable
    )


def test_redis_verdict_compares_rates_under_sets_only_and_strace() -> None:
    (row,) = verdicts([redis_summary(66_000.0)])
    assert row.target is TARGETS["redis"]
    assert row.value == pytest.approx(2.2) and row.verdict == "PASS"
    (row,) = verdicts([redis_summary(50_000.0)])
    assert row.verdict == "MISS"
    (row,) = verdicts([redis_summary(0, {SETS_ONLY: "unavailable: no flag"})])
    assert row.verdict == "n/a" and row.note == "sets-only: unavailable: no flag"
    w = redis_summary(66_000.0)
    assert w.ratio_raw.value is None and w.round_ratios == ()


def test_render_text_shows_rates_unavailable_modes_and_verdicts() -> None:
    redis = redis_summary(66_000.0, {EBPF: "unavailable: eBPF needs root"})
    loop = summarise(
        "loop", "loop", ["loop"], every_mode(), unavailable={BPFTRACE: "skipped: not installed"}
    )
    info = BenchInfo(1, "py", "strace 6.1", "k", 1, bpftrace="bpftrace v0.17.0")
    text = render_text([loop, redis], info)
    assert "py | strace 6.1 | Linux k | 1 CPU | bpftrace v0.17.0" in text
    assert "  mode                   SET req/s     GET req/s  server s    peak RSS  runs" in text
    assert "  sets-only                 66,000        66,000     1.000    11.7 MiB     1" in text
    assert "  ebpf              unavailable: eBPF needs root" in text
    assert "  sets-only            0.660 of native's rate" in text
    assert "  bpftrace          skipped: not installed" in text
    assert "  redis      2.200 PASS  redis rps under record --sets-only / under strace" in text
    assert "modes:\n  native            the program alone\n" in text
    obj = json.loads(json.dumps(to_json([loop, redis], info)))
    assert obj["workloads"]["redis"]["modes"][SETS_ONLY]["requests_per_s"] == {
        "SET": 66000.0,
        "GET": 66000.0,
    }
    assert obj["workloads"]["redis"]["unavailable"] == {EBPF: "unavailable: eBPF needs root"}
    assert obj["workloads"]["redis"]["throughput"] is True
    assert {v["verdict"] for v in obj["verdicts"]} <= {"PASS", "MISS", "n/a"}
    assert obj["modes_selected"] == list(MODES)


def test_mode_argv_of_the_new_modes() -> None:
    cmd = ["/usr/bin/find", "/usr"]
    sysphase = ["py", "-m", "sysphase"]
    assert mode_argv(SETS_ONLY, cmd, python="py", out="o.json") == [
        *sysphase, "record", "--sets-only", "-o", "o.json", "--", *cmd
    ]  # fmt: skip
    assert mode_argv(BASELINE, cmd, python="py", out="o.json", baseline="b.json") == [
        *sysphase, "record", "--baseline", "b.json", "-o", "o.json", "--", *cmd
    ]  # fmt: skip
    assert mode_argv(EBPF, cmd, python="py") == [
        *sysphase, "trace", "-c", "--backend", "ebpf", "-o", "/dev/null", "--", *cmd
    ]  # fmt: skip
    assert mode_argv(BPFTRACE, ["/bin/x", "a b"], bpftrace="/usr/bin/bpftrace") == [
        "/usr/bin/bpftrace", "-e", BPFTRACE_PROGRAM, "-c", "/bin/x 'a b'"
    ]  # fmt: skip
    assert "/pid == cpid/" in BPFTRACE_PROGRAM and "@[args->id] = count()" in BPFTRACE_PROGRAM
    for mode, kw in [
        (SETS_ONLY, {}),
        (BASELINE, {"out": "o"}),
        (BPFTRACE, {"bpftrace": None}),
    ]:
        with pytest.raises(ValueError):
            mode_argv(mode, cmd, **kw)  # type: ignore[arg-type]


def test_selected_modes_add_native_and_the_startup_baseline() -> None:
    assert selected_modes([STRACE]) == [NATIVE, STRACE]
    assert selected_modes([SETS_ONLY, STRACE]) == [NATIVE, STARTUP, STRACE, SETS_ONLY]
    assert selected_modes([BPFTRACE, EBPF]) == [NATIVE, STARTUP, EBPF, BPFTRACE]
    assert selected_modes(MODES) == list(MODES)


def test_settings_only_modes_and_redis_requests() -> None:
    args = ["--only", "redis,loop", "--modes", "sets-only,strace", "--redis-requests", "500"]
    st = bench_main.settings_from_args(bench_main.build_parser().parse_args(args))
    assert st.workloads == ("redis", "loop")
    assert st.modes == (NATIVE, STARTUP, STRACE, SETS_ONLY)
    assert st.redis_requests == 500
    assert st.explicit
    quick = bench_main.settings_from_args(bench_main.build_parser().parse_args(["--quick"]))
    assert quick.redis_requests == 10_000 and quick.modes == MODES and not quick.explicit


@pytest.mark.parametrize("argv", [["--modes", "perf"], ["--only", "loop,x"], ["--modes", ","]])
def test_bad_names_are_one_sentence_and_status_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        bench_main.build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


# --- issue 11: policy generation against the number of phases ---------------------


def test_synthetic_profile_has_the_phases_asked_for_and_is_a_valid_profile() -> None:
    profile = synthetic_profile(25)
    main, thread, fork, helper = profile.processes
    assert [p.name for p in main.phases] == ["start", *(f"m{k}" for k in range(1, 25))]
    assert {p.trigger for p in main.phases[1:]} == {"marker"}
    assert [p.name for p in thread.phases] == ["start", "m10", "m20"]
    assert fork.phases[0].name == "m12" and helper.executable == "/usr/bin/helper"
    assert profile_codec.decode(profile_codec.encode(profile), "synthetic") == profile
    with pytest.raises(ValueError):
        synthetic_profile(0)


def test_measure_generates_or_times_the_refusal() -> None:
    done = measure(10)
    assert done.refused is None and done.phases == 10
    assert (done.policy_bytes or 0) > done.profile_bytes > 0
    assert done.provenance_entries and done.allowed_entries
    refused = measure(MAX_PHASES + 1)
    assert refused.refused is not None and f"{MAX_PHASES + 1} phases" in refused.refused
    assert refused.policy_bytes is None and refused.generate_s is not None
    raised = measure(MAX_PHASES + 1, max_phases=MAX_PHASES + 1)
    assert raised.refused is None


def _gen(phases: int, refused: str | None = None) -> GenResult:
    if refused is not None:
        return GenResult(phases, 2048, 0.0002, None, None, None, None, 20480, 20480, 20480, refused)
    return GenResult(phases, 2048, 0.25, 0.5, 10240, 1234, 567, 20480, 30720, 102400)


def test_render_series_has_a_row_per_measurement() -> None:
    text = render_series([_gen(10), _gen(3000), _gen(3000, "too many phases")], 256)
    lines = text.splitlines()
    assert lines[2].split() == ["10", "2.0", "0.250", "10.0", "0.500", "10.0", "1,234", "100.0"]
    assert lines[3].split()[0] == "3,000"
    assert "refused (limit 256): too many phases" in lines[4]
    data = policygen.to_json([_gen(10)], 256)
    assert data["max_phases"] == 256
    assert data["series"] == [
        {
            "phases": 10,
            "profile_bytes": 2048,
            "generate_s": 0.25,
            "encode_s": 0.5,
            "policy_bytes": 10240,
            "provenance_entries": 1234,
            "allowed_entries": 567,
            "rss_before_kib": 20480,
            "peak_generate_kib": 30720,
            "peak_rss_kib": 102400,
            "refused": None,
        }
    ]
    json.dumps(data)


def test_policy_gen_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    parser = bench_main.build_parser()
    args = parser.parse_args(["--policy-gen", "--phases", "10,1_000"])
    assert args.policy_gen and args.phases == (10, 1000)
    assert parser.parse_args(["--policy-gen"]).phases is None
    for bad in (["--phases", "0"], ["--phases", ","], ["--phases", "x"]):
        with pytest.raises(SystemExit) as exc:
            parser.parse_args(bad)
        assert exc.value.code == 2
        assert capsys.readouterr().err.count("\n") == 1
    assert bench_main.main(["--phases", "10"]) == 2
    assert "--policy-gen" in capsys.readouterr().err
