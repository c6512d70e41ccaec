"""What sysphase reads of an ELF image (bytes in), through pyelftools.

The one ELF reader of the package: phase triggers (:func:`symbol_offset`,
:func:`link_base`), program identity (:func:`build_id`) and ``sysphase patch``
(:func:`read_image`: machine, type, interpreter, needed libraries) all use it.
pyelftools reads from a file object; the bytes are wrapped in ``io.BytesIO``,
so this module stays pure (the caller reads the file, bounded).

A symbol's offset is its address minus the image's link-time base (the first
PT_LOAD's p_vaddr - p_offset), which is what the tracer adds to the runtime
load base (the first mapping of the file, minus its file offset). Symbols are
looked up in .symtab, else .dynsym; program identity and symbols are read of
64-bit little-endian files only, as the C core reads them (csrc/identity.c).

Every :class:`ElfError` message reads after "PATH is" or "PATH: ": ``not an ELF
file``, ``a damaged ELF file (...)``, ``only 64-bit little-endian ELF files
are supported``, ``no symbol 'NAME' in .symtab or .dynsym (...)``.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

__all__ = ["ElfError", "ElfImage", "build_id", "link_base", "read_image", "symbol_offset"]

_MAGIC: Final = b"\x7fELF"
#: pyelftools' machine names -> the names sysphase uses (uname -m).
_MACHINES: Final = {
    "EM_386": "i386",
    "EM_MIPS": "mips",
    "EM_PPC": "ppc",
    "EM_PPC64": "ppc64",
    "EM_S390": "s390x",
    "EM_ARM": "arm",
    "EM_X86_64": "x86_64",
    "EM_AARCH64": "aarch64",
    "EM_RISCV": "riscv",
}
#: What pyelftools raises on a damaged file besides its ELFError and ConstructError (from
#: the structures it follows: offsets past the end or past 2**63, tables of the wrong type).
_DAMAGED: Final = (
    ValueError,
    IndexError,
    KeyError,
    AssertionError,
    EOFError,
    struct.error,
    ArithmeticError,
)


class ElfError(ValueError):
    """Not an ELF file sysphase can read, or the symbol is not there."""


@dataclass(frozen=True, slots=True)
class ElfImage:
    """The headers of an ELF file: what ``sysphase patch`` checks and changes.

    ``machine`` is ``x86_64``, ``aarch64``...; for a file that is not 64-bit
    little-endian, followed by its class (``i386 (32-bit)``). ``elf_type`` is
    pyelftools' name of ``e_type`` (``ET_EXEC``, ``ET_DYN``...). ``needed``
    are the DT_NEEDED entries in order, decoded as file names are
    (UTF-8, undecodable bytes as surrogate escapes).
    """

    machine: str
    elf_type: str
    interpreter: str | None
    needed: tuple[str, ...]

    @property
    def is_program(self) -> bool:
        """Whether the loader can run it: an executable or a position-independent one."""
        return self.elf_type in ("ET_EXEC", "ET_DYN")


@contextmanager
def _reading() -> Iterator[None]:
    """Turn pyelftools' errors on a damaged file into one ElfError."""
    from elftools.common.exceptions import ELFError
    from elftools.construct import ConstructError

    try:
        yield
    except ElfError:
        raise
    except (ELFError, ConstructError, *_DAMAGED) as err:
        raise ElfError(f"a damaged ELF file ({err or type(err).__name__})") from None


def _open(data: bytes, *, only_64_le: bool = False) -> ELFFile:
    """pyelftools' reader of ``data`` (imported here: ~30 ms, not paid by every command)."""
    from elftools.elf.elffile import ELFFile

    if data[:4] != _MAGIC:
        raise ElfError("not an ELF file")
    with _reading():
        elf = ELFFile(io.BytesIO(data))
    if only_64_le and (elf.elfclass != 64 or not elf.little_endian):
        raise ElfError("only 64-bit little-endian ELF files are supported")
    return elf


def _machine(elf: ELFFile) -> str:
    raw: object = elf["e_machine"]
    if isinstance(raw, str):
        name = _MACHINES.get(raw, raw.removeprefix("EM_").lower())
    else:
        name = f"machine {raw}"
    if elf.elfclass != 64 or not elf.little_endian:
        return f"{name} ({elf.elfclass}-bit)"
    return name


def _cstr(data: bytes, offset: int) -> str:
    end = data.index(b"\0", offset)
    return data[offset:end].decode("utf-8", "surrogateescape")


def _needed(elf: ELFFile, data: bytes) -> tuple[str, ...]:
    """DT_NEEDED names, read from DT_STRTAB as the loader finds it (through PT_LOAD)."""
    from elftools.elf.dynamic import DynamicSegment

    for segment in elf.iter_segments("PT_DYNAMIC"):
        assert isinstance(segment, DynamicSegment)
        offsets = [int(tag["d_val"]) for tag in segment.iter_tags("DT_NEEDED")]
        if not offsets:
            return ()
        _, strtab = segment.get_table_offset("DT_STRTAB")
        if strtab is None:
            raise ElfError("a damaged ELF file (DT_STRTAB outside every PT_LOAD segment)")
        return tuple(_cstr(data, strtab + offset) for offset in offsets)
    return ()


def read_image(data: bytes) -> ElfImage:
    """Machine, type, interpreter and needed libraries of an ELF file's bytes.

    ElfError ``not an ELF file`` or ``a damaged ELF file (...)``. The
    interpreter and needed libraries are read of 64-bit little-endian files
    only (anything else is refused by its machine first).
    """
    from elftools.elf.segments import InterpSegment

    elf = _open(data)
    with _reading():
        machine = _machine(elf)
        elf_type = str(elf["e_type"])
        if elf.elfclass != 64 or not elf.little_endian:
            return ElfImage(machine, elf_type, None, ())
        interpreter = None
        for segment in elf.iter_segments("PT_INTERP"):
            assert isinstance(segment, InterpSegment)
            interpreter = segment.get_interp_name()
        return ElfImage(machine, elf_type, interpreter, _needed(elf, data))


def _link_base(elf: ELFFile) -> int:
    for segment in elf.iter_segments("PT_LOAD"):
        return int(segment["p_vaddr"]) - int(segment["p_offset"])
    raise ElfError("no PT_LOAD segment")


def link_base(data: bytes) -> int:
    """p_vaddr - p_offset of the first PT_LOAD segment (0 for a PIE)."""
    elf = _open(data, only_64_le=True)
    with _reading():
        return _link_base(elf)


def build_id(data: bytes) -> str | None:
    """The GNU build-id note of a 64-bit little-endian ELF image, as lower-case hex.

    None when the image has none, or is not such an ELF file, or is damaged (the
    C core reads the same note from a running program: csrc/identity.c).
    """
    from elftools.elf.segments import NoteSegment

    try:
        elf = _open(data, only_64_le=True)
        with _reading():
            for segment in elf.iter_segments("PT_NOTE"):
                assert isinstance(segment, NoteSegment)
                for note in segment.iter_notes():
                    if note["n_type"] == "NT_GNU_BUILD_ID" and note["n_name"] == "GNU":
                        desc = str(note["n_desc"])
                        return desc if 0 < len(desc) <= 128 else None
    except ElfError:
        return None
    return None


def _name_offsets(names: bytes, wanted: bytes) -> set[int]:
    """Every offset in a string table where the string ``wanted`` starts (tails shared)."""
    key = wanted + b"\0"
    found: set[int] = set()
    at = names.find(key)
    while at >= 0:
        found.add(at)
        at = names.find(key, at + 1)
    return found


def _symbol_value(elf: ELFFile, table: SymbolTableSection, wanted: bytes) -> int | None:
    """The value of the first defined symbol named ``wanted`` in ``table``, or None.

    pyelftools parses one symbol in about 50 us (0.2 s for redis-server's 4,300
    dynamic symbols, 0.7 s for a .symtab of 15,000): only the entries whose name
    offset (``st_name``, every entry's first 32-bit word in both ELF classes)
    is one where ``wanted`` lies in the string table are parsed.
    """
    at = _name_offsets(elf.get_section(table["sh_link"]).data(), wanted)
    if not at:
        return None
    size = int(table["sh_entsize"]) or elf.structs.Elf_Sym.sizeof()
    raw = table.data()
    first_words = struct.iter_unpack(f"<I{size - 4}x", raw[: len(raw) - len(raw) % size])
    for index, (st_name,) in enumerate(first_words):
        if st_name in at:
            symbol = table.get_symbol(index)
            if symbol["st_value"] and symbol["st_shndx"] != "SHN_UNDEF":
                return int(symbol["st_value"])
    return None


def symbol_offset(data: bytes, name: str) -> int:
    """Offset of function NAME from the load base; ElfError if absent (e.g. stripped)."""
    from elftools.elf.sections import SymbolTableSection

    elf = _open(data, only_64_le=True)
    wanted = name.encode("utf-8", "surrogateescape")
    with _reading():
        for kind in ("SHT_SYMTAB", "SHT_DYNSYM"):
            for table in elf.iter_sections(kind):
                assert isinstance(table, SymbolTableSection)
                value = _symbol_value(elf, table, wanted)
                if value is not None:
                    return value - _link_base(elf)
    raise ElfError(f"no symbol {name!r} in .symtab or .dynsym (is the binary stripped?)")
