"""Trees drawn in plain text: ``├─`` for a child with later siblings, ``└─`` for the last.

Used by the process trees of ``trace --tree`` and ``stats``::

    0 sh (spawn, exit 0)
    ├─ 1 thread 11 (thread, exit 0)
    └─ 2 sh (fork, exec)
       └─ 3 ls (exec, exit 0)

A line below a child that has later siblings is continued with ``│``. The
walk is iterative: a fork chain thousands deep draws like any other tree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Final, TypeVar

__all__ = ["BRANCH", "LAST", "PIPE", "SPACE", "draw", "walk"]

BRANCH: Final = "├─ "
LAST: Final = "└─ "
PIPE: Final = "│  "
SPACE: Final = "   "

_T = TypeVar("_T")


def walk(
    roots: Sequence[_T], children: Callable[[_T], Sequence[_T]]
) -> Iterator[tuple[str, int, _T]]:
    """Depth first, children in order: (the line's prefix, depth, item) for every item.

    Roots get no prefix; a child gets its parent's continuation and
    :data:`BRANCH`, or :data:`LAST` for the last child.
    """
    # (item, depth, prefix of its line, prefix of its children's lines)
    stack = [(root, 0, "", "") for root in reversed(roots)]
    while stack:
        item, depth, prefix, below = stack.pop()
        yield prefix, depth, item
        kids = children(item)
        for i in reversed(range(len(kids))):
            last = i == len(kids) - 1
            stack.append(
                (
                    kids[i],
                    depth + 1,
                    below + (LAST if last else BRANCH),
                    below + (SPACE if last else PIPE),
                )
            )


def draw(
    roots: Sequence[_T], children: Callable[[_T], Sequence[_T]], label: Callable[[_T], str]
) -> list[str]:
    """One line per item: its prefix (see :func:`walk`) and ``label(item)``."""
    return [prefix + label(item) for prefix, _, item in walk(roots, children)]
