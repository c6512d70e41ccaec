"""The options object of ``sysphase._core.trace`` and its parts, as ``_core.pyi`` describes them.

Plain frozen dataclasses: the C core reads their attributes (csrc/options.c).
sysphase._host.tracer, the only importer of the core, builds them; the tracing mode
(``mode``) is its ``Mode`` enum's value, decided there once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Adopt", "CoreKnown", "CoreOptions", "CoreTrigger", "Spawn"]


@dataclass(frozen=True, slots=True)
class Spawn:
    """The program trace() starts: ``path`` with ``argv`` and ``envp`` (bytes)."""

    path: bytes
    argv: list[bytes]
    envp: list[bytes]


@dataclass(frozen=True, slots=True)
class Adopt:
    """The process trace() seizes and waits for to exec in place (sysphase._host.keep_pid).

    The core writes the PTRACE_SEIZE errno (0: seized) as a native int to ``ready_fd``.
    """

    pid: int
    ready_fd: int


@dataclass(frozen=True, slots=True)
class CoreTrigger:
    """One sequential trigger: a syscall entry or a breakpoint, starting phase id ``phase``."""

    kind: str  # "syscall" | "breakpoint"
    phase: int
    program: bytes  # the executable whose processes it applies to; b"": every program
    program_id: bytes  # or its build-id
    arch: int = 0
    nr: int = 0
    exe: bytes = b""  # breakpoint: the executable the offset is in
    offset: int = 0
    main_only: bool = False  # syscall: only the main thread's call counts
    after_nr: int = -1  # syscall: counts once the process made this call (same arch)


@dataclass(frozen=True, slots=True)
class CoreKnown:
    """Known-set recording: the filter of one (executable, phase name)."""

    exe: bytes
    phase: str
    bpf: bytes


@dataclass(frozen=True, slots=True)
class CoreOptions:
    """The one options object of ``_core.trace``."""

    mode: int  # MODE_*: sysphase._host.tracer.Mode's value
    sink: Callable[[list[Any]], object] | None = None  # receives _core.Event records
    batch: int = 256
    arg_kinds: dict[int, bytes] | None = None
    arg_watch: dict[int, bytes] | None = None
    phase_names: tuple[tuple[str, str], ...] = (("start", "start"),)
    triggers: tuple[CoreTrigger, ...] = ()
    phase_signal: int = 0
    signal_names: tuple[str, ...] = ()
    filter: bytes | None = None
    phase_filters: tuple[bytes, ...] | None = None
    enforce_exe: bytes = b""
    enforce_id: bytes = b""
    known_filters: tuple[CoreKnown, ...] = ()
    unknown_filter: bytes | None = None
    supervise: bool = True
    violation_sink: Callable[[list[Any]], object] | None = None  # receives _core.Violation
    snapshot_sink: Callable[[Any], object] | None = None  # receives the _core.TraceResult so far
    snapshot_every_ns: int = 0
    kill_after_ns: int = 10_000_000_000  # adopt: after the program's SIGINT/SIGTERM, kill the tree
    attach_target: int = 0  # attach enforcing (run -p): the phase id every process switches to
    paths: bool = False  # record --paths: note the paths and ports file and socket calls touch
    landlock_first: int = -1  # our descriptor of the first phase's Landlock ruleset, -1: none
    #: per phase id: (the program's descriptor, ours) of its Landlock ruleset, (-1, -1): none
    landlock_fds: tuple[tuple[int, int], ...] = ()
