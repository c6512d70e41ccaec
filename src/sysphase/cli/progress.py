"""record's progress on stderr: one line per run in a pipe, one updating line on a terminal.

In a pipe or a file every run's line is kept (``run 2 of 5: 0 new syscalls``),
as scripts and the tests read them. On a terminal, a run that found nothing
new only updates a status line in place (``\\r`` and erase-line), so a
recording of hundreds of runs (``--runs``, ``--until-stable``,
``--workload``) shows where it is without scrolling; a run that found new
calls, a warning and the final ``wrote ...`` line are kept.
"""

from __future__ import annotations

import shutil
from typing import IO

__all__ = ["Progress"]

_ERASE = "\r\x1b[2K"


class Progress:
    """The progress output of one recording on STREAM."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        try:
            self.tty = stream.isatty()
        except (OSError, ValueError):
            self.tty = False
        self.pending = False  # a status line is on the screen, without its newline

    def run(self, text: str, found: bool) -> None:
        """A run's line: kept when it FOUND something new (or not on a terminal)."""
        if not self.tty or found:
            self.keep(text)
            return
        width = shutil.get_terminal_size((80, 24)).columns
        shown = text if len(text) < width else text[: max(width - 4, 1)] + "..."
        self.stream.write(_ERASE + shown)
        self.stream.flush()
        self.pending = True

    def keep(self, text: str) -> None:
        """A line that stays (a warning, a result)."""
        self.done()
        self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        """Erase the status line, if one is shown."""
        if self.pending:
            self.stream.write(_ERASE)
            self.stream.flush()
            self.pending = False
