"""Reading a profile's programs and the libraries they need, for the coverage analysis.

One place for ``coverage``, ``policy --explain``, ``policy --allow-reachable``
and ``stats --coverage``: each program's executable and the libraries it
needs (DT_NEEDED, breadth first, from the system's library folders, bounded
reads; a library read once serves every program), handed to the pure
analysis of :mod:`sysphase.coverage`. A program that is missing or not ELF
is one sentence naming the file (UsageError), or, where reachability is only
extra information (:meth:`ProgramCode.reaches_or_reasons`), the reason it is
unknown.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sysphase._host import files
from sysphase.coverage import binary_reach, program, report
from sysphase.coverage.library_reach import LibraryCode
from sysphase.coverage.linking import Library, Linker
from sysphase.errors import UsageError
from sysphase.model import elf
from sysphase.model.events import X86_64
from sysphase.model.profile import Profile

__all__ = ["LIBRARY_DIRS", "LoadedProgram", "ProgramCode", "executables", "unsupported"]

#: where needed libraries are looked for, in order (Debian's multiarch folders first)
LIBRARY_DIRS = (
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
)
#: the largest executable or library read
_CODE_LIMIT = 1 << 30


def unsupported(profile: Profile, name: str) -> str | None:
    """Why ``profile`` (read from ``name``) cannot be analysed, or None (x86-64 code only)."""
    if profile.arch == X86_64:
        return None
    return f"{name} was recorded on {profile.arch}; coverage reads x86-64 code only"


def executables(profile: Profile) -> list[str]:
    """The profile's programs, in the order they first appear."""
    return list(dict.fromkeys(node.executable for node in profile.processes))


def _read_elf(path: str, what: str) -> tuple[bytes, elf.CodeImage]:
    """The bytes and code image of an ELF file; a missing or non-ELF file is one sentence."""
    data = files.read_bytes_bounded(path, _CODE_LIMIT, "an ELF file", UsageError)
    try:
        return data, elf.read_code(data)
    except elf.ElfError as err:
        raise UsageError(f"{path} is {err} ({what})") from None


def _read_program(path: str, profile: str) -> tuple[bytes, elf.CodeImage]:
    try:
        return _read_elf(path, f"a program of {profile}")
    except UsageError as err:
        if str(err).startswith(f"{path} is "):
            raise
        raise UsageError(f"{err} (a program of {profile}, whose code coverage reads)") from None


@dataclass(frozen=True, slots=True)
class LoadedProgram:
    """A program's own share, its libraries in ld.so's order, the needed ones not found."""

    executable: str
    binary: binary_reach.BinaryReach
    linker: Linker
    missing: tuple[str, ...]


class _Libraries:
    """The libraries read so far, by DT_NEEDED name (None: not found)."""

    def __init__(self) -> None:
        self._loaded: dict[str, Library | None] = {}

    def _load(self, name: str) -> Library | None:
        paths = [name] if "/" in name else [os.path.join(d, name) for d in LIBRARY_DIRS]
        path = next((p for p in paths if os.path.isfile(p)), None)
        if path is None:
            return None
        data, image = _read_elf(path, "a library a program needs")
        try:
            fdes = elf.fde_ranges(data)
        except elf.ElfError as err:
            raise UsageError(f"{path} is {err} (a library a program needs)") from None
        return Library(name, LibraryCode(data, image, fdes))

    def linker(self, needed: tuple[str, ...]) -> tuple[Linker, list[str]]:
        """The libraries of ``needed`` and theirs, in ld.so's search order; names not found."""
        order: list[Library] = []
        missing: list[str] = []
        queue = list(dict.fromkeys(needed))
        seen = set(queue)
        while queue:
            name = queue.pop(0)
            if name not in self._loaded:
                self._loaded[name] = self._load(name)
            library = self._loaded[name]
            if library is None:
                missing.append(name)
                continue
            order.append(library)
            for more in library.code.needed:
                if more not in seen:
                    seen.add(more)
                    queue.append(more)
        return Linker(order), missing


class ProgramCode:
    """The programs of one profile (named ``profile`` in messages), read on demand."""

    def __init__(self, profile: str) -> None:
        self._profile = profile
        self._libraries = _Libraries()
        self._loaded: dict[str, LoadedProgram] = {}

    def read(self, executable: str) -> tuple[bytes, elf.CodeImage]:
        """The executable's bytes and code image; UsageError naming it when missing or not ELF."""
        return _read_program(executable, self._profile)

    def load(
        self, executable: str, code: tuple[bytes, elf.CodeImage] | None = None
    ) -> LoadedProgram:
        """The program's imports, own syscalls and libraries (read once, when first asked)."""
        loaded = self._loaded.get(executable)
        if loaded is None:
            data, image = code if code is not None else self.read(executable)
            linker, missing = self._libraries.linker(image.needed)
            binary = binary_reach.analyse(data, image)
            loaded = LoadedProgram(executable, binary, linker, tuple(missing))
            self._loaded[executable] = loaded
        return loaded

    def reach(
        self, executable: str, code: tuple[bytes, elf.CodeImage] | None = None
    ) -> report.ProgramReach:
        """What the program reaches; a library's loading counts in the first program needing it."""
        started = time.monotonic()
        loaded = self.load(executable, code)
        reach = program.program_reach(executable, loaded.binary, loaded.linker)
        unresolved = dict(reach.unresolved) | {
            f"needed library {m} not found": 1 for m in loaded.missing
        }
        return dataclasses.replace(reach, unresolved=unresolved, seconds=time.monotonic() - started)

    def reaches(self, programs: Iterable[str]) -> dict[str, report.ProgramReach]:
        """Each program's reach; every program is read first, so a bad one fails before the work."""
        code = {exe: self.read(exe) for exe in programs}
        return {exe: self.reach(exe, read) for exe, read in code.items()}

    def reaches_or_reasons(
        self, profile: Profile
    ) -> tuple[dict[str, report.ProgramReach], dict[str, str]]:
        """Each program's reach, or the sentence saying why it is unknown (missing, not ELF...)."""
        programs = executables(profile)
        refused = unsupported(profile, self._profile)
        if refused:
            return {}, dict.fromkeys(programs, refused)
        reaches: dict[str, report.ProgramReach] = {}
        reasons: dict[str, str] = {}
        for exe in programs:
            try:
                reaches[exe] = self.reach(exe)
            except UsageError as err:
                reasons[exe] = str(err)
        return reaches, reasons
