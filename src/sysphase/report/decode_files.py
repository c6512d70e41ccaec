"""Decoders of the file calls with their own rules: fcntl, ioctl, mknod and mknodat.

fcntl's third argument depends on the command, ioctl's on the request
(unknown requests are shown as ``_IOC(dir, type, nr, size)``), and mknod's
device number is split into major and minor for character and block devices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sysphase.model.events import ARG_CSTRING
from sysphase.report import _xlat as X
from sysphase.report.decode_context import Arg, Ctx
from sysphase.report.decode_tokens import open_flags_text, signal
from sysphase.report.strace_text import MASK32, flags_text, hex_text, octal, value_text

__all__ = ["CALLS", "COPIED"]

_FCNTL_NO_ARG: Final = frozenset({1, 3, 9, 11, 1025, 1032, 1034})
_FCNTL_INT_ARG: Final = frozenset({0, 8, 1030, 1031})
_FCNTL_LOCKS: Final = frozenset({5, 6, 7, 36, 37, 38})


def _fcntl(c: Ctx) -> list[Arg]:
    cmd = c.s32(1)
    args = [c.fd(0), c.flag(value_text(cmd, X.FCNTL_CMDS, "F_"))]
    if cmd in _FCNTL_NO_ARG:
        return args
    arg = c.u(2)
    if cmd == 2:
        args.append(c.flag(flags_text(arg, X.FD_FLAGS)))
    elif cmd == 4:
        args.append(c.flag(open_flags_text(c.ev.arch, arg)))
    elif cmd == 1024:
        args.append(c.flag(value_text(arg & MASK32, X.LEASE_TYPES, "F_")))
    elif cmd == 1026:
        args.append(c.flag(flags_text(arg, X.NOTIFY_FLAGS)))
    elif cmd == 1033:
        args.append(c.flag(flags_text(arg, X.SEAL_FLAGS)))
    elif cmd == 10:
        args.append(signal(c, 2))
    elif cmd in _FCNTL_INT_ARG:
        args.append(c.num(c.s32(2)))
    elif cmd in _FCNTL_LOCKS:
        args.append(c.ptr(2))
    else:
        args.append(c.hexnum(2))
    return args


def _ioctl(c: Ctx) -> list[Arg]:
    req = c.u(1) & MASK32
    name = X.IOCTLS.get(req)
    if name is None:
        direction = X.IOC_DIRS[(req >> 30) & 3]
        size = (req >> 16) & 0x3FFF
        name = f"_IOC({direction}, {(req >> 8) & 0xFF:#x}, {req & 0xFF:#x}, {hex_text(size)})"
        return [c.fd(0), c.flag(name), c.hexnum(2)]
    args = [c.fd(0), c.flag(name)]
    if req in X.IOCTLS_NO_ARG:
        return args
    return [*args, c.num(c.s32(2)) if req in X.IOCTLS_INT_ARG else c.ptr(2)]


def _mknod(c: Ctx) -> list[Arg]:
    at = 1 if c.name == "mknodat" else 0
    head = [c.dirfd(0)] if at else []
    mode = c.u(at + 1) & MASK32
    ftype = mode & 0o170000
    perm = octal(mode & 0o7777)
    mode_text = f"{X.FILE_TYPES.get(ftype, octal(ftype))}|{perm}" if ftype else perm
    args = [*head, c.cstring(at), Arg([(mode_text, "flag")], mode_text)]
    if ftype in (0o20000, 0o60000):  # S_IFCHR, S_IFBLK
        dev = c.u(at + 2)
        major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF & MASK32)
        minor = (dev & 0xFF) | ((dev >> 12) & ~0xFF & MASK32)
        args.append(c.flag(f"makedev({hex_text(major)}, {hex_text(minor)})"))
    return args


#: name -> the decoder of all its arguments
CALLS: Final[dict[str, Callable[[Ctx], list[Arg]]]] = {
    "fcntl": _fcntl,
    "fcntl64": _fcntl,
    "ioctl": _ioctl,
    "mknod": _mknod,
    "mknodat": _mknod,
}

#: What the C core must copy for these calls: name -> argument index -> ARG_* kind.
COPIED: Final[dict[str, dict[int, int]]] = {
    "mknod": {0: ARG_CSTRING},
    "mknodat": {1: ARG_CSTRING},
}
