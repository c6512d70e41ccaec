"""The `trace -c` summary table, laid out like strace -c.

Calls that never returned (exit_group, a thread killed inside a call) are
not in strace's table; they are listed under it so nothing is hidden.
Times are wall-clock time from syscall entry to exit stop (strace -c -w).
"""

from __future__ import annotations

from collections.abc import Iterable

from sysphase.model.events import X86_64
from sysphase.model.tree import SyscallTotal

RULE = "------ ----------- ----------- --------- --------- ----------------"
HEADER = "% time     seconds  usecs/call     calls    errors syscall"


def _label(row: SyscallTotal, native: str) -> str:
    return row.name if row.arch == native else f"{row.name} ({row.arch})"


def render_summary(rows: Iterable[SyscallTotal], native: str = X86_64, timed: bool = True) -> str:
    """Render totals (already sorted) as strace's -c table; returns text ending in a newline.

    With ``timed=False`` (a backend that measures no time) the time columns show ``-``.
    """
    rows = list(rows)
    if not timed:
        return _untimed(rows, native)
    counted = [r for r in rows if r.calls]
    total_ns = sum(r.time_ns for r in counted)
    total_calls = sum(r.calls for r in counted)
    total_errors = sum(r.errors for r in counted)
    lines = [HEADER, RULE]
    for r in counted:
        pct = 100.0 * r.time_ns / total_ns if total_ns else 0.0
        usecs = r.time_ns // 1000 // r.calls if r.calls else 0
        errors = str(r.errors) if r.errors else ""
        lines.append(
            f"{pct:6.2f} {r.time_ns / 1e9:11.6f} {usecs:11d} {r.calls:9d} {errors:>9} "
            f"{_label(r, native)}"
        )
    lines.append(RULE)
    errors = str(total_errors) if total_errors else ""
    usecs = total_ns // 1000 // total_calls if total_calls else 0
    pct = 100.0 if total_ns else 0.0
    lines.append(
        f"{pct:6.2f} {total_ns / 1e9:11.6f} {usecs:11d} {total_calls:9d} {errors:>9} total"
    )
    unfinished = [r for r in rows if r.unfinished]
    if unfinished:
        listed = ", ".join(f"{_label(r, native)} {r.unfinished}" for r in unfinished)
        lines.append(f"did not return (not counted above, as in strace): {listed}")
    return "\n".join(lines) + "\n"


def _untimed(rows: list[SyscallTotal], native: str) -> str:
    """The -c table with its time columns shown as not measured; rows by calls."""
    counted = sorted((r for r in rows if r.calls), key=lambda r: (-r.calls, r.arch, r.name))
    lines = [HEADER, RULE]
    for r in counted:
        errors = str(r.errors) if r.errors else ""
        lines.append(f"{'-':>6} {'-':>11} {'-':>11} {r.calls:9d} {errors:>9} {_label(r, native)}")
    lines.append(RULE)
    total_errors = sum(r.errors for r in counted)
    errors = str(total_errors) if total_errors else ""
    total_calls = sum(r.calls for r in counted)
    lines.append(f"{'-':>6} {'-':>11} {'-':>11} {total_calls:9d} {errors:>9} total")
    unfinished = [r for r in rows if r.unfinished]
    if unfinished:
        listed = ", ".join(f"{_label(r, native)} {r.unfinished}" for r in unfinished)
        lines.append(f"did not return (not counted above, as in strace): {listed}")
    lines.append("times not measured (eBPF backend: calls and errors only)")
    return "\n".join(lines) + "\n"
