"""How strace prints values: numbers, hex, octal modes, flag sets, named values, quoted bytes.

The building blocks of :mod:`sysphase.report.decode`: strace's ``printflags``
(:func:`flags_text`), ``printxval`` (:func:`value_text`) and string quoting
(:func:`quote`), and the copy limits of the C core that decide when a string
or buffer is shown as truncated.
"""

from __future__ import annotations

from typing import Final

from sysphase.report import _xlat as X

__all__ = [
    "BUF_MAX",
    "MASK32",
    "MASK64",
    "STRING_MAX",
    "STRV_MAX",
    "flags_text",
    "hex_text",
    "octal",
    "quote",
    "s32",
    "utf8",
    "value_text",
]

#: What the C core copies: at most this many bytes of a C string (a string
#: whose data is this long is shown as truncated), of a buffer, and of a
#: string array in total.
STRING_MAX: Final = 256
BUF_MAX: Final = 32
STRV_MAX: Final = 256

MASK32: Final = 0xFFFFFFFF
MASK64: Final = 0xFFFFFFFFFFFFFFFF

_C_ESCAPES: Final = {0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f", 0x0D: "\\r"}


def s32(v: int) -> int:
    """The low 32 bits of ``v`` as a signed int."""
    v &= MASK32
    return v - (1 << 32) if v & 0x80000000 else v


def hex_text(v: int) -> str:
    """``0x1f``, or ``0`` for zero (strace's ``%#x``)."""
    return f"{v:#x}" if v else "0"


def octal(v: int) -> str:
    """A mode as strace prints it: ``0644``, ``000``."""
    return ("0" + format(v, "o") if v else "0").rjust(3, "0")


def flags_text(value: int, table: X.Flags, zero: str = "0", prefix: str | None = None) -> str:
    """strace's printflags: names in table order, leftover bits in hex."""
    parts: list[str] = []
    rest = value
    for bits, name in table:
        if bits and rest & bits == bits:
            parts.append(name)
            rest &= ~bits
    if rest:
        if not parts and prefix:
            return f"{rest:#x} /* {prefix}??? */"
        parts.append(f"{rest:#x}")
    return "|".join(parts) if parts else zero


def value_text(value: int, table: X.Values, prefix: str) -> str:
    """strace's printxval: the name, or hex with a ``/* PREFIX??? */`` comment."""
    name = table.get(value)
    return name if name is not None else f"{value:#x} /* {prefix}??? */"


def quote(data: bytes, hex_escapes: bool = False) -> str:
    """Quote bytes the way strace does (\\n, \\t, octal for the rest)."""
    out = ['"']
    for i, c in enumerate(data):
        if hex_escapes:
            out.append(f"\\x{c:02x}")
        elif c == 0x22:
            out.append('\\"')
        elif c == 0x5C:
            out.append("\\\\")
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        elif c in _C_ESCAPES:
            out.append(_C_ESCAPES[c])
        elif i + 1 < len(data) and 0x30 <= data[i + 1] <= 0x37:
            out.append(f"\\{c:03o}")
        else:
            out.append(f"\\{c:o}")
    out.append('"')
    return "".join(out)


def utf8(data: bytes) -> str:
    """Bytes as text for JSON: UTF-8, anything else as backslash escapes."""
    return data.decode("utf-8", "backslashreplace")
