"""One event being decoded: its raw values in the tracee's word size and the basic argument shapes.

:class:`Ctx` wraps a :class:`~sysphase.model.events.SyscallEvent`; its
methods render one argument as an :class:`Arg` (styled spans for the text
line and a JSON value): numbers, pointers, file descriptors, C strings,
buffers read at entry or exit, string arrays. The symbolic decoders
(:mod:`~sysphase.report.decode_tokens` and the per-family modules) build on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sysphase.model import syscalls
from sysphase.model.events import I386, SyscallEvent
from sysphase.report import _xlat as X
from sysphase.report.strace_text import (
    BUF_MAX,
    MASK32,
    MASK64,
    STRING_MAX,
    STRV_MAX,
    hex_text,
    quote,
    s32,
    utf8,
)

__all__ = ["Arg", "Ctx", "JsonArg", "Span", "named"]

#: (text, style)
Span = tuple[str, str]
JsonArg = int | str | list[str]


@dataclass(frozen=True, slots=True)
class Arg:
    """One rendered argument: its spans and its JSON value."""

    spans: list[Span]
    json: JsonArg


def named(label: str, arg: Arg) -> Arg:
    """``label=value``, as strace shows clone's arguments."""
    return Arg([(label + "=", "plain"), *arg.spans], arg.json)


class Ctx:
    """One event being decoded: raw values in the tracee's word size."""

    def __init__(self, ev: SyscallEvent) -> None:
        self.ev = ev
        self.name = syscalls.name(ev.arch, ev.nr)
        self.word = MASK32 if ev.arch == I386 else MASK64

    def u(self, i: int) -> int:
        return self.ev.args[i] & self.word

    def s32(self, i: int) -> int:
        return s32(self.ev.args[i])

    def slong(self, i: int) -> int:
        v = self.u(i)
        top = (self.word >> 1) + 1
        return v - (top << 1) if v & top else v

    # --- basic argument shapes -------------------------------------------
    def num(self, v: int) -> Arg:
        return Arg([(str(v), "number")], v)

    def hexnum(self, i: int) -> Arg:
        v = self.u(i)
        return Arg([(hex_text(v), "number")], v)

    def ptr(self, i: int) -> Arg:
        v = self.u(i)
        text = f"{v:#x}" if v else "NULL"
        return Arg([(text, "number")], text)

    def flag(self, text: str) -> Arg:
        return Arg([(text, "flag")], text)

    def fd(self, i: int) -> Arg:
        return self.num(self.s32(i))

    def dirfd(self, i: int) -> Arg:
        v = self.s32(i)
        return self.flag("AT_FDCWD") if v == X.AT_FDCWD else self.num(v)

    def string(self, data: bytes, truncated: bool, hex_escapes: bool = False) -> Arg:
        text = quote(data, hex_escapes) + ("..." if truncated else "")
        return Arg([(text, "string")], utf8(data) + ("..." if truncated else ""))

    def cstring(self, i: int) -> Arg:
        data = self.ev.data[i]
        if data is None:
            return self.ptr(i)
        return self.string(data[:STRING_MAX], len(data) >= STRING_MAX)

    def buf_in(self, i: int, len_index: int) -> Arg:
        data = self.ev.data[i]
        length = self.u(len_index)
        if self.u(i) == 0:
            return self.ptr(i)
        if length == 0:
            return self.string(b"", False)
        if data is None:
            return self.ptr(i)
        shown = data[: min(length, BUF_MAX)]
        return self.string(shown, length > len(shown))

    def buf_out(self, i: int, hex_escapes: bool = False, cwd: bool = False) -> Arg:
        rv = self.ev.retval
        if rv is None or rv < 0 or self.u(i) == 0:
            return self.ptr(i)
        if rv == 0:
            return self.string(b"", False)
        data = self.ev.data[i]
        if data is None:
            return self.ptr(i)
        if cwd:  # getcwd returns the length including the final NUL
            shown = data[: min(rv, STRING_MAX)].rstrip(b"\0")
            return self.string(shown, rv - 1 > len(shown))
        shown = data[: min(rv, BUF_MAX)]
        return self.string(shown, rv > len(shown), hex_escapes)

    def strv(self, i: int) -> Arg:
        data = self.ev.data[i]
        if data is None:
            return self.ptr(i)
        items = data.split(b"\0") if data else []
        truncated = len(data) >= STRV_MAX
        text = "[" + ", ".join(quote(s) for s in items) + ("..." if truncated else "") + "]"
        return Arg([(text, "string")], [utf8(s) for s in items])
