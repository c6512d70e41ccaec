"""Which syscall arguments recording keeps the distinct values of.

These are the arguments policy generation can turn into seccomp argument
conditions (`sysphase policy --args`): socket's domain and type, prctl's
option, ioctl's request, clone's flags, and the protection of mmap and
mprotect. clone3's flags live in memory, out of seccomp's reach.
"""

from __future__ import annotations

from sysphase.model import syscalls

WATCHED: dict[str, tuple[int, ...]] = {
    "socket": (0, 1),
    "prctl": (0,),
    "ioctl": (1,),
    "clone": (0,),
    "mmap": (2,),
    "mprotect": (2,),
}


def table(arch: str) -> bytes:
    """For the C core: one byte per syscall number, a bitmask of the arguments to keep."""
    numbers = {syscalls.number(arch, name): args for name, args in WATCHED.items()}
    known = {nr: args for nr, args in numbers.items() if nr is not None}
    out = bytearray(max(known) + 1 if known else 0)
    for nr, args in known.items():
        for i in args:
            out[nr] |= 1 << i
    return bytes(out)
