"""Benchmark statistics: medians, overhead ratios and verdicts.

Pure: no processes, no clocks, no files. The runner hands in one
:class:`Sample` per run; :func:`summarise` turns a workload's samples into a
:class:`WorkloadSummary` that the report module renders.

The ratio is ``(sysphase - native) / (strace - native)`` on median wall
times, target at most :data:`TARGET_RATIO` (docs/design.md, "Performance
targets"). ``sysphase`` runs the real command line, so its time includes the
Python interpreter's start-up; the ``sysphase-startup`` mode (the same
command tracing ``/bin/true``) measures that, and the ratio is given both
raw and with that start-up subtracted.

The other modes (``record --sets-only``, ``record --baseline``,
``--backend ebpf``, a bpftrace one-liner) and the redis workload (requests
per second from ``redis-benchmark``) are judged against their targets by
:mod:`.verdicts`; a mode that could not run carries its reason instead.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "BASELINE",
    "BPFTRACE",
    "EBPF",
    "MIN_BASE_S",
    "MIN_STRACE_OVERHEAD_REL",
    "MIN_STRACE_OVERHEAD_S",
    "MODES",
    "MODE_LABELS",
    "NATIVE",
    "PATHS",
    "PYTHON_MODES",
    "RECORD",
    "SETS_ONLY",
    "STARTUP",
    "STRACE",
    "STRACE_MISSING",
    "SYSPHASE",
    "TARGET_RATIO",
    "ModeStats",
    "Ratio",
    "Sample",
    "Verdict",
    "WorkloadSummary",
    "median",
    "mode_stats",
    "overhead_ratio",
    "parse_redis_benchmark",
    "round_ratios",
    "summarise",
    "time_ratio",
    "verdict",
]

NATIVE = "native"
"""The workload alone."""
SYSPHASE = "sysphase"
"""``python -m sysphase trace -c -o /dev/null -- CMD``."""
STARTUP = "sysphase-startup"
"""``python -m sysphase trace -c -o /dev/null -- /bin/true``: the start-up baseline."""
STRACE = "strace"
"""``strace -f -c -o /dev/null CMD``."""
SETS_ONLY = "sets-only"
"""``python -m sysphase record --sets-only -o TMP -- CMD``."""
RECORD = "record"
"""``python -m sysphase record -o TMP -- CMD`` (in full: the default)."""
PATHS = "record-paths"
"""``python -m sysphase record --paths -o TMP -- CMD`` (in full, noting paths and ports)."""
BASELINE = "baseline"
"""``python -m sysphase record --baseline PROFILE -o TMP -- CMD`` (PROFILE recorded first)."""
EBPF = "ebpf"
"""``python -m sysphase trace -c --backend ebpf -o /dev/null -- CMD``."""
BPFTRACE = "bpftrace"
"""``bpftrace -e 'tracepoint:raw_syscalls:sys_enter /pid == cpid/ {...}' -c CMD``."""
MODES = (NATIVE, SYSPHASE, STARTUP, STRACE, RECORD, PATHS, SETS_ONLY, BASELINE, EBPF, BPFTRACE)
"""Every mode, in the order reports list them."""
PYTHON_MODES = (SYSPHASE, STARTUP, RECORD, PATHS, SETS_ONLY, BASELINE, EBPF)
"""Modes that run sysphase's command line, so include the Python start-up."""
MODE_LABELS = {
    NATIVE: "the program alone",
    SYSPHASE: "sysphase trace -c",
    STARTUP: "sysphase trace -c /bin/true",
    STRACE: "strace -f -c",
    RECORD: "sysphase record (every call stopped at entry and exit)",
    PATHS: "sysphase record --paths (the same, noting paths and ports)",
    SETS_ONLY: "sysphase record --sets-only",
    BASELINE: "sysphase record --baseline",
    EBPF: "sysphase trace -c --backend ebpf",
    BPFTRACE: "bpftrace one-liner (the root process)",
}
"""What each mode runs, for the report."""

TARGET_RATIO = 1.0
"""``trace -c`` overhead no more than ``strace -f -c``'s (docs/design.md)."""

MIN_STRACE_OVERHEAD_S = 1e-3
"""Below this (seconds), strace's overhead is noise: the ratio is not computed."""
MIN_STRACE_OVERHEAD_REL = 0.01
"""... nor below this fraction of the native time."""

STRACE_MISSING = "strace not installed: ratio not computed"

Verdict = Literal["PASS", "MISS", "n/a"]


@dataclass(frozen=True)
class Sample:
    """One measured run."""

    seconds: float
    """Wall time from spawning the process to reaping it."""
    max_rss_kib: int
    """``ru_maxrss`` from ``wait4``: the largest of the process and the children it reaped."""
    cpu_seconds: float
    """User plus system time of the process and the children it reaped."""
    rps: tuple[tuple[str, float], ...] = ()
    """Server workloads: requests per second per client test (``SET``, ``GET``)."""

    @property
    def throughput(self) -> float | None:
        """The mean requests per second over the tests, ``None`` without any."""
        return sum(v for _, v in self.rps) / len(self.rps) if self.rps else None


@dataclass(frozen=True)
class ModeStats:
    """One mode's runs on one workload, summarised."""

    mode: str
    times_s: tuple[float, ...]
    median_s: float
    min_s: float
    max_s: float
    peak_rss_kib: int
    median_cpu_s: float
    rps: tuple[tuple[str, float], ...] = ()
    """Server workloads: the median requests per second of each client test."""

    @property
    def runs(self) -> int:
        return len(self.times_s)

    @property
    def throughput(self) -> float | None:
        """The mean of :attr:`rps` over the tests, ``None`` for timed workloads."""
        return sum(v for _, v in self.rps) / len(self.rps) if self.rps else None


@dataclass(frozen=True)
class Ratio:
    """An overhead ratio, or ``None`` with the reason it could not be computed."""

    value: float | None
    reason: str = ""

    def verdict(self, target: float = TARGET_RATIO) -> Verdict:
        return verdict(self.value, target)


@dataclass(frozen=True)
class WorkloadSummary:
    """Everything the report shows about one workload."""

    name: str
    description: str
    command: tuple[str, ...]
    modes: Mapping[str, ModeStats]
    """Only the modes that ran, in :data:`MODES` order."""
    ratio_raw: Ratio
    """``(sysphase - native) / (strace - native)`` on medians."""
    ratio_startup_subtracted: Ratio
    """The same with the median ``sysphase-startup`` time taken off sysphase's."""
    round_ratios: tuple[Ratio, ...] = ()
    """The start-up-subtracted ratio of each round on its own (modes paired by round)."""
    calls: int | None = None
    """The number of system calls the workload makes, when known (``loop``)."""
    error: str | None = None
    """Why the workload stopped early, or ``None``."""
    unavailable: Mapping[str, str] = field(default_factory=dict)
    """Modes that could not run, each with its reason ("unavailable: ...", "skipped: ...")."""
    throughput: bool = False
    """A server workload: judged by requests per second, not by time."""

    def overhead_s(self, mode: str, *, subtract_startup: bool = False) -> float | None:
        """Median time of ``mode`` minus native's (and minus the start-up baseline)."""
        if mode not in self.modes or NATIVE not in self.modes:
            return None
        extra = self.modes[mode].median_s - self.modes[NATIVE].median_s
        if subtract_startup:
            if STARTUP not in self.modes:
                return None
            extra -= self.modes[STARTUP].median_s
        return extra

    @property
    def startup_s(self) -> float | None:
        return self.modes[STARTUP].median_s if STARTUP in self.modes else None


def median(values: Sequence[float]) -> float:
    """The median; the mean of the two middle values for an even count."""
    if not values:
        raise ValueError("median of no values")
    if any(math.isnan(v) for v in values):
        raise ValueError("median of values that include NaN")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def mode_stats(mode: str, samples: Sequence[Sample]) -> ModeStats:
    """Summarise one mode's samples (at least one)."""
    if not samples:
        raise ValueError(f"no samples for mode {mode!r}")
    times = tuple(s.seconds for s in samples)
    tests = list(dict.fromkeys(name for s in samples for name, _ in s.rps))
    rps = tuple(
        (name, median([v for s in samples for n, v in s.rps if n == name])) for name in tests
    )
    return ModeStats(
        mode=mode,
        times_s=times,
        median_s=median(times),
        min_s=min(times),
        max_s=max(times),
        peak_rss_kib=max(s.max_rss_kib for s in samples),
        median_cpu_s=median([s.cpu_seconds for s in samples]),
        rps=rps,
    )


def overhead_ratio(
    traced_s: float,
    native_s: float,
    strace_s: float,
    *,
    min_abs_s: float = MIN_STRACE_OVERHEAD_S,
    min_rel: float = MIN_STRACE_OVERHEAD_REL,
) -> Ratio:
    """``(traced - native) / (strace - native)``.

    When strace's overhead is within noise of zero (below ``min_abs_s``
    seconds or ``min_rel`` of the native time, or negative) the ratio means
    nothing and is not computed. A negative ratio (traced faster than native,
    by noise) is returned as it is.
    """
    denominator = strace_s - native_s
    floor = max(min_abs_s, min_rel * abs(native_s))
    if not denominator >= floor:  # also catches NaN
        return Ratio(
            None,
            f"strace's overhead ({denominator * 1e3:+.3f} ms) is within noise of native:"
            " ratio not computed",
        )
    return Ratio((traced_s - native_s) / denominator)


def verdict(
    value: float | None, target: float = TARGET_RATIO, *, at_least: bool = False
) -> Verdict:
    """PASS when ``value`` is at most ``target`` (``at_least``: at least), MISS if not.

    ``n/a`` without a value.
    """
    if value is None:
        return "n/a"
    if at_least:
        return "PASS" if value >= target else "MISS"
    return "PASS" if value <= target else "MISS"


MIN_BASE_S = 0.01
"""A time ratio over a base shorter than this (seconds) is noise: not computed."""


def time_ratio(mode_s: float, base_s: float, *, min_base_s: float = MIN_BASE_S) -> Ratio:
    """``mode / base`` (e.g. a traced time over the native one).

    Not computed when the base is shorter than ``min_base_s``: start-up
    noise would decide the ratio.
    """
    if not base_s >= min_base_s:  # also NaN
        return Ratio(
            None, f"the base time ({base_s * 1e3:.1f} ms) is within noise: ratio not computed"
        )
    return Ratio(mode_s / base_s)


def summarise(
    name: str,
    description: str,
    command: Sequence[str],
    samples: Mapping[str, Sequence[Sample]],
    *,
    calls: int | None = None,
    error: str | None = None,
    strace_installed: bool = True,
    unavailable: Mapping[str, str] | None = None,
    throughput: bool = False,
) -> WorkloadSummary:
    """Turn one workload's samples per mode into medians and ratios.

    Modes without samples are left out (a workload that failed part-way).
    """
    modes = {m: mode_stats(m, samples[m]) for m in MODES if samples.get(m)}
    raw, adjusted = _ratios(modes, strace_installed)
    if throughput:
        none = Ratio(None, "a server workload: judged by requests per second")
        raw, adjusted = none, none
    return WorkloadSummary(
        name=name,
        description=description,
        command=tuple(command),
        modes=modes,
        ratio_raw=raw,
        ratio_startup_subtracted=adjusted,
        round_ratios=() if throughput else round_ratios(samples),
        calls=calls,
        error=error,
        unavailable=dict(unavailable or {}),
        throughput=throughput,
    )


def round_ratios(samples: Mapping[str, Sequence[Sample]]) -> tuple[Ratio, ...]:
    """The start-up-subtracted ratio of each complete round, from that round's runs alone.

    Sample ``i`` of every mode belongs to round ``i``. Pairing by round
    keeps a slow spell of the machine out of the comparison: its spread
    shows how far the medians can be trusted.
    """
    needed = (NATIVE, SYSPHASE, STARTUP, STRACE)
    rounds = min((len(samples.get(m, ())) for m in needed), default=0)
    return tuple(
        overhead_ratio(
            samples[SYSPHASE][i].seconds - samples[STARTUP][i].seconds,
            samples[NATIVE][i].seconds,
            samples[STRACE][i].seconds,
        )
        for i in range(rounds)
    )


def _ratios(modes: Mapping[str, ModeStats], strace_installed: bool) -> tuple[Ratio, Ratio]:
    if not strace_installed:
        return Ratio(None, STRACE_MISSING), Ratio(None, STRACE_MISSING)
    missing = [m for m in (NATIVE, SYSPHASE, STRACE) if m not in modes]
    if missing:
        reason = f"not measured ({', '.join(missing)} did not run): ratio not computed"
        return Ratio(None, reason), Ratio(None, reason)
    native = modes[NATIVE].median_s
    strace = modes[STRACE].median_s
    traced = modes[SYSPHASE].median_s
    raw = overhead_ratio(traced, native, strace)
    if STARTUP not in modes:
        adjusted = Ratio(None, "sysphase-startup did not run: ratio not computed")
    else:
        adjusted = overhead_ratio(traced - modes[STARTUP].median_s, native, strace)
    return raw, adjusted


_RPS_LINE = re.compile(r"^\s*(?P<test>[A-Za-z_][\w ]*?):\s+(?P<rps>[\d.]+) requests per second")


def parse_redis_benchmark(text: str) -> tuple[tuple[str, float], ...]:
    """``redis-benchmark -q`` output -> ((test, requests per second), ...) in order.

    Progress updates are separated by carriage returns; only completed
    lines (``SET: 81234.50 requests per second, p50=0.3 msec``) count.
    Raises ValueError when there is none.
    """
    found: dict[str, float] = {}
    for line in re.split(r"[\r\n]+", text):
        hit = _RPS_LINE.match(line)
        if hit:
            found[hit.group("test").strip()] = float(hit.group("rps"))
    if not found:
        raise ValueError("no 'requests per second' line in redis-benchmark's output")
    return tuple(found.items())
