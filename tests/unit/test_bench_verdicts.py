"""The benchmark's verdicts: each target (docs/design.md "Performance targets") met or missed.

Timed workloads are judged against strace and native, redis on its request
rate; a mode that did not run says why, and modes not asked for are left out.
"""

from __future__ import annotations

import pytest

from sysphase.bench.stats import (
    BASELINE,
    BPFTRACE,
    EBPF,
    NATIVE,
    PATHS,
    RECORD,
    SETS_ONLY,
    STARTUP,
    STRACE,
    SYSPHASE,
    summarise,
)
from sysphase.bench.verdicts import TARGETS, VerdictRow, verdicts
from tests.unit.bench_samples import every_mode, full_samples, redis_summary


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
    full = rows[TARGETS[RECORD].name]
    assert full.value == pytest.approx((60.3 - startup - native) / (strace - native))
    paths = rows[TARGETS[PATHS].name]
    assert paths.value == pytest.approx((61.0 - startup - native) / (strace - native))
    assert full.verdict == paths.verdict == "PASS"
    assert TARGETS["memory"].name not in rows  # measured on the loop only
    assert len(rows) == 7


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
