"""Where the commands' tables and trees go: rich on a terminal, plain text anywhere else.

On a terminal (the stream's ``isatty()``), `trace -c`, `trace --tree`,
`stats` and `diff` print the rich views of :mod:`sysphase.report.rich_views`;
pipes and files get the plain text, unchanged, and `--json` is never
touched. rich is imported only for a terminal, so piped commands do not pay
for it. A view that is None (too large or too deep for rich) falls back to
the plain text on the terminal too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

__all__ = ["console_for", "show"]


def console_for(stream: IO[str], color: str = "auto") -> Console | None:
    """A rich console writing to ``stream`` when it is a terminal, else None.

    ``color``: ``never`` draws without colors (rich also honours ``NO_COLOR``).
    Markup, emoji codes and highlighting are off: every text is shown as it is.
    """
    try:
        tty = stream.isatty()
    except (OSError, ValueError):  # a closed or detached stream
        tty = False
    if not tty:
        return None
    from rich.console import Console

    return Console(
        file=stream,
        color_system=None if color == "never" else "auto",
        markup=False,
        emoji=False,
        highlight=False,
    )


def show(console: Console, view: RenderableType | None, plain: Callable[[], str]) -> None:
    """Print ``view`` on the console, or, when it is None, the plain text."""
    if view is not None:
        console.print(view)
    else:
        console.file.write(plain())
