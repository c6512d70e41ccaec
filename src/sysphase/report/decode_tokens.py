"""The decoder of each argument token of the signature table (``report/_signatures.py``).

A signature is a list of tokens, one per argument: plain shapes (``d``,
``x``, ``p``, ``fd``, ``path``, ...), strings and buffers (``bo``, ``bh``,
``cwd``, ``biN`` with N the index of the length argument), and symbolic
decoders (``oflags``, ``prot``, ``mapflags``, ...) over the tables of
``report/_xlat.py``. :func:`decoder` gives the function for a token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sysphase.model import syscalls
from sysphase.model.events import AARCH64
from sysphase.report import _xlat as X
from sysphase.report.decode_context import Arg, Ctx
from sysphase.report.strace_text import MASK32, flags_text, octal, value_text

__all__ = [
    "Decoder",
    "decoder",
    "flags",
    "open_flags_text",
    "signal",
    "value",
]

#: Renders argument i of the call being decoded.
Decoder = Callable[[Ctx, int], Arg]


def flags(table: X.Flags, zero: str = "0", prefix: str | None = None) -> Decoder:
    """A decoder of a flag set of ``table``."""
    return lambda c, i: c.flag(flags_text(c.u(i), table, zero, prefix))


def value(table: X.Values, prefix: str) -> Decoder:
    """A decoder of one named value of ``table`` (as unsigned or signed 32 bits)."""

    def decode(c: Ctx, i: int) -> Arg:
        v = c.u(i) & MASK32
        if v not in table and c.s32(i) in table:
            v = c.s32(i)
        return c.flag(value_text(v, table, prefix))

    return decode


def open_flags_text(arch: str, v: int) -> str:
    """open's flags: the access mode, then the other flags (aarch64 has its own values)."""
    table = X.OPEN_FLAGS_AARCH64 if arch == AARCH64 else X.OPEN_FLAGS
    mode = X.OPEN_ACCMODE[v & 3]
    rest = flags_text(v & ~3, table)
    return mode if rest == "0" else f"{mode}|{rest}"


def _map_flags_text(v: int) -> str:
    kind = v & 0xF
    parts = [X.MAP_TYPES.get(kind, f"{kind:#x}")]
    huge = (v >> X.MAP_HUGE_SHIFT) & 0x3F
    rest = v & ~0xF & ~(0x3F << X.MAP_HUGE_SHIFT)
    if rest:
        parts.append(flags_text(rest, X.MAP_FLAGS))
    if huge:
        parts.append(f"{huge}<<MAP_HUGE_SHIFT")
    return "|".join(parts)


def _statx_flags_text(v: int) -> str:
    sync = v & 0x6000
    text = X.STATX_SYNC.get(sync, f"{sync:#x}")
    rest = v & ~0x6000
    return text if not rest else f"{text}|{flags_text(rest, X.AT_FLAGS)}"


def _mount_flags_text(v: int) -> str:
    prefix = ""
    if v & 0xFFFF0000 == X.MS_MGC_VAL:
        prefix, v = "MS_MGC_VAL|", v & 0xFFFF
    return prefix + flags_text(v, X.MOUNT_FLAGS)


def _uid(c: Ctx, i: int) -> Arg:
    v = c.u(i) & MASK32
    return c.num(-1 if v == MASK32 else v)


def _mode(c: Ctx, i: int) -> Arg:
    text = octal(c.u(i) & MASK32)
    return Arg([(text, "number")], text)


def signal(c: Ctx, i: int) -> Arg:
    """A signal number: its name, or the number when it has none."""
    v = c.s32(i)
    name = syscalls.signal_name(v)
    return c.num(v) if name == str(v) else c.flag(name)


def _string_decoder(kind: str) -> Decoder:
    if kind == "bo":
        return lambda c, i: c.buf_out(i)
    if kind == "bh":
        return lambda c, i: c.buf_out(i, hex_escapes=True)
    if kind == "cwd":
        return lambda c, i: c.buf_out(i, cwd=True)
    length_index = int(kind[2:])
    return lambda c, i: c.buf_in(i, length_index)


_DECODERS: Final[dict[str, Decoder]] = {
    "d": lambda c, i: c.num(c.s32(i)),
    "u": lambda c, i: c.num(c.u(i) & MASK32),
    "lu": lambda c, i: c.num(c.u(i)),
    "ld": lambda c, i: c.num(c.slong(i)),
    "x": lambda c, i: c.hexnum(i),
    "p": lambda c, i: c.ptr(i),
    "fd": lambda c, i: c.fd(i),
    "dirfd": lambda c, i: c.dirfd(i),
    "uid": _uid,
    "mode": _mode,
    "omode": _mode,
    "sig": signal,
    "path": lambda c, i: c.cstring(i),
    "str": lambda c, i: c.cstring(i),
    "strv": lambda c, i: c.strv(i),
    "oflags": lambda c, i: c.flag(open_flags_text(c.ev.arch, c.u(i))),
    "pipeflags": flags(X.PIPE_FLAGS),
    "atflags": flags(X.AT_FLAGS),
    "unlinkflags": flags(X.UNLINKAT_FLAGS),
    "faccessatflags": flags(X.FACCESSAT_FLAGS),
    "statxflags": lambda c, i: c.flag(_statx_flags_text(c.u(i))),
    "statxmask": flags(X.STATX_MASK),
    "accmode": flags(X.ACCESS_MODES, zero="F_OK"),
    "whence": value(X.SEEK_WHENCE, "SEEK_"),
    "prot": flags(X.PROT_FLAGS, zero="PROT_NONE", prefix="PROT_"),
    "mapflags": lambda c, i: c.flag(_map_flags_text(c.u(i))),
    "mremapflags": flags(X.MREMAP_FLAGS),
    "msflags": flags(X.MSYNC_FLAGS),
    "mlockallflags": flags(X.MLOCKALL_FLAGS),
    "madv": value(X.MADVISE, "MADV_"),
    "fadvice": value(X.FADVISE, "POSIX_FADV_"),
    "cloneflags": flags(X.CLONE_FLAGS),
    "msgflags": flags(X.MSG_FLAGS),
    "shuthow": value(X.SHUTDOWN_HOW, "SHUT_"),
    "sockflags": flags(X.SOCK_FLAGS),
    "flockop": flags(X.FLOCK_OPS),
    "sighow": value(X.SIGPROCMASK_HOW, "SIG_"),
    "waitopts": flags(X.WAIT_OPTIONS),
    "idtype": value(X.WAITID_TYPES, "P_"),
    "clock": value(X.CLOCKS, "CLOCK_"),
    "timerflags": flags(X.TIMER_FLAGS),
    "rlimit": value(X.RLIMITS, "RLIMIT_"),
    "rusagewho": value(X.RUSAGE_WHO, "RUSAGE_"),
    "epollop": value(X.EPOLL_OPS, "EPOLL_CTL_"),
    "epollflags": flags(X.EPOLL_FLAGS),
    "efdflags": flags(X.EVENTFD_FLAGS),
    "inflags": flags(X.INOTIFY_FLAGS),
    "tfdflags": flags(X.TIMERFD_FLAGS),
    "sfdflags": flags(X.SIGNALFD_FLAGS),
    "mfdflags": flags(X.MEMFD_FLAGS),
    "grndflags": flags(X.GETRANDOM_FLAGS),
    "renameflags": flags(X.RENAME_FLAGS),
    "xattrflags": flags(X.XATTR_FLAGS),
    "spliceflags": flags(X.SPLICE_FLAGS),
    "fallocflags": flags(X.FALLOCATE_FLAGS),
    "closerangeflags": flags(X.CLOSE_RANGE_FLAGS),
    "seccompop": value(X.SECCOMP_OPS, "SECCOMP_"),
    "seccompflags": flags(X.SECCOMP_FLAGS),
    "mountflags": lambda c, i: c.flag(_mount_flags_text(c.u(i))),
    "umountflags": flags(X.UMOUNT_FLAGS),
    "ptracereq": value(X.PTRACE_REQUESTS, "PTRACE_"),
    "bo": _string_decoder("bo"),
    "bh": _string_decoder("bh"),
    "cwd": _string_decoder("cwd"),
}


def decoder(token: str) -> Decoder:
    """The decoder of a signature token; KeyError for an unknown one."""
    found = _DECODERS.get(token)
    if found is None and token.startswith("bi"):
        found = _string_decoder(token)
    if found is None:
        raise KeyError(f"no decoder for argument token {token!r}")
    return found
