"""Synthetic syscall events for the decoder tests (tests/unit/test_decode_*.py)."""

from __future__ import annotations

from sysphase.model import syscalls
from sysphase.model.events import SyscallEvent

M64 = (1 << 64) - 1


def ev(
    name: str,
    args: tuple[int, ...] = (),
    retval: int | None = 0,
    data: dict[int, bytes] | None = None,
    arch: str = "x86_64",
    pid: int = 1234,
) -> SyscallEvent:
    """An event for ``name`` with args (negative ones as two's complement)."""
    nr = syscalls.number(arch, name)
    assert nr is not None, name
    raw = tuple(a & M64 for a in args) + (0,) * (6 - len(args))
    blobs = tuple((data or {}).get(i) for i in range(6))
    return SyscallEvent(pid, arch, nr, raw, retval, blobs)  # type: ignore[arg-type]


PATH = 0x7FFD0000


def syscalls_table(arch: str) -> dict[int, str]:
    return {syscalls.number(arch, n) or 0: n for n in syscalls.names(arch)}
