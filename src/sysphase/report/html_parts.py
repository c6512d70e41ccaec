"""Small pieces every part of `sysphase report`'s HTML page shares: escaping, times, colours.

Pure. Every text taken from a profile or policy (a program chooses its own
name, argv and phase names) goes through :func:`esc`: first
:func:`~sysphase.report.escape.terminal_safe` (control characters, bidi
overrides and undecodable bytes become visible escapes, so the page is valid
UTF-8 and shows what is really there), then :func:`html.escape` (``<``,
``>``, ``&`` and both quotes). Phases get one colour each, by name, in the
order the page first meets them (:class:`PhaseColors`), the same in the
time axis, the tables and the heatmap.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import Final

from sysphase.report.escape import terminal_safe

__all__ = ["PALETTE_SIZE", "PhaseColors", "esc", "fmt_ns", "nice_step"]

#: phase colour classes in the stylesheet: p0 .. p7 (then they repeat)
PALETTE_SIZE: Final = 8


def esc(text: object) -> str:
    """TEXT made safe inside HTML text and attribute values (quotes escaped)."""
    return html.escape(terminal_safe(str(text)), quote=True)


def fmt_ns(ns: float) -> str:
    """A duration or time in the unit that reads best: ``850 ns``, ``12.4 µs``, ``3.20 s``."""
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1e3:.1f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e9:.2f} s"


def nice_step(span: float, ticks: int = 8) -> float:
    """A tick spacing of 1, 2 or 5 times a power of ten giving about TICKS ticks over SPAN."""
    raw = max(span / ticks, 1.0)
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * power:
            return float(m * power)
    return float(10 * power)


class PhaseColors:
    """Phase name -> colour class (``p0`` .. ``p7``), in the order names are first met."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._index: dict[str, int] = {}
        for name in names:
            self.of(name)

    def of(self, name: str) -> str:
        """The class of phase NAME (a new name gets the next colour)."""
        i = self._index.setdefault(name, len(self._index))
        return f"p{i % PALETTE_SIZE}"

    def names(self) -> list[str]:
        return list(self._index)
