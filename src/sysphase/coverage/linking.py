"""Following a call by name from library to library, in the dynamic loader's search order.

An executable's import, and every function a library calls through its PLT
or GOT, is found as ld.so finds it: in the first library of the search order
(the executable's DT_NEEDED, breadth first) that defines it. What the import
reaches is the union, over every function reached so, of what each reaches
in its own library (:class:`~sysphase.coverage.library_reach.LibraryCode`).
Pure: the caller loads the libraries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sysphase.coverage.library_reach import LibraryCode

__all__ = ["Library", "Linker", "Reach"]


@dataclass(frozen=True, slots=True)
class Library:
    """A library as DT_NEEDED names it, and its code."""

    name: str
    code: LibraryCode


@dataclass(frozen=True, slots=True)
class Reach:
    """What an imported function reaches across libraries.

    ``library``: the one that defines it; ``unresolved``: (library, kind) ->
    site addresses; ``missing``: functions called that no library defines.
    """

    library: str
    syscalls: frozenset[int]
    unresolved: Mapping[tuple[str, str], frozenset[int]]
    missing: frozenset[str]


class Linker:
    """The libraries in search order, and each name's reach, computed once."""

    def __init__(self, libraries: Sequence[Library]) -> None:
        self._owner: dict[str, Library] = {}
        for library in libraries:
            for name in library.code.exports:
                self._owner.setdefault(name, library)
        self._reach: dict[str, Reach | None] = {}

    def defines(self, name: str) -> str | None:
        """The library that defines ``name``, or None."""
        owner = self._owner.get(name)
        return None if owner is None else owner.name

    def reach(self, name: str) -> Reach | None:
        """What ``name`` reaches; None when no library defines it."""
        if name not in self._reach:
            self._reach[name] = self._closure(name)
        return self._reach[name]

    def _closure(self, name: str) -> Reach | None:
        first = self._owner.get(name)
        if first is None:
            return None
        seen = {name}
        todo = [name]
        syscalls: set[int] = set()
        unresolved: dict[tuple[str, str], set[int]] = {}
        missing: set[str] = set()
        while todo:
            current = todo.pop()
            owner = self._owner.get(current)
            found = owner.code.reach(current) if owner is not None else None
            if owner is None or found is None:
                missing.add(current)
                continue
            syscalls |= found.syscalls
            for kind, sites in found.unresolved.items():
                unresolved.setdefault((owner.name, kind), set()).update(sites)
            for imported in found.imports - seen:
                seen.add(imported)
                todo.append(imported)
        return Reach(
            first.name,
            frozenset(syscalls),
            {key: frozenset(sites) for key, sites in unresolved.items()},
            frozenset(missing),
        )
