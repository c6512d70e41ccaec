"""What ``sysphase audit`` prints: one line (or JSON object) per record, and a summary.

A line: local time, pid, executable (and the policy's program when it is
another file, such as a patched copy), syscall and number, the filter's action,
and with a policy the phase and why::

    2026-12-07 08:30:12.437  pid 21418  /srv/bin/x  getppid (110)  kill_process  phase serve
    (the first of /srv/bin/x's phases that refuses getppid)

The summary counts records per (program, phase, syscall). Every name comes from
the records or the policy and is escaped for the terminal. Pure.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, tzinfo

from sysphase.model.audit_records import AuditRecord
from sysphase.policy.audit import Attribution
from sysphase.report.escape import terminal_safe

__all__ = ["Row", "record_json", "record_line", "summary_json", "summary_lines", "when"]

#: one record and what the policy says about it
Row = tuple[AuditRecord, Attribution]


def when(t: float, tz: tzinfo | None = None) -> str:
    """``2026-12-07 08:30:12.437`` in TZ (local time by default)."""
    stamp = datetime.fromtimestamp(t, tz)
    return f"{stamp:%Y-%m-%d %H:%M:%S}.{stamp.microsecond // 1000:03d}"


def _call(record: AuditRecord) -> str:
    if record.arch == "x86_64":
        return f"{record.syscall} ({record.nr})"
    return f"{record.syscall} ({record.nr}) [{record.arch}]"


def _who(record: AuditRecord, who: Attribution) -> str:
    exe = record.exe or f"[{record.comm}]"
    return exe if who.program in (record.exe, record.comm) else f"{exe} (program {who.program})"


def _phase(who: Attribution) -> str:
    if who.phase is not None:
        return f"phase {who.phase} ({who.note})"
    return f"({who.note})" if who.note else ""


def record_line(record: AuditRecord, who: Attribution, tz: tzinfo | None = None) -> str:
    """One record as a line of text (escaped)."""
    parts = [
        when(record.time, tz),
        f"pid {record.pid}",
        _who(record, who),
        _call(record),
        record.action,
        _phase(who),
    ]
    return terminal_safe("  ".join(p for p in parts if p))


def record_json(record: AuditRecord, who: Attribution) -> str:
    """One record as a JSON object on one line (ASCII)."""
    return json.dumps(
        {
            "time": record.time,
            "serial": record.serial,
            "pid": record.pid,
            "uid": record.uid,
            "comm": record.comm,
            "exe": record.exe,
            "program": who.program,
            "arch": record.arch,
            "syscall": record.syscall,
            "nr": record.nr,
            "action": record.action,
            "code": f"{record.code:#010x}",
            "signal": record.signal,
            "ip": f"{record.ip:#x}",
            "phase": who.phase,
            "note": who.note,
        }
    )


def _counts(rows: Sequence[Row]) -> list[tuple[tuple[str, str, str], int]]:
    """Records per (program, phase, syscall), in that order; "?" for an unknown phase."""
    counted = Counter(
        (
            who.program,
            who.phase or "?",
            r.syscall if r.arch == "x86_64" else f"{r.arch}:{r.syscall}",
        )
        for r, who in rows
    )
    return sorted(counted.items())


def summary_lines(
    rows: Sequence[Row], source: str, since: float | None, phases: bool, tz: tzinfo | None = None
) -> list[str]:
    """``N records from SOURCE since TIME:`` and one aligned line per (program, phase, call).

    PHASES: show the phase column (a policy was given).
    """
    after = f" since {when(since, tz)}" if since is not None else ""
    head = f"{len(rows)} record{'' if len(rows) == 1 else 's'} from {source}{after}"
    counts = _counts(rows)
    if not counts:
        return [terminal_safe(head)]
    table = [
        (program, f"phase {phase}" if phases else "", call, str(n))
        for (program, phase, call), n in counts
    ]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines = [terminal_safe(head + ":")]
    for row in table:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False) if w] + [row[3]]
        lines.append(terminal_safe("  " + "  ".join(cells)))
    return lines


def summary_json(rows: Sequence[Row], source: str, since: float | None, suppressed: int) -> str:
    """The summary as one JSON object: counts per (program, phase, syscall), source, since."""
    return json.dumps(
        {
            "summary": [
                {"program": p, "phase": None if ph == "?" else ph, "syscall": c, "records": n}
                for (p, ph, c), n in _counts(rows)
            ],
            "records": len(rows),
            "source": source,
            "since": since,
            "suppressed": suppressed,
        }
    )
