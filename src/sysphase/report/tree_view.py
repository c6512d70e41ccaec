"""The `trace --tree` view: the process tree with per-node totals.

Executables and argv are the traced program's: every label goes through
:func:`~sysphase.report.escape.terminal_safe` (no control character reaches
the terminal). :func:`render_tree` is the plain text (``├─``/``└─``, see
:mod:`~sysphase.report.text_tree`); :mod:`~sysphase.report.rich_views` draws
the same labels as a rich tree on a terminal.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from sysphase.model.tree import Count, Node, NodeKind, ProcessTree
from sysphase.report.escape import terminal_safe
from sysphase.report.text_tree import draw

__all__ = ["NodeLabel", "node_labels", "render_tree"]


@dataclass(frozen=True, slots=True)
class NodeLabel:
    """One node's line in parts: who (escaped), how it started and ended, its totals."""

    who: str
    kind: str
    end: str
    totals: str

    @property
    def text(self) -> str:
        return f"{self.who} ({self.kind}, {self.end}): {self.totals}"


def _who(node: Node) -> str:
    if node.kind is NodeKind.THREAD:
        return f"thread {node.pid}"
    args = " ".join(shlex.quote(a) for a in node.argv) or node.exe or "?"
    label = f"{node.pid} {args}"
    if node.exe and node.argv and node.exe.rsplit("/", 1)[-1] != node.argv[0].rsplit("/", 1)[-1]:
        label += f" [{node.exe}]"
    return label


def _label(node: Node, counts: list[Count]) -> NodeLabel:
    calls = sum(c.calls + c.unfinished for c in counts)
    errors = sum(c.errors for c in counts)
    distinct = len({(c.arch, c.nr) for c in counts})
    totals = f"{calls} calls, {errors} errors, {distinct} distinct"
    return NodeLabel(terminal_safe(_who(node)), node.kind.value, node.describe_end(), totals)


def node_labels(tree: ProcessTree) -> list[NodeLabel]:
    """The label of every node, by node index."""
    counts: list[list[Count]] = [[] for _ in tree.nodes]
    for c in tree.counts:
        counts[c.node].append(c)
    return [_label(node, counts[node.index]) for node in tree.nodes]


def render_tree(tree: ProcessTree) -> str:
    """One line per node, drawn under its parent; ends in a newline."""
    labels = node_labels(tree)
    lines = draw(
        tree.roots(),
        lambda node: [tree.nodes[c] for c in node.children],
        lambda node: labels[node.index].text,
    )
    return "\n".join(lines) + "\n"
