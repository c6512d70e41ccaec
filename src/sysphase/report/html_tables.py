"""`sysphase report`'s tables: syscalls per program and phase, the heatmap, the policy, the diff.

Pure. Each function returns one section of the page (HTML text) from the
data of :mod:`sysphase.report.html_view`. Tables are ``sortable``: rows
come sorted (most calls first, or by name), each numeric cell carries its
value in ``data-v`` for the page's small script, and each row of syscalls
its name in ``data-s`` for the filter. Every profile or policy text goes
through :func:`~sysphase.report.html_parts.esc`.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Callable, Collection, Sequence
from typing import Final

from sysphase.model.profile import SyscallStat
from sysphase.model.profile_diff import ProfileDiff
from sysphase.policy.explain import ACTION_TEXT
from sysphase.policy.ir import Policy
from sysphase.report.html_parts import PhaseColors, esc, fmt_ns
from sysphase.report.html_view import (
    CallRow,
    Heatmap,
    PhaseView,
    PolicyPhaseView,
    PolicyRow,
    ProgramView,
)

__all__ = ["MARKS", "diff_section", "heat_level", "heatmap_section", "policy_section",
           "syscalls_section", "table"]  # fmt: skip

#: the provenance marks of a policy's calls, in the order the page counts them
MARKS: Final = ("seen", "added", "by hand")
#: heatmap levels: h0 (made, no call counted) .. h7 (a million calls or more)
TOP_LEVEL: Final = 7

#: a column: heading, numeric (sorted as numbers, most first)
Column = tuple[str, bool]


def table(columns: Sequence[Column], rows: Sequence[str], cls: str = "", sorted_by: int = 0) -> str:
    """A sortable table whose rows (``<tr>`` text) come sorted by column SORTED_BY."""
    heads = []
    for i, (label, num) in enumerate(columns):
        attrs = ' class="n" data-num data-dir="descending"' if num else ' data-dir="ascending"'
        if i == sorted_by:
            attrs += f' aria-sort="{"descending" if num else "ascending"}"'
        heads.append(f"<th{attrs}>{label}</th>")
    return (
        f'<table class="sortable {cls}" data-sorted="{sorted_by}"><thead><tr>{"".join(heads)}'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _num(value: int, text: str | None = None, cls: str = "n") -> str:
    """A numeric cell: VALUE for sorting, TEXT shown (VALUE with separators if None)."""
    shown = f"{value:,}" if text is None else text
    return f'<td class="{cls}" data-v="{value}">{shown}</td>'


def _blank(n: int) -> str:
    return f"{n:,}" if n else ""


#: the optional columns of a phase's table: heading, and whether a row has something there
_OPTIONAL: Final[dict[str, Callable[[SyscallStat], bool]]] = {
    "errors": lambda s: s.errors > 0,
    "time": lambda s: s.time_ns > 0,
    "did not return": lambda s: s.unfinished > 0,
}


def _call_row(row: CallRow, shown: Collection[str], first_seen: bool) -> str:
    s = row.stat
    cells = [f'<td class="s">{esc(row.syscall)}</td>', _num(s.calls)]
    if "errors" in shown:
        cells.append(_num(s.errors, _blank(s.errors), "n err"))
    if "time" in shown:
        per = s.time_ns // s.calls if s.calls else 0
        cells.append(_num(s.time_ns, fmt_ns(s.time_ns) if s.time_ns else ""))
        cells.append(_num(per, fmt_ns(per) if per else ""))
    if "did not return" in shown:
        cells.append(_num(s.unfinished, _blank(s.unfinished)))
    if first_seen:
        cells.append(f'<td class="seen">{esc(row.first_seen)}</td>')
    return f'<tr data-s="{esc(row.syscall)}">{"".join(cells)}</tr>'


def _delta(phase: PhaseView) -> str:
    """What the phase drops against the one before, and what it adds."""
    if phase.previous is None:
        return '<p class="delta">first phase</p>'

    def names(keys: Sequence[str]) -> str:
        return " ".join(f"<code>{esc(k)}</code>" for k in keys) or "nothing"

    return (
        f'<p class="delta"><span class="minus">drops {len(phase.dropped)}</span> against '
        f"{esc(phase.previous)}: {names(phase.dropped)}<br>"
        f'<span class="plus">adds {len(phase.added)}</span>: {names(phase.added)}</p>'
    )


def _columns(phase: PhaseView) -> tuple[list[Column], set[str], str]:
    """The table's columns, the optional ones shown, and a note on those left out."""
    shown = {c for c, has in _OPTIONAL.items() if any(has(r.stat) for r in phase.rows)}
    columns: list[Column] = [("syscall", False), ("calls", True)]
    if "errors" in shown:
        columns.append(("errors", True))
    if "time" in shown:
        columns += [("time", True), ("per call", True)]
    if "did not return" in shown:
        columns.append(("did not return", True))
    if any(r.first_seen for r in phase.rows):
        columns.append(("first seen", False))
    missing = [c for c in ("errors", "time") if c not in shown]
    note = f"no {' or '.join(missing)} counted" if missing and phase.rows else ""
    return columns, shown, note


def _phase_table(phase: PhaseView, colors: PhaseColors) -> str:
    columns, shown, missing = _columns(phase)
    first_seen = columns[-1][0] == "first seen"
    rows = [_call_row(r, shown, first_seen) for r in phase.rows]
    triggers = ", ".join(esc(t) for t in phase.triggers)
    notes = [missing] if missing else []
    if phase.partial:
        notes.append(
            "seen in only some full runs: "
            + ", ".join(f"{esc(k)} ({n} runs)" for k, n in phase.partial)
        )
    note = f'<p class="note">{"; ".join(notes)}</p>' if notes else ""
    body = (
        f'<div class="scroll">{table(columns, rows, sorted_by=1)}</div>'
        if rows
        else '<p class="note">no system calls</p>'
    )
    return (
        f'<div class="phase"><h4><span class="chip {colors.of(phase.name)}">{esc(phase.name)}'
        f'</span> <span class="sub">{len(phase.rows)} syscalls · trigger {triggers}</span></h4>'
        f"{_delta(phase)}{note}{body}</div>"
    )


def syscalls_section(programs: Sequence[ProgramView], colors: PhaseColors) -> str:
    """Per program and phase: the sortable table of calls, errors and time, and the drops."""
    parts = []
    for p in programs:
        threads = f", {p.threads} thread{'' if p.threads == 1 else 's'}" if p.threads else ""
        parts.append(
            f'<h3 title="{esc(p.executable)}">{esc(p.executable)} <span class="sub">'
            f"{p.processes} process{'' if p.processes == 1 else 'es'}{threads}</span></h3>"
            f'<div class="phases">{"".join(_phase_table(ph, colors) for ph in p.phases)}</div>'
        )
    return _section("syscalls", "Syscalls per program and phase", "".join(parts) or "none")


def heat_level(calls: int) -> int:
    """0 for a call made but not counted, else 1 + log10(calls), at most TOP_LEVEL."""
    return 0 if calls <= 0 else min(TOP_LEVEL, 1 + int(math.log10(calls)))


def _compact(n: int) -> str:
    if n < 10_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1e3:.0f}k"
    return f"{n / 1e6:.1f}M"


def heatmap_section(heat: Heatmap, colors: PhaseColors) -> str:
    """Syscalls (rows) against every program's phases (columns), shaded by calls."""
    if not heat.rows:
        return _section("heatmap", "Heatmap", '<p class="note">no system calls</p>')
    programs = {exe for exe, _ in heat.columns}
    columns: list[Column] = [("syscall", False)]
    for exe, phase in heat.columns:
        who = "" if len(programs) == 1 else f"{esc(exe.rsplit('/', 1)[-1])}<br>"
        columns.append((f'{who}<span class="chip {colors.of(phase)}">{esc(phase)}</span>', True))
    rows = []
    for key, cells in heat.rows:
        tds = [f'<td class="s">{esc(key)}</td>']
        for (exe, phase), calls in zip(heat.columns, cells, strict=True):
            if calls is None:
                tds.append('<td class="h" data-v="-1"></td>')
                continue
            tip = f"{esc(key)} in {esc(exe)} {esc(phase)}: {calls:,} calls"
            tds.append(
                f'<td class="h h{heat_level(calls)}" data-v="{calls}" title="{tip}">'
                f"{_compact(calls) if calls else '·'}</td>"
            )
        rows.append(f'<tr data-s="{esc(key)}">{"".join(tds)}</tr>')
    note = (
        '<p class="note">calls per program and phase (completed and unfinished, all its '
        "processes and threads); · made but not counted (a run that kept no counts); empty: "
        "not made</p>"
    )
    body = f'{note}<div class="scroll fit">{table(columns, rows, "heat", sorted_by=-1)}</div>'
    return _section("heatmap", "Program &times; syscall heatmap across phases", body)


def _policy_row(r: PolicyRow) -> str:
    mark = r.mark.replace(" ", "-")
    extra = "".join(
        f"<div><small>{label} {esc(text)}</small></div>"
        for label, text in (("when", r.conditions), ("note:", r.note))
        if text
    )
    return (
        f'<tr data-s="{esc(r.syscall)}"><td class="s">{esc(r.syscall)}</td>'
        f'<td data-v="{esc(r.mark)}"><span class="mark {mark}">{esc(r.mark)}</span></td>'
        f"<td>{esc(r.source)}{extra}</td></tr>"
    )


def _policy_phase(view: PolicyPhaseView, colors: PhaseColors) -> str:
    counts = {m: sum(1 for r in view.allowed if r.mark == m) for m in MARKS}
    summary = "".join(
        f'<span class="mark {m.replace(" ", "-")}">{n} {m}</span>' for m, n in counts.items() if n
    )
    refused = (
        f'<span class="mark refused">{len(view.refused)} refused</span>' if view.refused else ""
    )
    rows = [_policy_row(r) for r in (*view.allowed, *view.refused)]
    columns: list[Column] = [("syscall", False), ("provenance", False), ("where from", False)]
    return (
        f'<div class="phase"><h4><span class="chip {colors.of(view.name)}">{esc(view.name)}'
        f'</span> <span class="sub">trigger {esc(view.trigger)} · {len(view.allowed)} allowed'
        f'</span></h4><p class="counts">{summary}{refused}</p>'
        f'<div class="scroll">{table(columns, rows)}</div></div>'
    )


def policy_section(
    policy: Policy, name: str, views: Sequence[PolicyPhaseView], colors: PhaseColors
) -> str:
    """Each program's phases of the policy: every allowed call with its provenance."""
    action = ACTION_TEXT.get(policy.default_action, policy.default_action)
    options = " ".join(f"--{k}" for k, v in policy.options.items() if v) or "none"
    head = (
        f'<p class="note">{esc(name)}: policy for <code>{esc(shlex.join(policy.command))}</code>'
        f" ({esc(policy.arch)}); default action {esc(policy.default_action)} ({esc(action)}); "
        f"options {esc(options)}. Provenance: <b>seen</b> recorded there (or where it says), "
        "<b>added</b> by sysphase on purpose (the enforcer, always-added calls, --portable), "
        "<b>by hand</b> (--allow).</p>"
    )
    parts = [head]
    for exe in dict.fromkeys(v.executable for v in views):
        phases = "".join(_policy_phase(v, colors) for v in views if v.executable == exe)
        parts.append(f'<h3>{esc(exe)}</h3><div class="phases">{phases}</div>')
    return _section("policy", "Policy: allowed syscalls and their provenance", "".join(parts))


def diff_section(result: ProfileDiff, name: str, other: str) -> str:
    """What the profile adds to (+) and removes from (-) OTHER, per program and phase."""
    head = (
        f'<p class="note">what {esc(name)} adds to (+) and removes from (&minus;) {esc(other)}, '
        f"as <code>sysphase diff {esc(other)} {esc(name)}</code> shows it</p>"
    )
    if result.arch_a != result.arch_b:
        head += (
            f'<p class="warn">{esc(other)} is {esc(result.arch_a)} and {esc(name)} is '
            f"{esc(result.arch_b)}: syscalls are compared by name</p>"
        )
    rows = []
    for p in result.programs:
        where = "" if p.in_a == p.in_b else (" (only here)" if p.in_b else f" (only in {other})")
        exe = f"{esc(p.executable)}{esc(where)}"
        if not p.phases:
            rows.append(f'<tr><td>{exe}</td><td colspan="3"></td></tr>')
        for ph in p.phases:
            added = " ".join(f"+{esc(k)}" for k in ph.added)
            removed = " ".join(f"&minus;{esc(k)}" for k in ph.removed)
            rows.append(
                f'<tr><td>{exe}</td><td>{esc(ph.name)}</td><td class="plus mono">{added}</td>'
                f'<td class="minus mono">{removed}</td></tr>'
            )
    if not rows:
        body = '<p class="note">no differences in system calls per program and phase</p>'
    else:
        columns = [("program", False), ("phase", False), ("added", False), ("removed", False)]
        body = table(columns, rows, "diffs")
    return _section("diff", "Diff", head + body)


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section class="card" id="{anchor}"><h2>{title}</h2>{body}</section>'
