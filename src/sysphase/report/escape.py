"""Names from profiles made safe to show: no raw control character reaches a terminal or a file.

Program paths, phase names and argv come from profiles and traces, which the
traced program chooses (a program can be named anything; a marker's phase
name is written by the program). Whatever prints them to a terminal passes
them through :func:`terminal_safe`; comments in generated files use
:func:`ascii_safe`. Both only add escapes: printable text comes out as it
went in, a backslash is doubled, and no two texts come out the same.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ascii_safe", "terminal_safe"]

_NAMED: Final = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _escape(ch: str) -> str:
    """One character as a visible escape: ``\\n``, ``\\x1b``, ``\\u0085``, ``\\U0001f600``.

    ``\\xNN`` is an ASCII character or, from ``\\x80`` up, a byte that was not
    UTF-8; characters are ``\\uNNNN``: no two texts look the same escaped.
    """
    named = _NAMED.get(ch)
    if named is not None:
        return named
    cp = ord(ch)
    if 0xDC80 <= cp <= 0xDCFF:  # a byte os.fsdecode could not decode: show that byte
        return f"\\x{cp - 0xDC00:02x}"
    if cp < 0x80:
        return f"\\x{cp:02x}"
    if cp <= 0xFFFF:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def terminal_safe(text: str) -> str:
    """``text`` with everything a terminal would act on, or could not print, escaped.

    Escaped: C0 controls (newline, tab and ESC too), DEL, C1 controls, lone
    surrogates (bytes that ``os.fsdecode`` could not decode come out as
    that byte, ``\\xff``), line and paragraph separators, format characters
    (bidi overrides, zero-width spaces), spaces other than the ASCII space,
    unassigned code points, and the backslash. Printable text in any script
    stays as it is.
    """
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape(c) if c == "\\" or not c.isprintable() else c for c in text)


def ascii_safe(text: str) -> str:
    """Like :func:`terminal_safe`, and every non-ASCII character escaped too: printable ASCII."""
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text
    return "".join(c if " " <= c <= "~" and c != "\\" else _escape(c) for c in text)
