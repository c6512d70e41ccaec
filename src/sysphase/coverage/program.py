"""One program's reach: its own syscalls and imports, followed through its libraries, as names.

Joins :mod:`sysphase.coverage.binary_reach` (the executable) and
:mod:`sysphase.coverage.linking` (its libraries, libc among them) into the
:class:`~sysphase.coverage.report.ProgramReach` the report works on: a source
per imported function, named after the library that defines it
(``connect@libc``, ``sqlite3_open_v2@libsqlite3``), ``syscall@libc`` for the
constant numbers passed to libc's ``syscall(2)``, :data:`DIRECT` for the
program's own ``syscall`` instructions, and the counts of what could not be
followed. Pure.
"""

from __future__ import annotations

from typing import Final

from sysphase.coverage.binary_reach import WRAPPER, BinaryReach
from sysphase.coverage.linking import Linker
from sysphase.coverage.report import DIRECT, ProgramReach
from sysphase.model import syscalls
from sysphase.model.events import X86_64

__all__ = ["UNRESOLVED", "function_calls", "library_label", "program_reach"]

#: kind of unresolved library site -> how the report says it (then "in LIBRARY")
UNRESOLVED: Final = {
    "plt": "calls through PLT stubs of no symbol (IFUNC-selected functions)",
    "indirect": "indirect calls or jumps",
    "syscall": "syscall instructions without a constant number",
    "wrapper": "calls of syscall(2) without a constant number",
    "no_bounds": "direct calls to code outside every known function",
}
#: numbers beyond the table are kept (as syscall_0x...) only below this
_UNNAMED_BELOW: Final = 1024


def library_label(library: str) -> str:
    """``libc.so.6`` -> ``libc``: how a source names its library."""
    return library.rsplit("/", 1)[-1].split(".so", 1)[0]


def _names(numbers: frozenset[int]) -> frozenset[str]:
    known = syscalls.names(X86_64)
    named = {syscalls.name(X86_64, nr) for nr in numbers if 0 <= nr < 0x10000}
    return frozenset(n for n in named if n in known or int(n[10:], 16) < _UNNAMED_BELOW)


def function_calls(linker: Linker, name: str) -> frozenset[str] | None:
    """The syscalls function ``name`` reaches through the libraries, by their table names.

    None when no library of ``linker`` defines it. Numbers without a name in the
    table are left out (a policy names its calls).
    """
    reach = linker.reach(name)
    if reach is None:
        return None
    known = syscalls.names(X86_64)
    return frozenset(n for n in _names(reach.syscalls) if n in known)


def _own(binary: BinaryReach) -> dict[str, int]:
    unresolved = {}
    if binary.direct_unresolved:
        unresolved["syscall instructions in the program without a constant number"] = (
            binary.direct_unresolved
        )
    if binary.wrapper_unresolved:
        unresolved["calls of syscall(2) without a constant number"] = binary.wrapper_unresolved
    return unresolved


def program_reach(
    executable: str, binary: BinaryReach, linker: Linker, seconds: float = 0.0
) -> ProgramReach:
    """The sources, unresolved counts and imports no library defines, of one program."""
    sources: dict[str, frozenset[str]] = {}
    sites: dict[tuple[str, str], set[int]] = {}
    missing: set[str] = set()
    not_followed: list[str] = []
    for name in binary.imports:
        if name == WRAPPER:
            owner = library_label(linker.defines(WRAPPER) or "libc.so.6")
            sources[f"{WRAPPER}@{owner}"] = _names(binary.wrapper)
            continue
        reach = linker.reach(name)
        if reach is None:
            not_followed.append(name)
            continue
        sources[f"{name}@{library_label(reach.library)}"] = _names(reach.syscalls)
        for key, found in reach.unresolved.items():
            sites.setdefault(key, set()).update(found)
        missing |= reach.missing
    if binary.direct:
        sources[DIRECT] = _names(binary.direct)
    unresolved = {
        f"{UNRESOLVED[kind]} in {library}": len(found)
        for (library, kind), found in sorted(sites.items())
        if found
    }
    if missing:
        unresolved["functions called by a library that no library defines"] = len(missing)
    unresolved |= _own(binary)
    return ProgramReach(
        executable,
        {label: names for label, names in sources.items() if names},
        unresolved,
        tuple(not_followed),
        len(binary.imports),
        seconds,
    )
