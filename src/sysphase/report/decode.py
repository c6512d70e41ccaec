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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sysphase.model import syscalls
from sysphase.model.events import (
    AARCH64,
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
from sysphase.report._signatures import (
    I386_ALIASES,
    I386_NARGS,
    I386_SIGNATURES,
    NARGS,
    SIGNATURES,
    SPECIAL,
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

#: (text, style)
Span = tuple[str, str]
JsonArg = int | str | list[str]

#: What the C core copies: at most this many bytes of a C string (a string
#: whose data is this long is shown as truncated), of a buffer, and of a
#: string array in total.
STRING_MAX: Final = 256
BUF_MAX: Final = 32
STRV_MAX: Final = 256

_ARGS_PER_CALL: Final = 6
_MASK32: Final = 0xFFFFFFFF
_MASK64: Final = 0xFFFFFFFFFFFFFFFF
_RESTART_ERRNOS: Final = frozenset({512, 513, 514, 516})
_HEX_RESULT: Final = frozenset({"mmap", "mmap2", "mremap", "brk", "shmat"})
_TIMEOUT_ZERO: Final = frozenset({"poll", "ppoll", "select", "pselect6", "_newselect"})
_FOREIGN_ARCHES: Final = frozenset({I386, X32})


@dataclass(frozen=True, slots=True)
class _Arg:
    """One rendered argument: its spans and its JSON value."""

    spans: list[Span]
    json: JsonArg


def _s32(v: int) -> int:
    v &= _MASK32
    return v - (1 << 32) if v & 0x80000000 else v


def _hex(v: int) -> str:
    return f"{v:#x}" if v else "0"


def _octal(v: int) -> str:
    return ("0" + format(v, "o") if v else "0").rjust(3, "0")


def _flags_text(value: int, table: X.Flags, zero: str = "0", prefix: str | None = None) -> str:
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


def _value_text(value: int, table: X.Values, prefix: str) -> str:
    """strace's printxval: the name, or hex with a ``/* PREFIX??? */`` comment."""
    name = table.get(value)
    return name if name is not None else f"{value:#x} /* {prefix}??? */"


def _quote(data: bytes, hex_escapes: bool = False) -> str:
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


_C_ESCAPES: Final = {0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f", 0x0D: "\\r"}


def _text(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


class _Ctx:
    """One event being decoded: raw values in the tracee's word size."""

    def __init__(self, ev: SyscallEvent) -> None:
        self.ev = ev
        self.name = syscalls.name(ev.arch, ev.nr)
        self.word = _MASK32 if ev.arch == I386 else _MASK64

    def u(self, i: int) -> int:
        return self.ev.args[i] & self.word

    def s32(self, i: int) -> int:
        return _s32(self.ev.args[i])

    def slong(self, i: int) -> int:
        v = self.u(i)
        top = (self.word >> 1) + 1
        return v - (top << 1) if v & top else v

    # --- basic argument shapes -------------------------------------------
    def num(self, v: int) -> _Arg:
        return _Arg([(str(v), "number")], v)

    def hexnum(self, i: int) -> _Arg:
        v = self.u(i)
        return _Arg([(_hex(v), "number")], v)

    def ptr(self, i: int) -> _Arg:
        v = self.u(i)
        text = f"{v:#x}" if v else "NULL"
        return _Arg([(text, "number")], text)

    def flag(self, text: str) -> _Arg:
        return _Arg([(text, "flag")], text)

    def fd(self, i: int) -> _Arg:
        return self.num(self.s32(i))

    def dirfd(self, i: int) -> _Arg:
        v = self.s32(i)
        return self.flag("AT_FDCWD") if v == X.AT_FDCWD else self.num(v)

    def string(self, data: bytes, truncated: bool, hex_escapes: bool = False) -> _Arg:
        text = _quote(data, hex_escapes) + ("..." if truncated else "")
        return _Arg([(text, "string")], _text(data) + ("..." if truncated else ""))

    def cstring(self, i: int) -> _Arg:
        data = self.ev.data[i]
        if data is None:
            return self.ptr(i)
        return self.string(data[:STRING_MAX], len(data) >= STRING_MAX)

    def buf_in(self, i: int, len_index: int) -> _Arg:
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

    def buf_out(self, i: int, hex_escapes: bool = False, cwd: bool = False) -> _Arg:
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

    def strv(self, i: int) -> _Arg:
        data = self.ev.data[i]
        if data is None:
            return self.ptr(i)
        items = data.split(b"\0") if data else []
        truncated = len(data) >= STRV_MAX
        text = "[" + ", ".join(_quote(s) for s in items) + ("..." if truncated else "") + "]"
        return _Arg([(text, "string")], [_text(s) for s in items])


# --- symbolic argument decoders ------------------------------------------

_Decoder = Callable[[_Ctx, int], _Arg]


def _flags(table: X.Flags, zero: str = "0", prefix: str | None = None) -> _Decoder:
    return lambda c, i: c.flag(_flags_text(c.u(i), table, zero, prefix))


def _value(table: X.Values, prefix: str) -> _Decoder:
    def decode(c: _Ctx, i: int) -> _Arg:
        v = c.u(i) & _MASK32
        if v not in table and c.s32(i) in table:
            v = c.s32(i)
        return c.flag(_value_text(v, table, prefix))

    return decode


def _open_flags_text(arch: str, value: int) -> str:
    table = X.OPEN_FLAGS_AARCH64 if arch == AARCH64 else X.OPEN_FLAGS
    mode = X.OPEN_ACCMODE[value & 3]
    rest = _flags_text(value & ~3, table)
    return mode if rest == "0" else f"{mode}|{rest}"


def _map_flags_text(value: int) -> str:
    kind = value & 0xF
    parts = [X.MAP_TYPES.get(kind, f"{kind:#x}")]
    huge = (value >> X.MAP_HUGE_SHIFT) & 0x3F
    rest = value & ~0xF & ~(0x3F << X.MAP_HUGE_SHIFT)
    if rest:
        parts.append(_flags_text(rest, X.MAP_FLAGS))
    if huge:
        parts.append(f"{huge}<<MAP_HUGE_SHIFT")
    return "|".join(parts)


def _statx_flags_text(value: int) -> str:
    sync = value & 0x6000
    text = X.STATX_SYNC.get(sync, f"{sync:#x}")
    rest = value & ~0x6000
    return text if not rest else f"{text}|{_flags_text(rest, X.AT_FLAGS)}"


def _mount_flags_text(value: int) -> str:
    prefix = ""
    if value & 0xFFFF0000 == X.MS_MGC_VAL:
        prefix, value = "MS_MGC_VAL|", value & 0xFFFF
    return prefix + _flags_text(value, X.MOUNT_FLAGS)


def _uid(c: _Ctx, i: int) -> _Arg:
    v = c.u(i) & _MASK32
    return c.num(-1 if v == _MASK32 else v)


def _mode(c: _Ctx, i: int) -> _Arg:
    text = _octal(c.u(i) & _MASK32)
    return _Arg([(text, "number")], text)


def _signal(c: _Ctx, i: int) -> _Arg:
    v = c.s32(i)
    name = syscalls.signal_name(v)
    return c.num(v) if name == str(v) else c.flag(name)


def _string_decoder(kind: str) -> _Decoder:
    if kind == "bo":
        return lambda c, i: c.buf_out(i)
    if kind == "bh":
        return lambda c, i: c.buf_out(i, hex_escapes=True)
    if kind == "cwd":
        return lambda c, i: c.buf_out(i, cwd=True)
    length_index = int(kind[2:])
    return lambda c, i: c.buf_in(i, length_index)


_DECODERS: Final[dict[str, _Decoder]] = {
    "d": lambda c, i: c.num(c.s32(i)),
    "u": lambda c, i: c.num(c.u(i) & _MASK32),
    "lu": lambda c, i: c.num(c.u(i)),
    "ld": lambda c, i: c.num(c.slong(i)),
    "x": lambda c, i: c.hexnum(i),
    "p": lambda c, i: c.ptr(i),
    "fd": lambda c, i: c.fd(i),
    "dirfd": lambda c, i: c.dirfd(i),
    "uid": _uid,
    "mode": _mode,
    "omode": _mode,
    "sig": _signal,
    "path": lambda c, i: c.cstring(i),
    "str": lambda c, i: c.cstring(i),
    "strv": lambda c, i: c.strv(i),
    "oflags": lambda c, i: c.flag(_open_flags_text(c.ev.arch, c.u(i))),
    "pipeflags": _flags(X.PIPE_FLAGS),
    "atflags": _flags(X.AT_FLAGS),
    "unlinkflags": _flags(X.UNLINKAT_FLAGS),
    "faccessatflags": _flags(X.FACCESSAT_FLAGS),
    "statxflags": lambda c, i: c.flag(_statx_flags_text(c.u(i))),
    "statxmask": _flags(X.STATX_MASK),
    "accmode": _flags(X.ACCESS_MODES, zero="F_OK"),
    "whence": _value(X.SEEK_WHENCE, "SEEK_"),
    "prot": _flags(X.PROT_FLAGS, zero="PROT_NONE", prefix="PROT_"),
    "mapflags": lambda c, i: c.flag(_map_flags_text(c.u(i))),
    "mremapflags": _flags(X.MREMAP_FLAGS),
    "msflags": _flags(X.MSYNC_FLAGS),
    "mlockallflags": _flags(X.MLOCKALL_FLAGS),
    "madv": _value(X.MADVISE, "MADV_"),
    "fadvice": _value(X.FADVISE, "POSIX_FADV_"),
    "cloneflags": _flags(X.CLONE_FLAGS),
    "msgflags": _flags(X.MSG_FLAGS),
    "shuthow": _value(X.SHUTDOWN_HOW, "SHUT_"),
    "sockflags": _flags(X.SOCK_FLAGS),
    "flockop": _flags(X.FLOCK_OPS),
    "sighow": _value(X.SIGPROCMASK_HOW, "SIG_"),
    "waitopts": _flags(X.WAIT_OPTIONS),
    "idtype": _value(X.WAITID_TYPES, "P_"),
    "clock": _value(X.CLOCKS, "CLOCK_"),
    "timerflags": _flags(X.TIMER_FLAGS),
    "rlimit": _value(X.RLIMITS, "RLIMIT_"),
    "rusagewho": _value(X.RUSAGE_WHO, "RUSAGE_"),
    "epollop": _value(X.EPOLL_OPS, "EPOLL_CTL_"),
    "epollflags": _flags(X.EPOLL_FLAGS),
    "efdflags": _flags(X.EVENTFD_FLAGS),
    "inflags": _flags(X.INOTIFY_FLAGS),
    "tfdflags": _flags(X.TIMERFD_FLAGS),
    "sfdflags": _flags(X.SIGNALFD_FLAGS),
    "mfdflags": _flags(X.MEMFD_FLAGS),
    "grndflags": _flags(X.GETRANDOM_FLAGS),
    "renameflags": _flags(X.RENAME_FLAGS),
    "xattrflags": _flags(X.XATTR_FLAGS),
    "spliceflags": _flags(X.SPLICE_FLAGS),
    "fallocflags": _flags(X.FALLOCATE_FLAGS),
    "closerangeflags": _flags(X.CLOSE_RANGE_FLAGS),
    "seccompop": _value(X.SECCOMP_OPS, "SECCOMP_"),
    "seccompflags": _flags(X.SECCOMP_FLAGS),
    "mountflags": lambda c, i: c.flag(_mount_flags_text(c.u(i))),
    "umountflags": _flags(X.UMOUNT_FLAGS),
    "ptracereq": _value(X.PTRACE_REQUESTS, "PTRACE_"),
    "bo": _string_decoder("bo"),
    "bh": _string_decoder("bh"),
    "cwd": _string_decoder("cwd"),
}


def _decoder(token: str) -> _Decoder:
    found = _DECODERS.get(token)
    if found is None and token.startswith("bi"):
        found = _string_decoder(token)
    if found is None:
        raise KeyError(f"no decoder for argument token {token!r}")
    return found


# --- calls with their own rules --------------------------------------------


def _named(label: str, arg: _Arg) -> _Arg:
    return _Arg([(label + "=", "plain"), *arg.spans], arg.json)


def _clone(c: _Ctx) -> list[_Arg]:
    # x86_64: (flags, stack, parent_tid, child_tid, tls); i386 and arm64
    # (CLONE_BACKWARDS): (flags, stack, parent_tid, tls, child_tid).
    backwards = c.ev.arch in (I386, AARCH64)
    tls_i, ctid_i = (3, 4) if backwards else (4, 3)
    flags = c.u(0)
    sig = flags & X.CSIGNAL
    text = _flags_text(flags & ~X.CSIGNAL, X.CLONE_FLAGS, zero="")
    if sig:
        text = f"{text}|{syscalls.signal_name(sig)}" if text else syscalls.signal_name(sig)
    args = [_named("child_stack", c.ptr(1)), _named("flags", c.flag(text or "0"))]
    if flags & (X.CLONE_PARENT_SETTID | X.CLONE_PIDFD):
        args.append(_named("parent_tid", c.ptr(2)))
    if flags & X.CLONE_SETTLS:
        args.append(_named("tls", c.ptr(tls_i)))
    if flags & X.CLONE_CHILD_TID:
        args.append(_named("child_tidptr", c.ptr(ctid_i)))
    return args


_FCNTL_NO_ARG: Final = frozenset({1, 3, 9, 11, 1025, 1032, 1034})
_FCNTL_INT_ARG: Final = frozenset({0, 8, 1030, 1031})
_FCNTL_LOCKS: Final = frozenset({5, 6, 7, 36, 37, 38})


def _fcntl(c: _Ctx) -> list[_Arg]:
    cmd = c.s32(1)
    args = [c.fd(0), c.flag(_value_text(cmd, X.FCNTL_CMDS, "F_"))]
    if cmd in _FCNTL_NO_ARG:
        return args
    arg = c.u(2)
    if cmd == 2:
        args.append(c.flag(_flags_text(arg, X.FD_FLAGS)))
    elif cmd == 4:
        args.append(c.flag(_open_flags_text(c.ev.arch, arg)))
    elif cmd == 1024:
        args.append(c.flag(_value_text(arg & _MASK32, X.LEASE_TYPES, "F_")))
    elif cmd == 1026:
        args.append(c.flag(_flags_text(arg, X.NOTIFY_FLAGS)))
    elif cmd == 1033:
        args.append(c.flag(_flags_text(arg, X.SEAL_FLAGS)))
    elif cmd == 10:
        args.append(_signal(c, 2))
    elif cmd in _FCNTL_INT_ARG:
        args.append(c.num(c.s32(2)))
    elif cmd in _FCNTL_LOCKS:
        args.append(c.ptr(2))
    else:
        args.append(c.hexnum(2))
    return args


_PRCTL_NO_ARG: Final = frozenset({3, 7, 21, 27, 30, 31, 32, 34, 46})
_PRCTL_FOUR_NUMBERS: Final = frozenset({38, 41})  # decimal; other options print hex
_PRCTL_ONE: Final[dict[int, _Decoder]] = {
    1: _signal,
    2: lambda c, i: c.ptr(i),
    4: _value(X.DUMPABLE, "SUID_DUMP_"),
    8: lambda c, i: c.num(c.u(i)),
    15: lambda c, i: c.ptr(i),
    16: lambda c, i: c.ptr(i),
    23: _value(X.CAPABILITIES, "CAP_"),
    24: _value(X.CAPABILITIES, "CAP_"),
    28: lambda c, i: c.hexnum(i),
    29: lambda c, i: c.num(c.u(i)),
    36: lambda c, i: c.num(c.u(i)),
    37: lambda c, i: c.ptr(i),
    40: lambda c, i: c.ptr(i),
    0x59616D61: lambda c, i: c.num(c.s32(i)),
}


def _prctl(c: _Ctx) -> list[_Arg]:
    option = c.s32(0)
    args = [c.flag(_value_text(option & _MASK32, X.PRCTL_OPTIONS, "PR_"))]
    if option in _PRCTL_NO_ARG:
        return args
    one = _PRCTL_ONE.get(option)
    if one is not None:
        return [*args, one(c, 1)]
    if option in _PRCTL_FOUR_NUMBERS:
        return args + [c.num(c.u(i)) for i in range(1, 5)]
    if option == 0x53564D41 and c.u(1) == 0:  # PR_SET_VMA, PR_SET_VMA_ANON_NAME
        return [*args, c.flag("PR_SET_VMA_ANON_NAME"), c.ptr(2), c.num(c.u(3)), c.ptr(4)]
    if option == 22:  # PR_SET_SECCOMP
        mode = c.u(1) & _MASK32
        args.append(c.flag(_value_text(mode, X.SECCOMP_MODES, "SECCOMP_MODE_")))
        if mode == 2:
            return [*args, c.ptr(2)]
        return args if mode == 1 else args + [c.hexnum(i) for i in range(2, 5)]
    if option == 47:  # PR_CAP_AMBIENT
        op = c.u(1) & _MASK32
        args.append(c.flag(_value_text(op, X.CAP_AMBIENT_OPS, "PR_CAP_AMBIENT_")))
        cap = _value(X.CAPABILITIES, "CAP_")(c, 2) if op in (1, 2, 3) else c.hexnum(2)
        return [*args, cap, c.hexnum(3), c.hexnum(4)]
    return args + [c.hexnum(i) for i in range(1, 5)]


_ARCH_PRCTL_GET: Final = frozenset({0x1003, 0x1004, 0x1021, 0x1022, 0x1024})


def _arch_prctl(c: _Ctx) -> list[_Arg]:
    code = c.s32(0)
    args = [c.flag(_value_text(code & _MASK32, X.ARCH_PRCTL_CODES, "ARCH_"))]
    if code == 0x1011:  # ARCH_GET_CPUID
        return args
    return [*args, c.ptr(1) if code in _ARCH_PRCTL_GET else c.hexnum(1)]


def _futex_wake_op(v: int) -> str:
    op = (v >> 28) & 0xF
    shift = "FUTEX_OP_OPARG_SHIFT<<28|" if op & 8 else ""
    op_name = X.FUTEX_WAKE_OPS.get(op & 7, f"{op & 7:#x}")
    cmp = (v >> 24) & 0xF
    cmp_name = X.FUTEX_WAKE_CMPS.get(cmp, f"{cmp:#x}")
    return f"{shift}{op_name}<<28|{_hex((v >> 12) & 0xFFF)}<<12|{cmp_name}<<24|{_hex(v & 0xFFF)}"


def _futex(c: _Ctx) -> list[_Arg]:
    op = c.u(1) & _MASK32
    cmd = op & ~(X.FUTEX_PRIVATE | X.FUTEX_CLOCK_REALTIME)
    name = X.FUTEX_CMDS.get(cmd)
    uaddr = c.ptr(0)
    val = c.num(c.u(2) & _MASK32)
    if name is None or (op & X.FUTEX_CLOCK_REALTIME and cmd not in X.FUTEX_CLOCK_CMDS):
        return [uaddr, c.flag(f"{op:#x} /* FUTEX_??? */"), val]
    if op & X.FUTEX_PRIVATE:
        name += "_PRIVATE"
    if op & X.FUTEX_CLOCK_REALTIME:
        name += "|FUTEX_CLOCK_REALTIME"
    head = [uaddr, c.flag(name)]
    timeout, uaddr2 = c.ptr(3), c.ptr(4)
    val2 = c.num(c.u(3) & _MASK32)
    val3 = c.u(5) & _MASK32
    bitset = c.flag("FUTEX_BITSET_MATCH_ANY" if val3 == X.FUTEX_BITSET_MATCH_ANY else _hex(val3))
    tails: dict[int, list[_Arg]] = {
        0: [val, timeout],
        1: [val],
        2: [val],
        3: [val, val2, uaddr2],
        4: [val, val2, uaddr2, c.num(val3)],
        5: [val, val2, uaddr2, c.flag(_futex_wake_op(val3))],
        6: [timeout],
        7: [],
        8: [],
        9: [val, timeout, bitset],
        10: [val, bitset],
        11: [val, timeout, uaddr2],
        12: [val, val2, uaddr2, c.num(val3)],
        13: [timeout],
    }
    return head + tails[cmd]


def _ioctl(c: _Ctx) -> list[_Arg]:
    req = c.u(1) & _MASK32
    name = X.IOCTLS.get(req)
    if name is None:
        direction = X.IOC_DIRS[(req >> 30) & 3]
        size = (req >> 16) & 0x3FFF
        name = f"_IOC({direction}, {(req >> 8) & 0xFF:#x}, {req & 0xFF:#x}, {_hex(size)})"
        return [c.fd(0), c.flag(name), c.hexnum(2)]
    args = [c.fd(0), c.flag(name)]
    if req in X.IOCTLS_NO_ARG:
        return args
    return [*args, c.num(c.s32(2)) if req in X.IOCTLS_INT_ARG else c.ptr(2)]


def _socket_args(c: _Ctx) -> list[_Arg]:
    domain = c.s32(0)
    kind = c.u(1) & _MASK32
    text = X.SOCK_TYPES.get(kind & 0xF, f"{kind & 0xF:#x} /* SOCK_??? */")
    if kind & ~0xF:
        text += "|" + _flags_text(kind & ~0xF, X.SOCK_FLAGS)
    proto = c.s32(2)
    if domain in (X.AF_INET, X.AF_INET6):
        protocol = c.flag(_value_text(proto, X.IP_PROTOCOLS, "IPPROTO_"))
    elif domain == X.AF_NETLINK:
        protocol = c.flag(_value_text(proto, X.NETLINK_PROTOCOLS, "NETLINK_"))
    elif domain == X.AF_PACKET:
        host = ((proto & 0xFF) << 8) | ((proto >> 8) & 0xFF)
        protocol = c.flag(f"htons({X.ETHER_PROTOCOLS.get(host, _hex(host))})")
    else:
        protocol = c.num(proto)
    family = c.flag(_value_text(domain & _MASK32, X.ADDRESS_FAMILIES, "AF_"))
    return [family, c.flag(text), protocol]


def _socket(c: _Ctx) -> list[_Arg]:
    return _socket_args(c)


def _socketpair(c: _Ctx) -> list[_Arg]:
    return [*_socket_args(c), c.ptr(3)]


def _sockopt(c: _Ctx) -> list[_Arg]:
    level = c.s32(1)
    optname = c.s32(2)
    table = {X.SOL_SOCKET: X.SOCKET_OPTIONS, X.SOL_TCP: X.TCP_OPTIONS}.get(level)
    opt = c.num(optname) if table is None else c.flag(_value_text(optname, table, "SO_"))
    last = c.num(c.u(4) & _MASK32) if c.name == "setsockopt" else c.ptr(4)
    level_arg = c.flag(_value_text(level & _MASK32, X.SOCKET_LEVELS, "SOL_"))
    return [c.fd(0), level_arg, opt, c.ptr(3), last]


def _mknod(c: _Ctx) -> list[_Arg]:
    at = 1 if c.name == "mknodat" else 0
    head = [c.dirfd(0)] if at else []
    mode = c.u(at + 1) & _MASK32
    ftype = mode & 0o170000
    perm = _octal(mode & 0o7777)
    mode_text = f"{X.FILE_TYPES.get(ftype, _octal(ftype))}|{perm}" if ftype else perm
    args = [*head, c.cstring(at), _Arg([(mode_text, "flag")], mode_text)]
    if ftype in (0o20000, 0o60000):  # S_IFCHR, S_IFBLK
        dev = c.u(at + 2)
        major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF & _MASK32)
        minor = (dev & 0xFF) | ((dev >> 12) & ~0xFF & _MASK32)
        args.append(c.flag(f"makedev({_hex(major)}, {_hex(minor)})"))
    return args


_SPECIALS: Final[dict[str, Callable[[_Ctx], list[_Arg]]]] = {
    "clone": _clone,
    "fcntl": _fcntl,
    "fcntl64": _fcntl,
    "prctl": _prctl,
    "arch_prctl": _arch_prctl,
    "futex": _futex,
    "futex_time64": _futex,
    "ioctl": _ioctl,
    "socket": _socket,
    "socketpair": _socketpair,
    "setsockopt": _sockopt,
    "getsockopt": _sockopt,
    "mknod": _mknod,
    "mknodat": _mknod,
}

#: What the C core must copy for the specially decoded calls.
_SPECIAL_KINDS: Final[dict[str, dict[int, int]]] = {
    "mknod": {0: ARG_CSTRING},
    "mknodat": {1: ARG_CSTRING},
}


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


def _decode_args(c: _Ctx) -> list[_Arg]:
    if c.name.startswith("syscall_"):
        return [c.hexnum(i) for i in range(_ARGS_PER_CALL)]
    special = _SPECIALS.get(c.name)
    if special is not None:
        return special(c)
    sig = _signature(c.ev.arch, c.name)
    if sig is None or sig == (SPECIAL,):
        return [c.hexnum(i) for i in range(_nargs(c.ev.arch, c.name))]
    args = [_decoder(token)(c, i) for i, token in enumerate(sig)]
    if c.name == "mremap" and not c.u(3) & X.MREMAP_FIXED:
        args = args[:4]  # new_address only matters with MREMAP_FIXED
    if "omode" in sig and "oflags" in sig:
        flags = c.u(sig.index("oflags"))
        if not flags & (X.O_CREAT | X.O_TMPFILE_BIT):
            args = args[: sig.index("omode")]
    return args


def _result(c: _Ctx) -> list[Span]:
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
        value = _hex(rv & c.word)
    elif c.name == "umask":
        value = _octal(rv & 0o7777)
    elif c.name in ("fcntl", "fcntl64") and c.s32(1) == 1 and rv:  # F_GETFD
        value, note = _hex(rv), f" (flags {_flags_text(rv, X.FD_FLAGS)})"
    elif c.name in ("fcntl", "fcntl64") and c.s32(1) == 3:  # F_GETFL
        value, note = _hex(rv), f" (flags {_open_flags_text(c.ev.arch, rv)})"
    elif c.name == "prctl" and c.s32(0) == 3 and rv in X.DUMPABLE:  # PR_GET_DUMPABLE
        note = f" ({X.DUMPABLE[rv]})"
    elif c.name in _TIMEOUT_ZERO and rv == 0:
        note = " (Timeout)"
    out = [(" = ", "plain"), (value, "result")]
    return [*out, (note, "result")] if note else out


# --- public API --------------------------------------------------------------


def spans(ev: SyscallEvent, show_pid: bool = False) -> list[Span]:
    """The line for ``ev`` as (text, style) pieces; ``format_line`` joins them."""
    c = _Ctx(ev)
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
    c = _Ctx(ev)
    parts = ["".join(t for t, _ in a.spans) for a in _decode_args(c)]
    return f"{c.name}({', '.join(parts)})"


def format_result(ev: SyscallEvent) -> str:
    """`` = 3``, `` = -1 ENOENT (No such file or directory)``, `` = ?`` ..."""
    return "".join(t for t, _ in _result(_Ctx(ev)))


def format_line(ev: SyscallEvent, show_pid: bool) -> str:
    """The whole strace-like line: ``[pid N] name(args) = result``."""
    return "".join(t for t, _ in spans(ev, show_pid))


def to_json(ev: SyscallEvent) -> dict[str, object]:
    """A JSON-ready dict: decoded args (ints, strings, argv lists) and raw values."""
    c = _Ctx(ev)
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
