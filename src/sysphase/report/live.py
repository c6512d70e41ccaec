"""Live trace lines: plain, colored (ANSI) or JSON, one per system call.

LiveRenderer keeps the little state strace keeps (whether more than one
process has been seen, so pids are shown) and turns batches of events into
text; writing it somewhere is the caller's business.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from sysphase.model.events import SyscallEvent
from sysphase.report import decode

ANSI = {
    "pid": "\x1b[35m",
    "name": "\x1b[1;36m",
    "string": "\x1b[32m",
    "number": "\x1b[33m",
    "flag": "\x1b[34m",
    "error": "\x1b[1;31m",
    "result": "\x1b[1m",
}
RESET = "\x1b[0m"


class LiveRenderer:
    """Render batches of events; `selected` filters by (arch, name) when given."""

    def __init__(
        self,
        *,
        color: bool = False,
        as_json: bool = False,
        selected: Callable[[SyscallEvent], bool] | None = None,
    ) -> None:
        self.color = color
        self.as_json = as_json
        self.selected = selected
        self._tids: set[int] = set()
        self._multi = False

    def render(self, events: Iterable[SyscallEvent]) -> str:
        out = []
        for ev in events:
            if not self._multi:
                self._tids.add(ev.pid)
                self._multi = len(self._tids) > 1
            if self.selected is not None and not self.selected(ev):
                continue
            if self.as_json:
                out.append(json.dumps(decode.to_json(ev), separators=(",", ":")))
            elif self.color:
                out.append(
                    "".join(
                        f"{ANSI[style]}{text}{RESET}" if style in ANSI else text
                        for text, style in decode.spans(ev, self._multi)
                    )
                )
            else:
                out.append(decode.format_line(ev, self._multi))
        return "\n".join(out) + "\n" if out else ""
