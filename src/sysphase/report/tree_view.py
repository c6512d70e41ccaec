"""The `trace --tree` view: the process tree with per-node totals."""

from __future__ import annotations

import shlex

from sysphase.model.tree import Node, NodeKind, ProcessTree


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
        lines.append(prefix + _node_line(tree, node))
    return "\n".join(lines) + "\n"
