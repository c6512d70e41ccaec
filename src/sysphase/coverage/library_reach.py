"""The syscalls each function of a shared library (libc first) can reach, from its code.

:class:`LibraryCode` takes a library's bytes (the caller reads the file), its
dynamic exports (:func:`sysphase.model.elf.read_code`) and its function bounds
(``.eh_frame`` FDEs, :func:`sysphase.model.elf.fde_ranges`). Demand-driven:
a function (one FDE, up to the next one; a symbol's size where no FDE covers it) is disassembled
the first time a function reachable from an import needs it, and its summary
is kept for the next program. A function's summary: the syscall numbers a
constant ``mov`` puts in ``eax`` before a ``syscall`` in the same straight run
(:mod:`sysphase.coverage.scan`), the functions it calls or jumps to directly,
the functions of other libraries it calls through its PLT or GOT (by name:
:mod:`sysphase.coverage.linking` finds them), and what cannot be followed:
calls through a PLT or GOT slot that names no symbol (libc's IFUNC-selected
string functions), indirect calls and jumps, syscalls whose number is not a
constant (and calls of ``syscall(2)`` without a constant in ``edi``: with one,
the number is the call's), direct targets outside every known function.

What a function reaches within its library is the closure over direct calls
and jumps. Pure (bytes in); capstone does the decoding.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from sysphase.coverage.plt import branch_import, plt_stubs
from sysphase.coverage.scan import Branch, disassemble, scan
from sysphase.model.elf import CodeImage, Span

__all__ = ["UNRESOLVED_KINDS", "FunctionReach", "LibraryCode"]

#: The kinds of unresolved sites, as reports name them.
UNRESOLVED_KINDS: Final = ("plt", "indirect", "syscall", "wrapper", "no_bounds")
#: libc's generic wrapper: its number is the caller's first argument (edi)
WRAPPER: Final = "syscall"


@dataclass(frozen=True, slots=True)
class _Summary:
    """One function's own facts (not followed)."""

    syscalls: frozenset[int]
    callees: frozenset[int]
    imports: frozenset[str]
    unresolved: Mapping[str, frozenset[int]]


@dataclass(frozen=True, slots=True)
class FunctionReach:
    """What one function reaches in its library: syscall numbers, imports, unresolved sites.

    ``imports``: the functions of other libraries called through the PLT or GOT;
    ``unresolved``: kind (:data:`UNRESOLVED_KINDS`) -> the addresses of those
    sites in the functions it reaches; ``functions``: how many functions that is.
    """

    syscalls: frozenset[int]
    imports: frozenset[str]
    unresolved: Mapping[str, frozenset[int]]
    functions: int


class LibraryCode:
    """A library's code, its functions disassembled on demand and summarised once."""

    def __init__(self, data: bytes, image: CodeImage, fdes: Iterable[tuple[int, int]]) -> None:
        self._data = data
        self._image = image
        ranges = sorted(fdes)
        self._starts = [start for start, _end in ranges]
        # a function runs on to the next FDE: hand-written code ends its FDE early (glibc's
        # clone and clone3 end it before the syscall, whose child has no frame to unwind)
        self._ends = [
            max(end, self._starts[i + 1]) if i + 1 < len(ranges) else end
            for i, (_start, end) in enumerate(ranges)
        ]
        symbols = sorted((addr, addr + size) for addr, size in image.functions.values() if size)
        self._sym_starts = [start for start, _end in symbols]
        self._sym_ends = [end for _start, end in symbols]
        self._summaries: dict[int, _Summary] = {}
        self._bounds: dict[int, int] = {}
        self._stubs = plt_stubs(data, image)
        self._reach: dict[str, FunctionReach | None] = {}

    @property
    def exports(self) -> Mapping[str, tuple[int, int]]:
        """The functions the library defines: name -> (address, size)."""
        return self._image.functions

    @property
    def needed(self) -> tuple[str, ...]:
        """The libraries it needs (DT_NEEDED)."""
        return self._image.needed

    def reach(self, name: str) -> FunctionReach | None:
        """What exported function ``name`` reaches; None when the library does not define it."""
        if name not in self._reach:
            self._reach[name] = self._closure(name)
        return self._reach[name]

    def _closure(self, name: str) -> FunctionReach | None:
        found = self._image.functions.get(name)
        if found is None:
            return None
        start = self._function_at(found[0])
        if start is None:
            return FunctionReach(frozenset(), frozenset(), {"no_bounds": frozenset({found[0]})}, 0)
        seen = {start}
        todo = [start]
        syscalls: set[int] = set()
        imports: set[str] = set()
        unresolved: dict[str, set[int]] = {}
        while todo:
            summary = self._summary(todo.pop())
            syscalls |= summary.syscalls
            imports |= summary.imports
            for kind, sites in summary.unresolved.items():
                unresolved.setdefault(kind, set()).update(sites)
            for callee in summary.callees - seen:
                seen.add(callee)
                todo.append(callee)
        frozen = {kind: frozenset(sites) for kind, sites in unresolved.items() if sites}
        return FunctionReach(frozenset(syscalls), frozenset(imports), frozen, len(seen))

    def _function_at(self, address: int) -> int | None:
        """The start of the function (FDE, else symbol) holding ``address``, bounds noted."""
        for starts, ends in ((self._starts, self._ends), (self._sym_starts, self._sym_ends)):
            i = bisect.bisect_right(starts, address) - 1
            if i >= 0 and address < ends[i]:
                self._bounds.setdefault(starts[i], ends[i])
                return starts[i]
        return None

    def _span(self, address: int) -> Span | None:
        return next(
            (s for s in self._image.code if s.address <= address < s.address + s.size), None
        )

    def _in_plt(self, address: int) -> bool:
        return any(s.address <= address < s.address + s.size for s in self._image.plt)

    def _summary(self, start: int) -> _Summary:
        cached = self._summaries.get(start)
        if cached is not None:
            return cached
        end = self._bounds[start]
        span = self._span(start)
        insns = []
        if span is not None:
            at = span.offset + start - span.address
            size = min(end, span.address + span.size) - start
            insns = disassemble(self._data[at : at + size], start)
        result = scan(insns)
        unresolved: dict[str, set[int]] = {kind: set() for kind in UNRESOLVED_KINDS}
        unresolved["syscall"] = {addr for addr, nr in result.syscalls if nr is None}
        imports: set[str] = set()
        numbers = {nr for _addr, nr in result.syscalls if nr is not None}
        callees = self._callees(start, end, result.branches, imports, unresolved)
        for branch in result.branches:
            if WRAPPER in imports and branch_import(branch, self._stubs, self._image) == WRAPPER:
                if branch.edi is None:
                    unresolved["wrapper"].add(branch.address)
                else:
                    numbers.add(branch.edi)
        imports.discard(WRAPPER)
        summary = _Summary(
            frozenset(numbers),
            frozenset(callees),
            frozenset(imports),
            {kind: frozenset(sites) for kind, sites in unresolved.items() if sites},
        )
        self._summaries[start] = summary
        return summary

    def _callees(
        self,
        start: int,
        end: int,
        branches: Iterable[Branch],
        imports: set[str],
        unresolved: dict[str, set[int]],
    ) -> set[int]:
        callees: set[int] = set()
        for branch in branches:
            target = branch.target
            imported = branch_import(branch, self._stubs, self._image)
            if imported is not None:
                imports.add(imported)
            elif target is None:  # a register, or memory (a GOT slot of no symbol: IRELATIVE)
                unresolved["indirect"].add(branch.address)
            elif start <= target < end:
                continue
            elif self._in_plt(target):
                unresolved["plt"].add(branch.address)
            else:
                callee = self._function_at(target)
                if callee is None:
                    unresolved["no_bounds"].add(branch.address)
                else:
                    callees.add(callee)
        return callees
