"""Decoders of the process and thread calls with their own rules: clone, futex, prctl, arch_prctl.

Each takes the call being decoded and returns all its arguments, as strace
shows them (clone's named arguments in strace's order, futex's arguments per
operation, prctl's per option).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sysphase.model import syscalls
from sysphase.model.events import AARCH64, I386
from sysphase.report import _xlat as X
from sysphase.report.decode_context import Arg, Ctx, named
from sysphase.report.decode_tokens import Decoder, signal, value
from sysphase.report.strace_text import MASK32, flags_text, hex_text, value_text

__all__ = ["CALLS"]


def _clone(c: Ctx) -> list[Arg]:
    # x86_64: (flags, stack, parent_tid, child_tid, tls); i386 and arm64
    # (CLONE_BACKWARDS): (flags, stack, parent_tid, tls, child_tid).
    backwards = c.ev.arch in (I386, AARCH64)
    tls_i, ctid_i = (3, 4) if backwards else (4, 3)
    flags = c.u(0)
    sig = flags & X.CSIGNAL
    text = flags_text(flags & ~X.CSIGNAL, X.CLONE_FLAGS, zero="")
    if sig:
        text = f"{text}|{syscalls.signal_name(sig)}" if text else syscalls.signal_name(sig)
    args = [named("child_stack", c.ptr(1)), named("flags", c.flag(text or "0"))]
    if flags & (X.CLONE_PARENT_SETTID | X.CLONE_PIDFD):
        args.append(named("parent_tid", c.ptr(2)))
    if flags & X.CLONE_SETTLS:
        args.append(named("tls", c.ptr(tls_i)))
    if flags & X.CLONE_CHILD_TID:
        args.append(named("child_tidptr", c.ptr(ctid_i)))
    return args


_PRCTL_NO_ARG: Final = frozenset({3, 7, 21, 27, 30, 31, 32, 34, 46})
_PRCTL_FOUR_NUMBERS: Final = frozenset({38, 41})  # decimal; other options print hex
_PRCTL_ONE: Final[dict[int, Decoder]] = {
    1: signal,
    2: lambda c, i: c.ptr(i),
    4: value(X.DUMPABLE, "SUID_DUMP_"),
    8: lambda c, i: c.num(c.u(i)),
    15: lambda c, i: c.ptr(i),
    16: lambda c, i: c.ptr(i),
    23: value(X.CAPABILITIES, "CAP_"),
    24: value(X.CAPABILITIES, "CAP_"),
    28: lambda c, i: c.hexnum(i),
    29: lambda c, i: c.num(c.u(i)),
    36: lambda c, i: c.num(c.u(i)),
    37: lambda c, i: c.ptr(i),
    40: lambda c, i: c.ptr(i),
    0x59616D61: lambda c, i: c.num(c.s32(i)),
}


def _prctl(c: Ctx) -> list[Arg]:
    option = c.s32(0)
    args = [c.flag(value_text(option & MASK32, X.PRCTL_OPTIONS, "PR_"))]
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
        mode = c.u(1) & MASK32
        args.append(c.flag(value_text(mode, X.SECCOMP_MODES, "SECCOMP_MODE_")))
        if mode == 2:
            return [*args, c.ptr(2)]
        return args if mode == 1 else args + [c.hexnum(i) for i in range(2, 5)]
    if option == 47:  # PR_CAP_AMBIENT
        op = c.u(1) & MASK32
        args.append(c.flag(value_text(op, X.CAP_AMBIENT_OPS, "PR_CAP_AMBIENT_")))
        cap = value(X.CAPABILITIES, "CAP_")(c, 2) if op in (1, 2, 3) else c.hexnum(2)
        return [*args, cap, c.hexnum(3), c.hexnum(4)]
    return args + [c.hexnum(i) for i in range(1, 5)]


_ARCH_PRCTL_GET: Final = frozenset({0x1003, 0x1004, 0x1021, 0x1022, 0x1024})


def _arch_prctl(c: Ctx) -> list[Arg]:
    code = c.s32(0)
    args = [c.flag(value_text(code & MASK32, X.ARCH_PRCTL_CODES, "ARCH_"))]
    if code == 0x1011:  # ARCH_GET_CPUID
        return args
    return [*args, c.ptr(1) if code in _ARCH_PRCTL_GET else c.hexnum(1)]


def _futex_wake_op(v: int) -> str:
    op = (v >> 28) & 0xF
    shift = "FUTEX_OP_OPARG_SHIFT<<28|" if op & 8 else ""
    op_name = X.FUTEX_WAKE_OPS.get(op & 7, f"{op & 7:#x}")
    cmp = (v >> 24) & 0xF
    cmp_name = X.FUTEX_WAKE_CMPS.get(cmp, f"{cmp:#x}")
    return (
        f"{shift}{op_name}<<28|{hex_text((v >> 12) & 0xFFF)}<<12|"
        f"{cmp_name}<<24|{hex_text(v & 0xFFF)}"
    )


def _futex(c: Ctx) -> list[Arg]:
    op = c.u(1) & MASK32
    cmd = op & ~(X.FUTEX_PRIVATE | X.FUTEX_CLOCK_REALTIME)
    name = X.FUTEX_CMDS.get(cmd)
    uaddr = c.ptr(0)
    val = c.num(c.u(2) & MASK32)
    if name is None or (op & X.FUTEX_CLOCK_REALTIME and cmd not in X.FUTEX_CLOCK_CMDS):
        return [uaddr, c.flag(f"{op:#x} /* FUTEX_??? */"), val]
    if op & X.FUTEX_PRIVATE:
        name += "_PRIVATE"
    if op & X.FUTEX_CLOCK_REALTIME:
        name += "|FUTEX_CLOCK_REALTIME"
    head = [uaddr, c.flag(name)]
    timeout, uaddr2 = c.ptr(3), c.ptr(4)
    val2 = c.num(c.u(3) & MASK32)
    val3 = c.u(5) & MASK32
    bitset = c.flag(
        "FUTEX_BITSET_MATCH_ANY" if val3 == X.FUTEX_BITSET_MATCH_ANY else hex_text(val3)
    )
    tails: dict[int, list[Arg]] = {
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


#: name -> the decoder of all its arguments
CALLS: Final[dict[str, Callable[[Ctx], list[Arg]]]] = {
    "clone": _clone,
    "prctl": _prctl,
    "arch_prctl": _arch_prctl,
    "futex": _futex,
    "futex_time64": _futex,
}
