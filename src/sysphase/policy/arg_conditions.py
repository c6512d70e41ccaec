"""``--args``: seccomp argument conditions from the argument values a profile recorded.

Recording keeps the distinct values of a few arguments
(:data:`sysphase.model.arg_watch.WATCHED`): socket's domain and type, prctl's
option, ioctl's request, clone's flags, and the protection of mmap and
mprotect. :func:`conditions` turns them into alternatives of conditions (a
call is allowed when one alternative matches), or into no alternatives (the
call is unconditional) with a note saying why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from sysphase.model.arg_watch import WATCHED
from sysphase.policy.ir import ArgCondition

__all__ = [
    "CLONE3_NOTE",
    "CLONE_NS_FLAGS",
    "SOCK_TYPE_MASK",
    "Alternatives",
    "ArgValuesSeen",
    "conditions",
]

_SOCK_NONBLOCK: Final = 0o4000
_SOCK_CLOEXEC: Final = 0o2000000
#: socket's type argument without the SOCK_NONBLOCK and SOCK_CLOEXEC flags.
SOCK_TYPE_MASK: Final = ~(_SOCK_NONBLOCK | _SOCK_CLOEXEC) & 0xFFFFFFFF
_U32: Final = 0xFFFFFFFF
#: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
CLONE_NS_FLAGS: Final = (
    0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80
)
_PROT_WRITE: Final = 0x2
_PROT_EXEC: Final = 0x4

_NO_VALUES_NOTE: Final = "unconditional: the profile has no argument values for it"
CLONE3_NOTE: Final = "unconditional: clone3's flags are in memory, out of seccomp's reach"

#: Alternatives of conditions: the call is allowed when every condition of one holds.
Alternatives = tuple[tuple[ArgCondition, ...], ...]
#: argument index -> the values seen, or None when some source recorded none
ArgValuesSeen = Mapping[int, set[int] | None]


def conditions(name: str, values: ArgValuesSeen | None) -> tuple[Alternatives, str | None]:
    """(alternatives, note) for a watched syscall; no alternatives means unconditional."""
    if name == "clone3":
        return (), CLONE3_NOTE
    watched = WATCHED.get(name)
    if watched is None:
        return (), None
    seen: dict[int, set[int]] = {}
    for index in watched:
        got = None if values is None else values.get(index)
        if not got:
            return (), _NO_VALUES_NOTE
        seen[index] = got
    if name == "socket":
        return _socket(seen)
    if name == "prctl":
        return tuple((ArgCondition(0, "eq", v),) for v in sorted(seen[0])), None
    if name == "ioctl":
        requests = sorted({v & _U32 for v in seen[1]})
        return tuple((ArgCondition(1, "masked_eq", r, _U32),) for r in requests), None
    if name == "clone":
        return _clone(seen)
    if name in ("mmap", "mprotect"):
        return _no_write_and_exec(seen)
    return (), None


def _socket(seen: Mapping[int, set[int]]) -> tuple[Alternatives, str | None]:
    """Every seen (domain, type without its flags) pair."""
    pairs = sorted({(d, t & SOCK_TYPE_MASK) for d in seen[0] for t in seen[1]})
    alts: Alternatives = tuple(
        (ArgCondition(0, "eq", d), ArgCondition(1, "masked_eq", t, SOCK_TYPE_MASK))
        for d, t in pairs
    )
    note = None
    if len(seen[0]) > 1 and len(seen[1]) > 1:
        note = "every seen domain with every seen type (the profile keeps them apart)"
    return alts, note


def _clone(seen: Mapping[int, set[int]]) -> tuple[Alternatives, str | None]:
    """The namespace flags seen together (usually none)."""
    combos = sorted({v & CLONE_NS_FLAGS for v in seen[0]})
    note = None
    if combos != [0]:
        note = "the trace saw new namespaces: exactly those combinations are allowed"
    return tuple((ArgCondition(0, "masked_eq", c, CLONE_NS_FLAGS),) for c in combos), note


def _no_write_and_exec(seen: Mapping[int, set[int]]) -> tuple[Alternatives, str | None]:
    """mmap and mprotect: never writable and executable at once, unless the trace saw it."""
    wx = _PROT_WRITE | _PROT_EXEC
    if any(v & wx == wx for v in seen[2]):
        return (), "unconditional: the trace saw memory both writable and executable"
    no_exec: tuple[ArgCondition, ...] = (ArgCondition(2, "masked_eq", 0, _PROT_EXEC),)
    no_write: tuple[ArgCondition, ...] = (ArgCondition(2, "masked_eq", 0, _PROT_WRITE),)
    return (no_exec, no_write), None
