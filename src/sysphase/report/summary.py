"""The `trace -c` summary table, laid out like strace -c.

Calls that never returned (exit_group, a thread killed inside a call) are
not in strace's table; they are listed under it so nothing is hidden.
Times are wall-clock time from syscall entry to exit stop (strace -c -w).
:func:`summary_table` gives the cells, :func:`render_summary` the plain text;
:mod:`~sysphase.report.rich_views` draws the same cells as a rich table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sysphase.model.events import X86_64
from sysphase.model.tree import SyscallTotal

__all__ = ["COLUMNS", "HEADER", "RULE", "SummaryTable", "render_summary", "summary_table"]

RULE = "------ ----------- ----------- --------- --------- ----------------"
HEADER = "% time     seconds  usecs/call     calls    errors syscall"

#: (heading, width) of each column; the last one, the syscall, is not padded.
COLUMNS: Final = (
    ("% time", 6),
    ("seconds", 11),
    ("usecs/call", 11),
    ("calls", 9),
    ("errors", 9),
    ("syscall", 0),
)


@dataclass(frozen=True, slots=True)
class SummaryTable:
    """The cells of the -c table (one string per column of :data:`COLUMNS`) and its notes."""

    rows: list[tuple[str, ...]]
    total: tuple[str, ...]
    #: lines under the table: calls that never returned, times not measured
    notes: list[str]


def _label(row: SyscallTotal, native: str) -> str:
    return row.name if row.arch == native else f"{row.name} ({row.arch})"


def _errors(n: int) -> str:
    return str(n) if n else ""


def _timed_row(time_ns: int, total_ns: int, calls: int, errors: int, label: str) -> tuple[str, ...]:
    pct = 100.0 * time_ns / total_ns if total_ns else 0.0
    usecs = time_ns // 1000 // calls if calls else 0
    return (f"{pct:.2f}", f"{time_ns / 1e9:.6f}", str(usecs), str(calls), _errors(errors), label)


def summary_table(
    rows: Iterable[SyscallTotal], native: str = X86_64, timed: bool = True
) -> SummaryTable:
    """The cells of totals (already sorted when timed; untimed rows are sorted by calls).

    With ``timed=False`` (a backend that measures no time) the time columns show ``-``.
    """
    rows = list(rows)
    counted = [r for r in rows if r.calls]
    if not timed:
        counted.sort(key=lambda r: (-r.calls, r.arch, r.name))
    total_ns = sum(r.time_ns for r in counted)
    total_calls = sum(r.calls for r in counted)
    total_errors = sum(r.errors for r in counted)
    if timed:
        cells = [
            _timed_row(r.time_ns, total_ns, r.calls, r.errors, _label(r, native)) for r in counted
        ]
        pct = "100.00" if total_ns else "0.00"
        total = (pct, *_timed_row(total_ns, total_ns, total_calls, total_errors, "total")[1:])
    else:
        cells = [
            ("-", "-", "-", str(r.calls), _errors(r.errors), _label(r, native)) for r in counted
        ]
        total = ("-", "-", "-", str(total_calls), _errors(total_errors), "total")
    notes = []
    unfinished = [r for r in rows if r.unfinished]
    if unfinished:
        listed = ", ".join(f"{_label(r, native)} {r.unfinished}" for r in unfinished)
        notes.append(f"did not return (not counted above, as in strace): {listed}")
    if not timed:
        notes.append("times not measured (eBPF backend: calls and errors only)")
    return SummaryTable(cells, total, notes)


def _line(cells: tuple[str, ...]) -> str:
    padded = [cell.rjust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True)]
    return " ".join(padded)


def render_summary(rows: Iterable[SyscallTotal], native: str = X86_64, timed: bool = True) -> str:
    """Render totals (already sorted) as strace's -c table; returns text ending in a newline.

    With ``timed=False`` (a backend that measures no time) the time columns show ``-``.
    """
    table = summary_table(rows, native, timed)
    lines = [HEADER, RULE, *(_line(r) for r in table.rows), RULE, _line(table.total), *table.notes]
    return "\n".join(lines) + "\n"
