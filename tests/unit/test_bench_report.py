"""The benchmark's report: the text table (checked whole), its JSON, and the RSS format."""

from __future__ import annotations

import json

import pytest

from sysphase.bench.report import BenchInfo, format_rss, render_text, to_json
from sysphase.bench.stats import (
    BPFTRACE,
    EBPF,
    MODES,
    NATIVE,
    SETS_ONLY,
    STRACE,
    STRACE_MISSING,
    SYSPHASE,
    WorkloadSummary,
    summarise,
)
from tests.unit.bench_samples import CLASSIC, INFO, every_mode, full_samples, redis_summary, s

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

verdicts (targets: docs/design.md "Performance targets", issue 7)
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
