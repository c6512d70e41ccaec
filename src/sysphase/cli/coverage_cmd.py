"""`sysphase coverage`: per program and phase, the syscalls seen against those its code can reach.

Reads the profile, each program's executable and the libraries it needs
(DT_NEEDED, breadth first, from the system's library folders: bounded reads,
one sentence naming the file when a program is missing or not ELF), runs the
pure analysis of :mod:`sysphase.coverage` and prints the report (text, or
``--json``). With ``--policy``: what the policy allows beyond both. It reads
the policy, never changes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

from sysphase._host import files
from sysphase.coverage import binary_reach, program, report
from sysphase.coverage.library_reach import LibraryCode
from sysphase.coverage.linking import Library, Linker
from sysphase.errors import UsageError
from sysphase.model import elf
from sysphase.model.events import X86_64

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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("profile", metavar="PROFILE")
    p.add_argument("--policy", metavar="P", help="also list what this policy allows beyond both")
    p.add_argument("--json", action="store_true", help="the report as JSON")


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


def _reaches(executables: list[str], profile: str) -> dict[str, report.ProgramReach]:
    """Each program's reach; a library's loading counts in the first program that needs it."""
    programs = {exe: _read_program(exe, profile) for exe in executables}  # fail before the work
    libraries = _Libraries()
    reaches = {}
    for exe, (data, image) in programs.items():
        started = time.monotonic()
        linker, missing = libraries.linker(image.needed)
        binary = binary_reach.analyse(data, image)
        reach = program.program_reach(exe, binary, linker)
        unresolved = dict(reach.unresolved) | {f"needed library {m} not found": 1 for m in missing}
        reaches[exe] = dataclasses.replace(
            reach, unresolved=unresolved, seconds=time.monotonic() - started
        )
    return reaches


def run(args: argparse.Namespace) -> int:
    profile = files.read_profile(args.profile)
    if profile.arch != X86_64:
        raise UsageError(
            f"{args.profile} was recorded on {profile.arch}; coverage reads x86-64 code only"
        )
    policy = files.read_policy(args.policy)[0] if args.policy else None
    executables = list(dict.fromkeys(node.executable for node in profile.processes))
    covered = report.cover(profile, _reaches(executables, args.profile), policy)
    if args.json:
        print(json.dumps(report.to_json(covered), indent=2, sort_keys=True))
    else:
        print(report.render(covered), end="")
    return 0
