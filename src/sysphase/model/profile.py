"""Profiles (`sysphase-profile/1`): what a program asked of the kernel, per process and phase.

A profile is the persisted form of one or more recordings: the command, the
architecture, the number of runs and a process tree whose nodes carry their
phases and, per phase, per-syscall counters. This module holds the typed,
frozen model and the syscall keys; the jobs on it live beside it:

- :mod:`sysphase.model.profile_build`: from a traced :class:`ProcessTree`;
- :mod:`sysphase.model.profile_codec`: the JSON encoding and its strict decoder;
- :mod:`sysphase.model.profile_merge`: merging recordings;
- :mod:`sysphase.model.profile_fragment`: complain-mode reports as fragments;
- :mod:`sysphase.model.profile_stats`: the `stats --json` shape, distinct syscalls;
- :mod:`sysphase.model.profile_diff`: what one profile adds to and removes from another;
- :mod:`sysphase.model.landlock_needs`: a phase's paths and ports (``record --paths``).

docs/formats/profile.md describes the file; the JSON Schema ships as
``sysphase/schemas/profile.schema.json``.

Syscall keys are the plain name for the profile's architecture and
``"<arch>:<name>"`` (``"i386:open"``, ``"x32:read"``) for other ABIs the
traced programs used.

Everything here is pure: reading and (atomically) writing files belongs to
the callers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Final

from sysphase.model.frozen import FrozenMap
from sysphase.model.landlock_needs import LandlockNeeds
from sysphase.model.tree import NodeKind

if TYPE_CHECKING:
    from sysphase.model.timeline import Timeline

__all__ = [
    "ARG_INDEXES",
    "ARG_MAX",
    "BUILD_ID",
    "FORMAT",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "RECORDING_MODES",
    "ArgValues",
    "FirstSeen",
    "Phase",
    "ProcessNode",
    "Profile",
    "Spread",
    "SyscallStat",
    "split_key",
    "syscall_key",
]

FORMAT_NAME: Final = "sysphase-profile"
FORMAT_VERSION: Final = 1
#: The value of the "format" field this sysphase writes and reads.
FORMAT: Final = f"{FORMAT_NAME}/{FORMAT_VERSION}"
#: A GNU build-id as profiles and policies write it: lower-case hex, 1 to 64 bytes.
BUILD_ID: Final = re.compile(r"(?:[0-9a-f]{2}){1,64}")

#: Largest value of a syscall argument (a 64-bit register, unsigned).
ARG_MAX: Final = 2**64 - 1
#: Argument indexes as they appear in "arg_values" keys.
ARG_INDEXES: Final = ("0", "1", "2", "3", "4", "5")


@dataclass(frozen=True, slots=True)
class SyscallStat:
    """Counters of one syscall in one phase of one process.

    calls are completed calls, errors those of them that returned -errno,
    time_ns the wall-clock time from entry to exit, unfinished the calls that
    never returned (exit_group, a thread killed inside a call). in_flight
    counts calls that a thread of the process was in (blocked in futex,
    accept, ...) when the process entered this phase: entered in an earlier
    phase, but under ``sysphase run`` the switch restarts them under this
    phase's filter, so this phase must allow them.
    """

    calls: int = 0
    errors: int = 0
    time_ns: int = 0
    unfinished: int = 0
    in_flight: int = 0

    def __add__(self, other: SyscallStat) -> SyscallStat:
        return SyscallStat(
            self.calls + other.calls,
            self.errors + other.errors,
            self.time_ns + other.time_ns,
            self.unfinished + other.unfinished,
            self.in_flight + other.in_flight,
        )


#: syscall key -> argument index ("0".."5") -> sorted distinct raw values
ArgValues = FrozenMap[FrozenMap[tuple[int, ...]]]


def _no_syscalls() -> FrozenMap[SyscallStat]:
    return FrozenMap()


def _no_args() -> ArgValues:
    return FrozenMap()


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of one process: its position, name, trigger and counters.

    index is the position in the process's phase sequence (0 is the phase it
    started in). In a merged profile two phases may share an index (runs that
    went different ways); (index, name) is unique and orders the phases.
    landlock is what the phase touched in Landlock's terms (``record
    --paths``), None when no run of it recorded paths.
    """

    index: int
    name: str
    trigger: str
    syscalls: FrozenMap[SyscallStat] = field(default_factory=_no_syscalls)
    arg_values: ArgValues = field(default_factory=_no_args)
    landlock: LandlockNeeds | None = None


@dataclass(frozen=True, slots=True)
class ProcessNode:
    """One program image of one task (see sysphase.model.tree.Node).

    id is the node's position in Profile.processes; a parent always comes
    before its children. load_base is the absolute load address of the
    executable, entry its entry point as an offset from the load base; either
    is None when unknown (or when merged runs disagreed, as for exit).
    build_id is the executable's GNU build-id (lower-case hex), which names
    the program whatever its path; None when it has none, or runs disagreed.
    from_fragment is True when the node was seen only in complain-mode
    reports (fragments), never in a recording: its calls are only those the
    policy of the day refused, not all it makes.
    """

    id: int
    parent: int | None
    created: NodeKind
    executable: str
    argv: tuple[str, ...]
    load_base: int | None
    entry: int | None
    exit: str | None
    phases: tuple[Phase, ...]
    build_id: str | None = None
    from_fragment: bool = False


#: how a run was recorded (sysphase.recording.plan.Mode's values): what its counts mean
RECORDING_MODES: Final = ("full", "sets", "known")


@dataclass(frozen=True, slots=True, order=True)
class Spread:
    """How one (program, phase, syscall) varied over a profile's full runs.

    ``runs``: in how many full runs the program made it in that phase;
    ``min_calls`` / ``max_calls``: the fewest and most calls (completed and
    unfinished, over all the program's processes) in one of those runs.
    """

    program: str
    phase: str
    syscall: str
    runs: int
    min_calls: int
    max_calls: int


@dataclass(frozen=True, slots=True, order=True)
class FirstSeen:
    """Where a workload recording first saw a syscall of a program's phase.

    ``scenario`` / ``step`` name the workload's scenario and the step running
    when the call was first counted (``step`` is "" for a scenario without
    steps, "start" for the calls before its first step); ``order`` is
    (scenario's position in the workload, step's position in it), what merge
    compares to keep the earliest of two.
    """

    order: tuple[int, int]
    program: str
    phase: str
    syscall: str
    scenario: str
    step: str = ""


@dataclass(frozen=True, slots=True)
class Profile:
    """A recording (or several merged): command, architecture, runs and process tree.

    complete is False when a recording was interrupted (Ctrl-C, a signal).
    fragment is True for a complain-mode report (``run --complain --report``):
    only the calls outside a policy, never a program's whole set; every
    process of a fragment is ``from_fragment``.
    """

    format: ClassVar[str] = FORMAT

    command: tuple[str, ...]
    arch: str
    runs: int
    complete: bool
    processes: tuple[ProcessNode, ...]
    fragment: bool = False
    #: workload recordings: where each (program, phase, syscall) was first seen, sorted by
    #: (program, phase, syscall); empty for other recordings
    first_seen: tuple[FirstSeen, ...] = ()
    #: how many runs were recorded in each of RECORDING_MODES (empty: not said, an old file)
    recording: FrozenMap[int] = field(default_factory=FrozenMap)
    #: per (program, phase, syscall) seen in a full run: in how many, fewest and most calls
    spread: tuple[Spread, ...] = ()
    #: when things happened, one timeline per run (sysphase.model.timeline), at most 32
    timelines: tuple[Timeline, ...] = ()
    #: ``record --paths``: accesses the core could not keep (its table was full), over the runs
    paths_lost: int = 0


# --- syscall keys ---------------------------------------------------------------------------


def syscall_key(profile_arch: str, arch: str, name: str) -> str:
    """The key of syscall ``name`` of ``arch`` in a profile of ``profile_arch``."""
    return name if arch == profile_arch else f"{arch}:{name}"


def split_key(profile_arch: str, key: str) -> tuple[str, str]:
    """(arch, name) of a syscall key in a profile of ``profile_arch``."""
    arch, sep, name = key.partition(":")
    return (arch, name) if sep else (profile_arch, key)
