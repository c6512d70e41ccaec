"""`sysphase report`'s process tree: the nodes as a tree, and each run's nodes on a time axis.

Pure. :func:`tree_html` lists every node of the profile under its parent
(``├─``/``└─``, :func:`sysphase.report.text_tree.walk`): id, program, how it
was created, how it ended, its phases with their distinct syscalls, argv.
:func:`run_svg` draws one run's timeline (:mod:`sysphase.model.timeline`) as
inline SVG, made here so the page needs no script to show it: a row per
node in tree order, a line for its life, a bar per phase in the phase's
colour, a mark where it began (started, forked, a thread, exec'd), a tick
at each phase switch, a mark where it ended (a cross when killed), ticks
below the bar at each syscall's first call, a dashed line from the parent's
row down to where the child began; every mark has a tooltip (``<title>``).
Times are from the run's start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

from sysphase.model.profile import ProcessNode, Profile
from sysphase.model.timeline import NodeTimes, Timeline
from sysphase.model.tree import NodeKind
from sysphase.report.html_parts import PhaseColors, esc, fmt_ns, nice_step
from sysphase.report.profile_view import tree_of
from sysphase.report.text_tree import walk

#: nanoseconds from the run's start -> x
Scale = Callable[[float], float]

__all__ = ["KIND_TEXT", "ROW_LIMIT", "TREE_LIMIT", "legend_html", "run_svg", "tree_html"]

#: x where the time axis begins (labels to its left), the drawing's width, row height
X0: Final = 340
WIDTH: Final = 1240
RIGHT: Final = 24
ROW: Final = 22
TOP: Final = 30
BAR: Final = 10
#: the most nodes drawn per run and listed in the tree; the most first-call ticks per node,
#: and per run (shared by its rows: a run of many nodes gets fewer per node)
ROW_LIMIT: Final = 300
TREE_LIMIT: Final = 2000
CALL_TICKS: Final = 150
RUN_TICKS: Final = 3000
#: the longest tree prefix a label keeps (a deep chain is cut from the left)
PREFIX_MAX: Final = 24
LABEL_CHARS: Final = 44

#: how each kind of node came to be, in words
KIND_TEXT: Final = {
    NodeKind.SPAWN: "started",
    NodeKind.ATTACH: "attached",
    NodeKind.FORK: "forked",
    NodeKind.VFORK: "vforked",
    NodeKind.CLONE: "cloned",
    NodeKind.THREAD: "thread",
    NodeKind.EXEC: "exec'd",
}


def _base(executable: str) -> str:
    return executable.rsplit("/", 1)[-1] or executable or "?"


def _phase_chips(node: ProcessNode, colors: PhaseColors) -> str:
    return "".join(
        f'<span class="chip {colors.of(p.name)}" title="trigger {esc(p.trigger)}">'
        f"{esc(p.name)} <small>{len(p.syscalls)}</small></span>"
        for p in sorted(node.phases, key=lambda p: (p.index, p.name))
    )


def tree_html(profile: Profile, colors: PhaseColors) -> str:
    """The process tree as lines under their parents (at most TREE_LIMIT nodes)."""
    roots, children = tree_of(profile)
    lines: list[str] = []
    for prefix, _depth, node in walk(roots, lambda n: children.get(n.id, [])):
        if len(lines) == TREE_LIMIT:
            lines.append(f'<div class="more">… {len(profile.processes) - TREE_LIMIT} more</div>')
            break
        end = node.exit if node.exit is not None else "end unknown"
        killed = " killed" if end.startswith("killed") else ""
        fragment = ' <span class="tag">fragment only</span>' if node.from_fragment else ""
        lines.append(
            f'<div class="tn" data-node="{node.id}"><span class="pre">{esc(prefix)}</span>'
            f'<span class="nid">{node.id}</span> <b title="{esc(node.executable)}">'
            f"{esc(_base(node.executable))}</b> "
            f'<span class="kind k-{node.created.value}">{KIND_TEXT[node.created]}</span> '
            f'<span class="end{killed}">{esc(end)}</span>{fragment} {_phase_chips(node, colors)}'
            f' <code class="argv">{esc(" ".join(node.argv))}</code></div>'
        )
    return f'<div class="tree">{"".join(lines) or "no processes"}</div>'


def _rows(profile: Profile, timeline: Timeline) -> list[tuple[str, NodeTimes]]:
    """The run's nodes in tree order with their tree prefix."""
    times = {t.node: t for t in timeline.nodes if 0 <= t.node < len(profile.processes)}
    kids: dict[int, list[int]] = {}
    roots = []
    for nid in sorted(times):
        parent = profile.processes[nid].parent
        if parent is not None and parent in times:
            kids.setdefault(parent, []).append(nid)
        else:
            roots.append(nid)
    return [(prefix, times[n]) for prefix, _, n in walk(roots, lambda n: kids.get(n, []))]


def _span(rows: Sequence[tuple[str, NodeTimes]]) -> int:
    ends = [0]
    for _, t in rows:
        ends += [t.start_ns, t.end_ns or 0, *(p.began_ns for p in t.phases)]
        ends += [c.last_ns for c in t.calls]
    return max(max(ends), 1)


def _axis(span: int, scale: Scale, height: int) -> list[str]:
    step = nice_step(span)
    out = [f'<line class="axis" x1="{X0}" y1="{TOP - 6}" x2="{WIDTH - RIGHT}" y2="{TOP - 6}"/>']
    t = 0.0
    while t <= span:
        x = scale(t)
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{TOP - 10}" x2="{x:.1f}" y2="{height}"/>')
        label = fmt_ns(t) if t else "0"
        out.append(f'<text class="tick" x="{x:.1f}" y="{TOP - 14}">{label}</text>')
        t += step
    return out


def _start_mark(kind: NodeKind, x: float, y: float) -> str:
    if kind is NodeKind.EXEC:
        return f'<path class="m-exec" d="M{x:.1f} {y - 6}l6 6l-6 6l-6 -6z"/>'
    if kind is NodeKind.THREAD:
        return f'<rect class="m-thread" x="{x - 4:.1f}" y="{y - 4}" width="8" height="8"/>'
    if kind in (NodeKind.SPAWN, NodeKind.ATTACH):
        return f'<path class="m-spawn" d="M{x - 3:.1f} {y - 6}l9 6l-9 6z"/>'
    return f'<circle class="m-fork" cx="{x:.1f}" cy="{y}" r="4.5"/>'


def _end_mark(end: str, x: float, y: float) -> str:
    if end.startswith("killed"):
        return f'<path class="m-killed" d="M{x - 5:.1f} {y - 5}l10 10m0 -10l-10 10"/>'
    return f'<line class="m-end" x1="{x:.1f}" y1="{y - 7}" x2="{x:.1f}" y2="{y + 7}"/>'


def _label(prefix: str, node: ProcessNode, y: float) -> str:
    """The row's label: tree prefix, id, program's base name, how it was created."""
    if len(prefix) > PREFIX_MAX:
        prefix = "…" + prefix[-PREFIX_MAX + 1 :]
    text = f"{node.id} {_base(node.executable)}"
    room = max(LABEL_CHARS - len(prefix), 8)
    if len(text) > room:
        text = text[: room - 1] + "…"
    return (
        f'<text class="lbl" x="8" y="{y + 4:.1f}"><tspan class="pre">{esc(prefix)}</tspan>'
        f'{esc(text)} <tspan class="kind">{KIND_TEXT[node.created]}</tspan></text>'
    )


def _phase_bars(t: NodeTimes, end: int, scale: Scale, y: float, colors: PhaseColors) -> list[str]:
    """A bar per phase in its colour, and a tick at each switch after the first."""
    out = []
    for i, p in enumerate(t.phases):
        until = t.phases[i + 1].began_ns if i + 1 < len(t.phases) else end
        x1, x2 = scale(p.began_ns), scale(max(until, p.began_ns))
        out.append(
            f'<rect class="ph {colors.of(p.name)}" x="{x1:.1f}" y="{y - BAR / 2}" '
            f'width="{max(x2 - x1, 1.5):.1f}" height="{BAR}"><title>phase {esc(p.name)}: '
            f"{fmt_ns(p.began_ns)} to {fmt_ns(until)}</title></rect>"
        )
        if i:
            out.append(
                f'<line class="switch" x1="{x1:.1f}" y1="{y - 9}" x2="{x1:.1f}" y2="{y + 9}">'
                f"<title>switch to {esc(p.name)} at {fmt_ns(p.began_ns)}</title></line>"
            )
    return out


def _call_ticks(t: NodeTimes, scale: Scale, y: float, most: int) -> list[str]:
    """A short tick below the bar at each (phase, syscall)'s first call (the MOST earliest)."""
    out = []
    for c in sorted(t.calls, key=lambda c: c.first_ns)[:most]:
        x = scale(c.first_ns)
        out.append(
            f'<line class="call" x1="{x:.1f}" y1="{y + BAR / 2 + 1}" x2="{x:.1f}" '
            f'y2="{y + BAR / 2 + 5}"><title>{esc(c.syscall)} ({esc(c.phase)}): first '
            f"{fmt_ns(c.first_ns)}, last {fmt_ns(c.last_ns)}</title></line>"
        )
    return out


def _node_row(
    prefix: str, t: NodeTimes, node: ProcessNode, y: float, scale: Scale, span: int
) -> tuple[list[str], str]:
    """The row's label and life line, and the tooltip that names the node."""
    end = t.end_ns if t.end_ns is not None else span
    how = node.exit if node.exit is not None else "end unknown"
    x1, x2 = scale(t.start_ns), scale(max(end, t.start_ns))
    title = (
        f"{node.id} {node.executable} ({KIND_TEXT[node.created]}, {how}): "
        f"{fmt_ns(t.start_ns)} to {fmt_ns(end) if t.end_ns is not None else 'the end (unknown)'}"
    )
    life = "life" if t.end_ns is not None else "life open"
    out = [
        _label(prefix, node, y),
        f'<line class="{life}" x1="{x1:.1f}" y1="{y}" x2="{x2:.1f}" y2="{y}"/>',
    ]
    return out, title


def run_svg(profile: Profile, timeline: Timeline, colors: PhaseColors) -> str:
    """One run drawn on a time axis (at most ROW_LIMIT nodes), as an inline <svg>."""
    rows = _rows(profile, timeline)
    shown = rows[:ROW_LIMIT]
    span = _span(shown)
    height = TOP + ROW * len(shown) + 8

    def scale(ns: float) -> float:
        return X0 + ns / span * (WIDTH - RIGHT - X0)

    parts = _axis(span, scale, height)
    y_of = {t.node: TOP + ROW * i + ROW / 2 for i, (_, t) in enumerate(shown)}
    ticks = min(CALL_TICKS, RUN_TICKS // max(len(shown), 1))
    for prefix, t in shown:
        node, y = profile.processes[t.node], y_of[t.node]
        row, title = _node_row(prefix, t, node, y, scale, span)
        if node.parent in y_of:
            x = scale(t.start_ns)
            row.insert(0, f'<line class="link" x1="{x:.1f}" y1="{y_of[node.parent]}" '
                          f'x2="{x:.1f}" y2="{y}"/>')  # fmt: skip
        end = t.end_ns if t.end_ns is not None else span
        row += _phase_bars(t, end, scale, y, colors)
        row += _call_ticks(t, scale, y, ticks)
        row.append(_start_mark(node.created, scale(t.start_ns), y))
        if t.end_ns is not None:
            row.append(_end_mark(node.exit or "", scale(t.end_ns), y))
        parts.append(f'<g class="row" data-node="{node.id}"><title>{esc(title)}</title>'
                     f'{"".join(row)}</g>')  # fmt: skip
    more = len(rows) - len(shown)
    note = f'<p class="more">… {more} more nodes of this run not drawn</p>' if more > 0 else ""
    return (
        f'<svg class="timeline" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="process tree on a time axis">{"".join(parts)}</svg>{note}'
    )


def legend_html(colors: PhaseColors) -> str:
    """What the marks and colours of :func:`run_svg` mean."""
    marks = [
        ('<path class="m-spawn" d="M5 2l9 6l-9 6z"/>', "started"),
        ('<circle class="m-fork" cx="9" cy="8" r="4.5"/>', "forked"),
        ('<rect class="m-thread" x="5" y="4" width="8" height="8"/>', "thread"),
        ('<path class="m-exec" d="M9 2l6 6l-6 6l-6 -6z"/>', "exec'd"),
        ('<line class="switch" x1="9" y1="0" x2="9" y2="16"/>', "phase switch"),
        ('<line class="m-end" x1="9" y1="1" x2="9" y2="15"/>', "ended"),
        ('<path class="m-killed" d="M4 3l10 10m0 -10l-10 10"/>', "killed"),
        ('<line class="call" x1="9" y1="5" x2="9" y2="11"/>', "a syscall's first call"),
    ]
    items = [
        f'<span class="lg"><svg width="18" height="16" viewBox="0 0 18 16">{m}</svg>{t}</span>'
        for m, t in marks
    ]
    items += [
        f'<span class="lg"><span class="chip {colors.of(n)}">{esc(n)}</span></span>'
        for n in colors.names()
    ]
    return f'<div class="legend">{"".join(items)}</div>'
