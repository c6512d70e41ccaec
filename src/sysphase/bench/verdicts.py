"""Benchmark verdicts: each performance target against what the rounds measured.

Pure, like :mod:`.stats`: :func:`verdicts` takes the
:class:`~sysphase.bench.stats.WorkloadSummary` values and gives one
:class:`VerdictRow` per target that applies (docs/design.md, "Performance
targets"; issue 7): ``trace -c`` and ``record --sets-only`` against
``strace -f -c``, ``record --baseline`` and ``--backend ebpf`` against the
program alone, ``--backend ebpf`` against a bpftrace one-liner, the tracer's
memory growth on the loop, and redis's requests per second under
``record --sets-only`` against ``strace -f -c``. A target whose modes did
not run carries the reason instead of a value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sysphase.bench.stats import (
    BASELINE,
    BPFTRACE,
    EBPF,
    MODES,
    NATIVE,
    PATHS,
    RECORD,
    SETS_ONLY,
    STARTUP,
    STRACE,
    SYSPHASE,
    TARGET_RATIO,
    ModeStats,
    Ratio,
    Verdict,
    WorkloadSummary,
    overhead_ratio,
    time_ratio,
    verdict,
)

__all__ = ["MEMORY_LIMIT_MIB", "TARGETS", "Target", "VerdictRow", "verdicts"]


@dataclass(frozen=True)
class Target:
    """One performance target of docs/design.md / issue 7."""

    name: str
    """What is compared, as the report shows it."""
    limit: float
    at_least: bool = False
    """True when the value must reach the limit (throughput), False when stay under it."""
    unit: str = "x"
    """``x`` for a ratio, ``MiB`` for memory."""

    def describe(self) -> str:
        op = ">=" if self.at_least else "<="
        return f"{self.name} {op} {self.limit:g}{' MiB' if self.unit == 'MiB' else ''}"


MEMORY_LIMIT_MIB = 4.0
"""Allowed growth of the tracer's peak RSS from tracing /bin/true to the 1,000,000-call loop."""

TARGETS = {
    SYSPHASE: Target("trace -c overhead / strace -f -c overhead", TARGET_RATIO),
    SETS_ONLY: Target("record --sets-only overhead / strace -f -c overhead", 0.5),
    RECORD: Target("record overhead / strace -f -c overhead", TARGET_RATIO),
    PATHS: Target("record --paths overhead / strace -f -c overhead", 1.5),
    BASELINE: Target("record --baseline time / native", 1.1),
    EBPF: Target("--backend ebpf time / native", 1.1),
    BPFTRACE: Target("--backend ebpf time / bpftrace one-liner time", 1.0),
    "redis": Target("redis rps under record --sets-only / under strace -f -c", 2.0, at_least=True),
    "memory": Target(
        "trace -c peak RSS growth over tracing /bin/true", MEMORY_LIMIT_MIB, unit="MiB"
    ),
}
"""Keyed by the mode they judge ("redis" and "memory" are not modes)."""


@dataclass(frozen=True)
class VerdictRow:
    """One target on one workload: the measured value, or why there is none."""

    target: Target
    workload: str
    value: float | None
    note: str = ""
    """How the value was taken ("start-up subtracted"), or why it is missing."""

    @property
    def verdict(self) -> Verdict:
        return verdict(self.value, self.target.limit, at_least=self.target.at_least)


def _missing(s: WorkloadSummary, modes: Sequence[str]) -> str | None:
    """Why a comparison cannot be made: the first mode without samples, and its reason."""
    for m in modes:
        if m not in s.modes:
            return f"{m}: {s.unavailable.get(m, 'not measured')}"
    return None


def _row(
    s: WorkloadSummary, key: str, needs: Sequence[str], compute: Callable[[], Ratio], note: str
) -> VerdictRow:
    missing = _missing(s, needs)
    if missing is not None:
        return VerdictRow(TARGETS[key], s.name, None, missing)
    ratio = compute()
    return VerdictRow(
        TARGETS[key], s.name, ratio.value, note if ratio.value is not None else ratio.reason
    )


def verdicts(
    summaries: Sequence[WorkloadSummary], *, selected: Sequence[str] = MODES
) -> list[VerdictRow]:
    """Every target that applies to the workloads and modes measured.

    Python modes are compared with the ``sysphase-startup`` time taken off
    (the interpreter's start-up is not tracing cost); the bpftrace
    comparison uses raw times, each tool's own start-up included. Targets
    whose modes were not selected are left out; selected modes that did not
    run give a row with the reason.
    """
    chosen = set(selected)
    return [
        _row(s, check.key, check.needs, check.compute, check.note)
        for s in summaries
        for check in _checks(s)
        if check.selected <= chosen
    ]


@dataclass(frozen=True)
class _Check:
    """One target on one workload: the modes it is selected by, needs, and how to compute it."""

    key: str
    selected: frozenset[str]
    needs: tuple[str, ...]
    compute: Callable[[], Ratio]
    note: str


def _checks(s: WorkloadSummary) -> list[_Check]:
    """The targets of one workload, in report order."""
    m = s.modes

    def rps() -> Ratio:
        return _rps_ratio(m[SETS_ONLY], m[STRACE])

    def growth() -> Ratio:
        return Ratio((m[SYSPHASE].peak_rss_kib - m[STARTUP].peak_rss_kib) / 1024)

    if s.throughput:
        mean = "mean of the SET and GET rates"
        return [_Check("redis", frozenset({SETS_ONLY, STRACE}), (SETS_ONLY, STRACE), rps, mean)]
    checks = _time_checks(s)
    if s.name == "loop":
        calls = f"{s.calls:,} calls" if s.calls else ""
        checks.append(_Check("memory", frozenset({SYSPHASE}), (SYSPHASE, STARTUP), growth, calls))
    return checks


def _over_strace(s: WorkloadSummary, mode: str) -> _Check:
    """MODE's overhead over strace's, the Python start-up subtracted."""

    def ratio() -> Ratio:
        startup = s.modes[STARTUP].median_s
        native, strace = s.modes[NATIVE].median_s, s.modes[STRACE].median_s
        return overhead_ratio(s.modes[mode].median_s - startup, native, strace)

    needs = (NATIVE, mode, STARTUP, STRACE)
    return _Check(mode, frozenset({mode, STRACE}), needs, ratio, "start-up subtracted")


def _time_checks(s: WorkloadSummary) -> list[_Check]:
    """The time targets: the Python modes with the start-up subtracted, bpftrace raw."""

    def med(mode: str) -> float:
        return s.modes[mode].median_s

    def sub(mode: str) -> float:
        return med(mode) - med(STARTUP)

    started = "start-up subtracted"
    on_find = "" if s.name == "find" else "; the target is set on find /usr"
    return [
        _Check(
            SYSPHASE,
            frozenset({SYSPHASE, STRACE}),
            (NATIVE, SYSPHASE, STARTUP, STRACE),
            lambda: s.ratio_startup_subtracted,
            started,
        ),
        *(_over_strace(s, mode) for mode in (SETS_ONLY, RECORD, PATHS)),
        _Check(
            BASELINE,
            frozenset({BASELINE}),
            (NATIVE, BASELINE, STARTUP),
            lambda: time_ratio(sub(BASELINE), med(NATIVE)),
            started,
        ),
        _Check(
            EBPF,
            frozenset({EBPF}),
            (NATIVE, EBPF, STARTUP),
            lambda: time_ratio(sub(EBPF), med(NATIVE)),
            started + on_find,
        ),
        _Check(
            BPFTRACE,
            frozenset({EBPF, BPFTRACE}),
            (EBPF, BPFTRACE),
            lambda: time_ratio(med(EBPF), med(BPFTRACE)),
            "raw times",
        ),
    ]


def _rps_ratio(mode: ModeStats, base: ModeStats) -> Ratio:
    if mode.throughput is None or base.throughput is None:
        return Ratio(None, "redis-benchmark printed no rate")
    if not base.throughput > 0:
        return Ratio(None, "no requests under strace: ratio not computed")
    return Ratio(mode.throughput / base.throughput)
