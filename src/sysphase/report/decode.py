"""strace-like rendering of one SyscallEvent: text, styled spans and JSON.

``format_line(ev, show_pid)`` gives what strace prints for a completed call::

    [pid 1234] openat(AT_FDCWD, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3

with strace's conventions (quoted and escaped strings, ``...`` after a
truncated string or buffer, symbolic flags, hex pointers, ``= -1 ENOENT
(No such file or directory)``), no column alignment and no colors. i386 and
x32 calls of an x86_64 tracee carry an ``[i386]``/``[x32]`` prefix.
``spans(ev)`` gives the same text as (text, style) pairs for a color
renderer; styles are "name", "string", "number", "flag", "error", "result",
"pid", and "plain" for punctuation.

``arg_kinds(arch)`` is the table that tells the C core which arguments to
copy from the tracee (strings, string arrays, buffers).

The parts: :mod:`~sysphase.report.strace_text` (how strace prints numbers,
flags and strings), :mod:`~sysphase.report.decode_context` (the event being
decoded and the basic argument shapes), :mod:`~sysphase.report.decode_tokens`
(the decoder of each signature token) and the calls with rules of their own
per family (:mod:`~sysphase.report.decode_process`,
:mod:`~sysphase.report.decode_files`, :mod:`~sysphase.report.decode_sockets`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sysphase.model import syscalls
from sysphase.model.events import (
    ARG_BUF_IN,
    ARG_BUF_OUT,
    ARG_CSTRING,
    ARG_PLAIN,
    ARG_STRV,
    I386,
    X32,
    SyscallEvent,
)
from sysphase.report import _xlat as X
from sysphase.report import decode_files, decode_process, decode_sockets
from sysphase.report._signatures import (
    I386_ALIASES,
    I386_NARGS,
    I386_SIGNATURES,
    NARGS,
    SIGNATURES,
    SPECIAL,
)
from sysphase.report.decode_context import Arg, Ctx, Span
from sysphase.report.decode_tokens import decoder, open_flags_text
from sysphase.report.strace_text import (
    BUF_MAX,
    STRING_MAX,
    STRV_MAX,
    flags_text,
    hex_text,
    octal,
)

__all__ = [
    "BUF_MAX",
    "STRING_MAX",
    "STRV_MAX",
    "Span",
    "arg_kinds",
    "format_call",
    "format_line",
    "format_result",
    "spans",
    "to_json",
]

_ARGS_PER_CALL: Final = 6
_RESTART_ERRNOS: Final = frozenset({512, 513, 514, 516})
_HEX_RESULT: Final = frozenset({"mmap", "mmap2", "mremap", "brk", "shmat"})
_TIMEOUT_ZERO: Final = frozenset({"poll", "ppoll", "select", "pselect6", "_newselect"})
_FOREIGN_ARCHES: Final = frozenset({I386, X32})

#: Calls decoded by rules of their own: name -> the decoder of all its arguments.
_SPECIALS: Final[dict[str, Callable[[Ctx], list[Arg]]]] = {
    **decode_process.CALLS,
    **decode_files.CALLS,
    **decode_sockets.CALLS,
}

#: What the C core must copy for the specially decoded calls.
_SPECIAL_KINDS: Final[dict[str, dict[int, int]]] = dict(decode_files.COPIED)


# --- signatures --------------------------------------------------------------


def _signature(arch: str, name: str) -> tuple[str, ...] | None:
    if arch == I386:
        own = I386_SIGNATURES.get(name)
        if own is not None:
            return tuple(own.split())
        name = I386_ALIASES.get(name, name)
    return SIGNATURES.get(name)


def _nargs(arch: str, name: str) -> int:
    if arch == I386 and name in I386_NARGS:
        return I386_NARGS[name]
    if arch == I386:
        name = I386_ALIASES.get(name, name)
    return NARGS.get(name, _ARGS_PER_CALL)


def _decode_args(c: Ctx) -> list[Arg]:
    if c.name.startswith("syscall_"):
        return [c.hexnum(i) for i in range(_ARGS_PER_CALL)]
    special = _SPECIALS.get(c.name)
    if special is not None:
        return special(c)
    sig = _signature(c.ev.arch, c.name)
    if sig is None or sig == (SPECIAL,):
        return [c.hexnum(i) for i in range(_nargs(c.ev.arch, c.name))]
    args = [decoder(token)(c, i) for i, token in enumerate(sig)]
    if c.name == "mremap" and not c.u(3) & X.MREMAP_FIXED:
        args = args[:4]  # new_address only matters with MREMAP_FIXED
    if "omode" in sig and "oflags" in sig:
        flags = c.u(sig.index("oflags"))
        if not flags & (X.O_CREAT | X.O_TMPFILE_BIT):
            args = args[: sig.index("omode")]
    return args


def _result(c: Ctx) -> list[Span]:
    rv = c.ev.retval
    if rv is None:
        return [(" = ", "plain"), ("?", "result")]
    if c.ev.is_error:
        err = -rv
        name = syscalls.errno_name(err)
        text = f" ({syscalls.errno_text(err)})"
        if err in _RESTART_ERRNOS:
            return [
                (" = ", "plain"),
                ("?", "result"),
                (" ", "plain"),
                (name, "error"),
                (text, "error"),
            ]
        return [(" = ", "plain"), ("-1", "error"), (" ", "plain"), (name, "error"), (text, "error")]
    value = str(rv)
    note = ""
    if c.name in _HEX_RESULT:
        value = hex_text(rv & c.word)
    elif c.name == "umask":
        value = octal(rv & 0o7777)
    elif c.name in ("fcntl", "fcntl64") and c.s32(1) == 1 and rv:  # F_GETFD
        value, note = hex_text(rv), f" (flags {flags_text(rv, X.FD_FLAGS)})"
    elif c.name in ("fcntl", "fcntl64") and c.s32(1) == 3:  # F_GETFL
        value, note = hex_text(rv), f" (flags {open_flags_text(c.ev.arch, rv)})"
    elif c.name == "prctl" and c.s32(0) == 3 and rv in X.DUMPABLE:  # PR_GET_DUMPABLE
        note = f" ({X.DUMPABLE[rv]})"
    elif c.name in _TIMEOUT_ZERO and rv == 0:
        note = " (Timeout)"
    out = [(" = ", "plain"), (value, "result")]
    return [*out, (note, "result")] if note else out


# --- public API --------------------------------------------------------------


def spans(ev: SyscallEvent, show_pid: bool = False) -> list[Span]:
    """The line for ``ev`` as (text, style) pieces; ``format_line`` joins them."""
    c = Ctx(ev)
    out: list[Span] = []
    if show_pid:
        out += [(f"[pid {ev.pid}]", "pid"), (" ", "plain")]
    if ev.arch in _FOREIGN_ARCHES:
        out += [(f"[{ev.arch}]", "pid"), (" ", "plain")]
    out += [(c.name, "name"), ("(", "plain")]
    for n, arg in enumerate(_decode_args(c)):
        if n:
            out.append((", ", "plain"))
        out += arg.spans
    out.append((")", "plain"))
    return out + _result(c)


def format_call(ev: SyscallEvent) -> str:
    """``name(args...)`` as strace prints it (no pid, no result)."""
    c = Ctx(ev)
    parts = ["".join(t for t, _ in a.spans) for a in _decode_args(c)]
    return f"{c.name}({', '.join(parts)})"


def format_result(ev: SyscallEvent) -> str:
    """`` = 3``, `` = -1 ENOENT (No such file or directory)``, `` = ?`` ..."""
    return "".join(t for t, _ in _result(Ctx(ev)))


def format_line(ev: SyscallEvent, show_pid: bool) -> str:
    """The whole strace-like line: ``[pid N] name(args) = result``."""
    return "".join(t for t, _ in spans(ev, show_pid))


def to_json(ev: SyscallEvent) -> dict[str, object]:
    """A JSON-ready dict: decoded args (ints, strings, argv lists) and raw values."""
    c = Ctx(ev)
    nargs = _ARGS_PER_CALL if c.name.startswith("syscall_") else _nargs(ev.arch, c.name)
    return {
        "pid": ev.pid,
        "arch": ev.arch,
        "syscall": c.name,
        "nr": ev.nr,
        "args": [a.json for a in _decode_args(c)],
        "raw_args": [ev.args[i] for i in range(min(nargs, _ARGS_PER_CALL))],
        "retval": ev.retval,
        "error": syscalls.errno_name(-ev.retval) if ev.retval and ev.is_error else None,
        "time_ns": ev.time_ns,
    }


def _kind_byte(token: str) -> int:
    if token in ("path", "str"):
        return ARG_CSTRING
    if token == "strv":
        return ARG_STRV
    if token in ("bo", "bh", "cwd"):
        return ARG_BUF_OUT
    if token.startswith("bi"):
        return ARG_BUF_IN | (int(token[2:]) << 4)
    return ARG_PLAIN


def arg_kinds(arch: str) -> bytes:
    """What the C core copies for each syscall of ``arch``: 6 bytes per number.

    Byte ``6*nr + i`` describes argument i of syscall nr: the low nibble is an
    ARG_* kind of sysphase.model.events, the high nibble (for ARG_BUF_IN) the
    index of the argument holding the length. The table covers 0..max nr; for
    x32 it is indexed by ``nr & ~X32_SYSCALL_BIT``. Unknown numbers are all
    ARG_PLAIN.
    """
    table = {
        nr & ~syscalls.X32_SYSCALL_BIT: nm
        for nm in syscalls.names(arch)  # raises ValueError for an unknown arch
        for nr in [syscalls.number(arch, nm)]
        if nr is not None
    }
    out = bytearray(_ARGS_PER_CALL * (max(table) + 1))
    for nr, name in table.items():
        kinds = dict(_SPECIAL_KINDS.get(name, {}))
        sig = _signature(arch, name)
        if sig is not None and sig != (SPECIAL,):
            kinds.update((i, _kind_byte(t)) for i, t in enumerate(sig[:_ARGS_PER_CALL]))
        for i, kind in kinds.items():
            out[_ARGS_PER_CALL * nr + i] = kind
    return bytes(out)
