"""Type stubs for the C core (csrc/); checked against the module by tests/unit/test_core_stub.py."""

from collections.abc import Callable, Sequence
from typing import Any

ARCH_X86_64: int
ARCH_I386: int
ARCH_X32: int
ARCH_AARCH64: int
STOPS_SYSCALL: int
STOPS_SECCOMP: int
STOPS_SECCOMP_EXIT: int

class CoreError(OSError):
    """A call of the tracer failed: ``call`` names it, ``pid`` the process (0: none)."""

    call: str
    pid: int

def trace(
    path: bytes | None,
    argv: list[bytes],
    envp: list[bytes],
    *,
    pid: int = 0,
    sink: Callable[[list[tuple[Any, ...]]], object] | None = None,
    arg_kinds: dict[int, bytes] | None = None,
    batch: int = 256,
    phase_names: Sequence[tuple[str, str]] | None = None,
    triggers: Sequence[tuple[Any, ...]] | None = None,
    phase_signal: int = 0,
    signal_names: Sequence[str] | None = None,
    arg_watch: dict[int, bytes] | None = None,
    filter: bytes | None = None,
    syscall_stops: bool = True,
    complain: bool = False,
    phase_filters: Sequence[bytes] | None = None,
    enforce_exe: bytes = b"",
    enforce_id: bytes = b"",
    seccomp_stops: int = 0,
    no_new_privs: bool = True,
    known_filters: Sequence[tuple[bytes, str, bytes]] | None = None,
    unknown_filter: bytes | None = None,
) -> dict[str, Any]: ...
