"""Render benchmark results as a text table or a JSON object.

Pure: takes :class:`~sysphase.bench.stats.WorkloadSummary` values and a
:class:`BenchInfo`, returns a string or a JSON-ready dict. Nothing here
reads a clock or runs a process, so the tests compare exact output.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sysphase.bench.stats import (
    MODE_LABELS,
    MODES,
    NATIVE,
    STARTUP,
    STRACE,
    SYSPHASE,
    TARGET_RATIO,
    Ratio,
    WorkloadSummary,
)
from sysphase.bench.verdicts import VerdictRow, verdicts

__all__ = ["JSON_SCHEMA", "BenchInfo", "format_rss", "render_text", "to_json"]

JSON_SCHEMA = "sysphase-bench/1"

RATIO_FORMULA = "(sysphase - native) / (strace - native)"

RSS_NOTE = (
    "peak RSS: ru_maxrss from wait4 (taken by a ~1 MiB C helper that starts each run), the\n"
    "largest of the process started and the processes it reaped; for sysphase and strace\n"
    "that is the tracer (the traced program's own is in the native row).\n"
)


@dataclass(frozen=True)
class BenchInfo:
    """How the benchmark ran: shown in the header and in the JSON."""

    rounds: int
    python: str
    strace: str | None
    """strace's version line, or ``None`` when strace is not installed."""
    kernel: str
    cpus: int
    target: float = TARGET_RATIO
    modes: tuple[str, ...] = MODES
    """The modes asked for (targets of other modes are left out of the verdicts)."""
    bpftrace: str | None = None
    """bpftrace's version line, or ``None`` when it is not installed."""


def format_rss(kib: int) -> str:
    """``18.9 MiB`` from KiB."""
    return f"{kib / 1024:.1f} MiB"


def _fmt_ratio(ratio: Ratio, target: float) -> str:
    if ratio.value is None:
        return "n/a"
    return f"{ratio.value:.3f} {ratio.verdict(target)}"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _header(info: BenchInfo) -> list[str]:
    strace = info.strace if info.strace is not None else "strace not installed"
    rounds = _plural(info.rounds, "round")
    return [
        f"sysphase benchmark: {rounds}, modes alternated within each round; "
        "times are wall-clock medians",
        f"{info.python} | {strace} | Linux {info.kernel} | {_plural(info.cpus, 'CPU')}"
        + (f" | {info.bpftrace}" if info.bpftrace else ""),
    ]


def _workload_lines(s: WorkloadSummary, target: float) -> list[str]:
    lines = [f"{s.name}: {s.description}", "  $ " + shlex.join(s.command)]
    if s.throughput:
        return lines + _throughput_lines(s)
    if s.modes:
        lines.append(
            f"  {'mode':<18}{'median s':>10}{'min s':>10}{'max s':>10}{'peak RSS':>12}{'runs':>6}"
        )
        for mode in MODES:
            m = s.modes.get(mode)
            if m is None:
                continue
            lines.append(
                f"  {mode:<18}{m.median_s:>10.3f}{m.min_s:>10.3f}{m.max_s:>10.3f}"
                f"{format_rss(m.peak_rss_kib):>12}{m.runs:>6}"
            )
    lines.extend(_unavailable_lines(s))
    if s.error is not None:
        lines.append(f"  error: {s.error}")
    sysphase = s.overhead_s(SYSPHASE)
    adjusted = s.overhead_s(SYSPHASE, subtract_startup=True)
    strace = s.overhead_s(STRACE)
    parts = []
    if sysphase is not None:
        text = f"sysphase {sysphase:+.3f} s"
        if adjusted is not None:
            text += f" ({adjusted:+.3f} s without start-up)"
        parts.append(text)
    if strace is not None:
        parts.append(f"strace {strace:+.3f} s")
    if parts:
        lines.append("  overhead over native: " + ", ".join(parts))
    if s.calls and adjusted is not None:
        per_call = f"  per call: sysphase {adjusted / s.calls * 1e6:.2f} us (start-up subtracted)"
        if strace is not None:
            per_call += f", strace {strace / s.calls * 1e6:.2f} us"
        lines.append(per_call)
    lines.append(f"  ratio {RATIO_FORMULA}, target <= {target:.2f}:")
    startup = s.startup_s
    raw_label = "raw (includes Python start-up"
    raw_label += f" {startup:.3f} s)" if startup is not None else ")"
    for label, ratio in (
        (raw_label, s.ratio_raw),
        ("Python start-up subtracted", s.ratio_startup_subtracted),
    ):
        shown = _fmt_ratio(ratio, target) if ratio.value is not None else ratio.reason
        lines.append(f"    {label:<40}{shown}")
    if len(s.round_ratios) > 1:
        each = ", ".join("n/a" if r.value is None else f"{r.value:.3f}" for r in s.round_ratios)
        lines.append(f"    {'each round alone, start-up subtracted':<40}{each}")
    return lines


def _unavailable_lines(s: WorkloadSummary) -> list[str]:
    return [f"  {mode:<18}{s.unavailable[mode]}" for mode in MODES if mode in s.unavailable]


def _throughput_lines(s: WorkloadSummary) -> list[str]:
    lines = []
    tests = list(dict.fromkeys(name for m in s.modes.values() for name, _ in m.rps))
    if s.modes:
        head = "".join(f"{t + ' req/s':>14}" for t in tests)
        lines.append(f"  {'mode':<18}{head}{'server s':>10}{'peak RSS':>12}{'runs':>6}")
        for mode in MODES:
            m = s.modes.get(mode)
            if m is None:
                continue
            rates = dict(m.rps)
            cells = "".join(f"{rates[t]:>14,.0f}" if t in rates else f"{'n/a':>14}" for t in tests)
            lines.append(
                f"  {mode:<18}{cells}{m.median_s:>10.3f}{format_rss(m.peak_rss_kib):>12}{m.runs:>6}"
            )
    lines.extend(_unavailable_lines(s))
    if s.error is not None:
        lines.append(f"  error: {s.error}")
    native = s.modes.get(NATIVE)
    if native is not None and native.throughput:
        for mode in MODES:
            m = s.modes.get(mode)
            if mode != NATIVE and m is not None and m.throughput is not None:
                lines.append(
                    f"  {mode:<18}{m.throughput / native.throughput:>8.3f} of native's rate"
                )
    return lines


def _fmt_value(row: VerdictRow) -> str:
    if row.value is None:
        return "n/a"
    if row.target.unit == "MiB":
        return f"{round(row.value, 1) or 0.0:+.1f} MiB"  # no "-0.0"
    return f"{row.value:.3f}"


def _verdict_lines(summaries: Sequence[WorkloadSummary], info: BenchInfo) -> list[str]:
    rows = verdicts(summaries, selected=info.modes)
    if not rows:
        return []
    lines = ['verdicts (targets: docs/design.md "Performance targets", issue 7)']
    for row in rows:
        note = f"; {row.note}" if row.note else ""
        lines.append(
            f"  {row.workload:<7}{_fmt_value(row):>9} {row.verdict:<5} "
            f"{row.target.describe()}{note}"
        )
    return lines


def _modes_lines(info: BenchInfo) -> list[str]:
    lines = ["modes:"]
    lines.extend(f"  {m:<18}{MODE_LABELS[m]}" for m in MODES if m in info.modes)
    return lines


def _summary_lines(summaries: Sequence[WorkloadSummary], target: float) -> list[str]:
    lines = [
        f"summary: ratio {RATIO_FORMULA}, target <= {target:.2f}",
        f"  {'workload':<10}{'raw':<14}{'start-up subtracted':<22}{'tracer peak RSS':>15}",
    ]
    for s in summaries:
        if s.throughput:
            continue
        tracer = s.modes.get(SYSPHASE)
        rss = format_rss(tracer.peak_rss_kib) if tracer is not None else "n/a"
        lines.append(
            f"  {s.name:<10}{_fmt_ratio(s.ratio_raw, target):<14}"
            f"{_fmt_ratio(s.ratio_startup_subtracted, target):<22}{rss:>15}"
        )
    reasons = {r.reason for s in summaries for r in (s.ratio_raw, s.ratio_startup_subtracted)}
    lines.extend(f"  n/a: {reason}" for reason in sorted(reasons) if reason)
    return lines


def render_text(summaries: Sequence[WorkloadSummary], info: BenchInfo) -> str:
    """The human-readable report: header, one block per workload, a summary."""
    lines = _header(info)
    for s in summaries:
        lines.append("")
        lines.extend(_workload_lines(s, info.target))
    lines.append("")
    lines.extend(_summary_lines(summaries, info.target))
    lines.append("")
    verdict = _verdict_lines(summaries, info)
    if verdict:
        lines.extend([*verdict, ""])
    if tuple(info.modes) != (NATIVE, SYSPHASE, STARTUP, STRACE):
        lines.extend([*_modes_lines(info), ""])
    return "\n".join(lines) + "\n" + RSS_NOTE


def _ratio_json(ratio: Ratio, target: float) -> dict[str, Any]:
    return {"value": ratio.value, "verdict": ratio.verdict(target), "reason": ratio.reason or None}


def _workload_json(s: WorkloadSummary, target: float) -> dict[str, Any]:
    return {
        "description": s.description,
        "command": list(s.command),
        "calls": s.calls,
        "modes": {
            mode: {
                "runs": m.runs,
                "times_s": list(m.times_s),
                "median_s": m.median_s,
                "min_s": m.min_s,
                "max_s": m.max_s,
                "peak_rss_kib": m.peak_rss_kib,
                "median_cpu_s": m.median_cpu_s,
                "requests_per_s": dict(m.rps) or None,
            }
            for mode, m in s.modes.items()
        },
        "unavailable": dict(s.unavailable),
        "throughput": s.throughput,
        "overhead_s": {
            SYSPHASE: s.overhead_s(SYSPHASE),
            "sysphase_startup_subtracted": s.overhead_s(SYSPHASE, subtract_startup=True),
            STRACE: s.overhead_s(STRACE),
        },
        "startup_s": s.startup_s,
        "native_s": s.modes[NATIVE].median_s if NATIVE in s.modes else None,
        "ratio": {
            "formula": RATIO_FORMULA,
            "target": target,
            "raw": _ratio_json(s.ratio_raw, target),
            "startup_subtracted": _ratio_json(s.ratio_startup_subtracted, target),
            "per_round_startup_subtracted": [r.value for r in s.round_ratios],
        },
        "tracer_peak_rss_kib": s.modes[SYSPHASE].peak_rss_kib if SYSPHASE in s.modes else None,
        "error": s.error,
    }


def to_json(summaries: Sequence[WorkloadSummary], info: BenchInfo) -> dict[str, Any]:
    """A JSON-ready dict (``schema`` ``sysphase-bench/1``): every number the text shows."""
    return {
        "schema": JSON_SCHEMA,
        "rounds": info.rounds,
        "target_ratio": info.target,
        "environment": {
            "python": info.python,
            "strace": info.strace,
            "kernel": info.kernel,
            "cpus": info.cpus,
            "bpftrace": info.bpftrace,
        },
        "modes": list(MODES),
        "modes_selected": list(info.modes),
        "startup_mode": STARTUP,
        "workloads": {s.name: _workload_json(s, info.target) for s in summaries},
        "verdicts": [
            {
                "workload": row.workload,
                "target": row.target.describe(),
                "limit": row.target.limit,
                "value": row.value,
                "verdict": row.verdict,
                "note": row.note or None,
            }
            for row in verdicts(summaries, selected=info.modes)
        ],
    }
