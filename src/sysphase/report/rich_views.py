"""The terminal views: rich tables and trees of what the plain text views show.

The CLI prints these when its output is a terminal (the choice is the CLI's:
``sysphase.cli.terminal``); pipes and files get the plain text of
:mod:`~sysphase.report.summary`, :mod:`~sysphase.report.tree_view` and
:mod:`~sysphase.report.profile_view`, from the same cells and labels. Every
name is escaped by those modules (:func:`~sysphase.report.escape.terminal_safe`)
and reaches rich as a :class:`~rich.text.Text`, never as markup: a program
named ``[bold]x`` is shown as such.

rich lays out about a thousand table rows or tree nodes a second, and a tree
deeper than the terminal is wide cannot be drawn: views larger than
:data:`MAX_ROWS`, or trees deeper than the width allows, are None, and the CLI
prints the plain text instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, TypeVar

from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from sysphase.model.events import X86_64
from sysphase.model.profile import Profile
from sysphase.model.profile_diff import ProfileDiff
from sysphase.model.tree import ProcessTree, SyscallTotal
from sysphase.report.profile_view import (
    STAT_COLUMNS,
    PhaseTable,
    diff_view,
    node_label,
    stats_view,
    tree_of,
)
from sysphase.report.summary import COLUMNS, summary_table
from sysphase.report.text_tree import walk
from sysphase.report.tree_view import NodeLabel, node_labels

__all__ = ["MAX_ROWS", "diff", "process_tree", "stats", "summary", "trace_tree"]

#: The most rows (or tree nodes) a rich view has; larger ones are printed as plain text.
MAX_ROWS: Final = 2000
#: Columns a tree label keeps at the deepest level, besides rich's 4 per level.
_LABEL_ROOM: Final = 24

_T = TypeVar("_T")


def summary(rows: Sequence[SyscallTotal], native: str = X86_64, timed: bool = True) -> Group:
    """The `trace -c` table (see :func:`~sysphase.report.summary.render_summary`)."""
    cells = summary_table(rows, native, timed)
    table = Table(box=box.SIMPLE, show_edge=False, show_footer=True, pad_edge=False)
    for i, (heading, _) in enumerate(COLUMNS):
        last = i == len(COLUMNS) - 1
        table.add_column(
            Text(heading), footer=Text(cells.total[i]), justify="left" if last else "right"
        )
    for row in cells.rows:
        table.add_row(*(Text(cell) for cell in row))
    return Group(table, *(Text(note) for note in cells.notes))


def _tree(
    roots: Sequence[_T],
    children: Callable[[_T], Sequence[_T]],
    label: Callable[[_T], Text],
    width: int,
) -> Tree | None:
    """A rich tree of the items, or None when it has too many or is too deep for ``width``."""
    items = list(walk(roots, children))
    deepest = max((depth for _, depth, _ in items), default=0)
    if len(items) > MAX_ROWS or 4 * deepest + _LABEL_ROOM > width:
        return None
    top = Tree(Text(""), hide_root=True, guide_style="dim")
    branch: list[Tree] = [top]  # branch[d]: the tree node items of depth d are added to
    for _, depth, item in items:
        del branch[depth + 1 :]
        branch.append(branch[depth].add(label(item)))
    return top


def _trace_label(label: NodeLabel) -> Text:
    end_style = "red" if label.end.startswith("killed") else ""
    return Text.assemble(
        (label.who, "bold"), f" ({label.kind}, ", (label.end, end_style), f"): {label.totals}"
    )


def trace_tree(tree: ProcessTree, width: int) -> Tree | None:
    """The `trace --tree` view, or None when it does not fit (see the module doc)."""
    labels = node_labels(tree)
    return _tree(
        tree.roots(),
        lambda node: [tree.nodes[c] for c in node.children],
        lambda node: _trace_label(labels[node.index]),
        width,
    )


def process_tree(profile: Profile, width: int) -> RenderableType | None:
    """The process tree of `stats`, or None when it does not fit (see the module doc)."""
    roots, children = tree_of(profile)
    if not roots:
        return Text("no processes")
    return _tree(
        roots, lambda node: children.get(node.id, []), lambda n: Text(node_label(n)), width
    )


def _phase(phase: PhaseTable, width: int) -> RenderableType:
    title = Text(f"phase {phase.name}")
    if phase.empty:
        return Padding(Group(title, Text("  (no system calls)")), (0, 0, 0, 2), expand=False)
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE,
        show_edge=False,
        show_footer=True,
        pad_edge=False,
    )
    table.add_column(Text("syscall"), footer=Text(phase.total[0]), min_width=width)
    for i, (heading, _) in enumerate(STAT_COLUMNS, start=1):
        table.add_column(Text(heading), footer=Text(phase.total[i]), justify="right")
    for row in phase.rows:
        table.add_row(*(Text(cell) for cell in row))
    notes: list[RenderableType] = []
    if phase.unfinished:
        notes.append(Text(f"did not return (not counted above): {phase.unfinished}"))
    if phase.partial:
        notes.append(Text(f"seen in only some runs: {phase.partial}"))
    return Padding(Group(table, *notes) if notes else table, (0, 0, 0, 2), expand=False)


def stats(profile: Profile) -> Group | None:
    """`stats`: a table per program and phase, or None when there are too many rows."""
    view = stats_view(profile)
    rows = sum(len(phase.rows) + 2 for program in view.programs for phase in program.phases)
    if rows > MAX_ROWS:
        return None
    parts: list[RenderableType] = [Text(view.header[0], style="bold")]
    parts += [Text(line) for line in view.header[1:]]
    for program in view.programs:
        parts += [Text(""), Text(program.heading, style="bold")]
        parts += [_phase(phase, view.width) for phase in program.phases]
    if not view.programs:
        parts += [Text(""), Text("no processes")]
    return Group(*parts)


def diff(result: ProfileDiff) -> Group | None:
    """`diff`: per program and phase, the syscalls B adds (+, green) and removes (-, red)."""
    notes, programs = diff_view(result)
    lines = sum(1 + len(p.phases) for p in programs)
    lines += sum(len(ph.added) + len(ph.removed) for p in programs for ph in p.phases)
    if lines > MAX_ROWS:
        return None
    top = Tree(Text(""), hide_root=True, guide_style="dim")
    for program in programs:
        node = top.add(Text(program.heading, style="bold"))
        for phase in program.phases:
            under = node.add(Text(f"phase {phase.name}"))
            for key in phase.added:
                under.add(Text(f"+ {key}", style="green"))
            for key in phase.removed:
                under.add(Text(f"- {key}", style="red"))
    parts: list[RenderableType] = [Text(note) for note in notes]
    return Group(*parts, top) if programs else Group(*parts)
