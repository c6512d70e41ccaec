"""The `trace --tree` view: the process tree with per-node totals.

Executables and argv are the traced program's: every line goes through
:func:`~sysphase.report.escape.terminal_safe` (no control character reaches
the terminal).
"""

from __future__ import annotations

import shlex

from sysphase.model.tree import Node, NodeKind, ProcessTree
from sysphase.report.escape import terminal_safe


def _node_line(tree: ProcessTree, node: Node) -> str:
    counts = tree.counts_of(node.index)
    calls = sum(c.calls + c.unfinished for c in counts)
    errors = sum(c.errors for c in counts)
    distinct = len({(c.arch, c.nr) for c in counts})
    what = node.kind.value
    if node.kind is NodeKind.THREAD:
        label = f"thread {node.pid}"
    else:
        args = " ".join(shlex.quote(a) for a in node.argv) or node.exe or "?"
        label = f"{node.pid} {args}"
        if (
            node.exe
            and node.argv
            and node.exe.rsplit("/", 1)[-1] != node.argv[0].rsplit("/", 1)[-1]
        ):
            label += f" [{node.exe}]"
    return (
        f"{label} ({what}, {node.describe_end()}): {calls} calls, {errors} errors, "
        f"{distinct} distinct"
    )


def render_tree(tree: ProcessTree) -> str:
    """One line per node, indented under its parent; ends in a newline."""
    lines = []
    for depth, node in tree.walk():
        prefix = "" if depth == 0 else "  " * (depth - 1) + "└─ "
        lines.append(prefix + terminal_safe(_node_line(tree, node)))
    return "\n".join(lines) + "\n"
