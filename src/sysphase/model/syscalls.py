"""Syscall names and numbers per architecture, errno and signal names, strace classes.

Everything here is pure: the tables come from the generated
sysphase.model.syscall_tables (see tools/gen_syscall_tables.py). A syscall's
identity is (arch, number); names are for people and policy files.
"""

from __future__ import annotations

import re
from functools import cache
from types import MappingProxyType
from typing import Final

from sysphase.model import syscall_tables
from sysphase.model.events import AARCH64, I386, X32, X86_64
from sysphase.model.syscall_tables import ERRNO_TEXTS, ERRNOS, SIGNALS, SYSCALLS

__all__ = [
    "ARCHES",
    "CLASSES",
    "UNNAMED_LIMIT",
    "X32_SYSCALL_BIT",
    "class_members",
    "errno_name",
    "errno_number",
    "errno_text",
    "name",
    "names",
    "nargs",
    "number",
    "signal_name",
    "signal_number",
]

#: Every architecture sysphase knows, native first.
ARCHES: Final[tuple[str, ...]] = (X86_64, I386, X32, AARCH64)

#: x32 syscall numbers carry this bit (the tables keep it in the number).
X32_SYSCALL_BIT: Final = 0x40000000

_SIGRTMIN: Final = 32

#: A number without a name (``syscall_0x1c3``) is a syscall only below this (from the
#: ABI's first number: 0, or X32_SYSCALL_BIT for x32): the C core counts numbers in 16
#: bits and files every larger one (``syscall(-1)``) under 0xffff, so a recorded profile
#: always reads back; a number beyond (``syscall_0x99999999``) is refused.
UNNAMED_LIMIT: Final = 0x10000
_UNNAMED = re.compile(r"syscall_0x(0|[1-9a-f][0-9a-f]{0,15})")


def _table(arch: str) -> dict[int, str]:
    try:
        return SYSCALLS[arch]
    except KeyError:
        known = ", ".join(ARCHES)
        raise ValueError(f"unknown architecture {arch!r} (known: {known})") from None


@cache
def _reverse(arch: str) -> dict[str, int]:
    return {sc: nr for nr, sc in _table(arch).items()}


def name(arch: str, nr: int) -> str:
    """The name of syscall ``nr`` on ``arch``; ``syscall_0x1b9`` (strace's form) if unknown."""
    found = _table(arch).get(nr)
    if found is not None:
        return found
    return f"syscall_{nr & 0xFFFFFFFFFFFFFFFF:#x}"


def number(arch: str, name: str) -> int | None:
    """The number of syscall ``name`` on ``arch``, or None if ``arch`` has no such call.

    Accepts the ``syscall_0x1b9`` form that :func:`name` gives unknown numbers, exactly
    as it writes them (lower-case hex, no leading zero), for a number the table has no
    name for and below :data:`UNNAMED_LIMIT` (from x32's bit on x32).
    """
    table = _reverse(arch)
    nr = table.get(name)
    if nr is not None:
        return nr
    m = _UNNAMED.fullmatch(name)
    if m is None:
        return None
    nr = int(m.group(1), 16)
    base = X32_SYSCALL_BIT if arch == X32 else 0
    if not base <= nr < base + UNNAMED_LIMIT or nr in _table(arch):
        return None
    return nr


def names(arch: str) -> frozenset[str]:
    """Every syscall name ``arch`` has."""
    return frozenset(_reverse(arch))


def errno_name(n: int) -> str:
    """The symbolic name of errno ``n`` (2 -> "ENOENT"); ``str(n)`` if unknown."""
    return ERRNOS.get(n, str(n))


def errno_text(n: int) -> str:
    """The message for errno ``n`` as strerror (or strace, for restart codes) words it."""
    return ERRNO_TEXTS.get(n, f"Unknown error {n}")


@cache
def _errno_numbers() -> dict[str, int]:
    by_name = {nm: nr for nr, nm in ERRNOS.items()}
    by_name.update(EWOULDBLOCK=by_name["EAGAIN"], EDEADLOCK=by_name["EDEADLK"])
    by_name["ENOTSUP"] = by_name["EOPNOTSUPP"]
    return by_name


def errno_number(name: str) -> int | None:
    """The number of errno ``name`` ("EPERM", "eperm" or "1"), or None."""
    text = name.strip()
    if text.isdigit():
        return int(text)
    return _errno_numbers().get(text.upper())


def signal_name(n: int) -> str:
    """The name of signal ``n`` (12 -> "SIGUSR2", 34 -> "SIGRT_2"); ``str(n)`` if unknown."""
    return SIGNALS.get(n, str(n))


@cache
def _signal_numbers() -> dict[str, int]:
    by_name = {nm: nr for nr, nm in SIGNALS.items()}
    by_name.update(SIGIOT=6, SIGPOLL=29, SIGUNUSED=31, SIGCLD=17, SIGRTMAX=max(SIGNALS))
    return by_name


def signal_number(name: str) -> int | None:
    """The number of a signal given as "SIGUSR2", "USR2", "12", "SIGRTMIN+2" or "SIGRT_2"."""
    text = name.strip().upper()
    if text.isdigit():
        nr = int(text)
        return nr if nr in SIGNALS else None
    if not text.startswith("SIG"):
        text = "SIG" + text
    m = re.fullmatch(r"SIGRTMIN\+(\d+)", text)
    if m:
        nr = _SIGRTMIN + int(m.group(1))
        return nr if nr in SIGNALS else None
    return _signal_numbers().get(text)


#: class name ("%file") -> the x86_64 syscall names in it (strace's classes, from
#: tools/syscallent.in through the generated tables).
CLASSES: Final = MappingProxyType(
    {cls: frozenset(names) for cls, names in syscall_tables.CLASSES.items()}
)
#: calls whose exit stop never comes (exit, exit_group)
NEVER_RETURNS: Final = frozenset(syscall_tables.NEVER_RETURNS)


def nargs(arch: str, name: str) -> int | None:
    """How many arguments strace shows for call NAME of ARCH (None if the tables lack it)."""
    if arch == I386 and name in syscall_tables.I386_NARGS:
        return syscall_tables.I386_NARGS[name]
    return syscall_tables.NARGS.get(name)


def class_members(cls: str) -> frozenset[str]:
    """The x86_64 syscalls of strace class ``cls`` ("%file" or "file"; "%%stat" too)."""
    key = cls if cls.startswith("%") else "%" + cls
    try:
        return CLASSES[key]
    except KeyError:
        known = " ".join(CLASSES)
        raise ValueError(f"unknown syscall class {cls!r} (known: {known})") from None
