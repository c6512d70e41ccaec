"""What sysphase reads of an ELF image (bytes in), through pyelftools.

The one ELF reader of the package: phase triggers (:func:`symbol_offset`,
:func:`link_base`), program identity (:func:`build_id`) and ``sysphase patch``
(:func:`read_image`: machine, type, interpreter, needed libraries) and ``sysphase
coverage`` (:func:`read_code`: code sections, dynamic imports and exports, GOT
slots; :func:`fde_ranges`: function bounds from ``.eh_frame``) all use it.
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

__all__ = [
    "CodeImage",
    "ElfError",
    "ElfImage",
    "Span",
    "build_id",
    "fde_ranges",
    "link_base",
    "read_code",
    "read_image",
    "symbol_offset",
]

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


# --- code, imports and exports (sysphase coverage) ------------------------------------------

#: The PLT sections: their stubs jump through a GOT slot to an imported function.
_PLT_SECTIONS: Final = (".plt", ".plt.sec", ".plt.got")
_SHF_EXECINSTR: Final = 0x4
_PF_X: Final = 0x1
_VERSYM_HIDDEN: Final = 0x8000
_FUNCTION_TYPES: Final = ("STT_FUNC", "STT_GNU_IFUNC", "STT_LOOS")  # pyelftools: IFUNC as LOOS


@dataclass(frozen=True, slots=True)
class Span:
    """Bytes of code: link-time address, file offset and size."""

    address: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class CodeImage:
    """What ``sysphase coverage`` reads of an ELF file (64-bit little-endian only).

    ``code``: the executable sections but the PLT's (else the executable
    PT_LOAD segments, for a file without section headers); ``plt``: the PLT
    sections. ``imports``: the undefined function symbols of .dynsym, sorted.
    ``functions``: the defined function symbols of .dynsym, name -> (address,
    size), the default version where a name has several. ``got_slots``: the
    address of each GOT slot the loader fills with a symbol (R_X86_64_JUMP_SLOT,
    R_X86_64_GLOB_DAT) -> the symbol's name. ``needed``: the DT_NEEDED entries.
    """

    code: tuple[Span, ...]
    plt: tuple[Span, ...]
    imports: tuple[str, ...]
    functions: dict[str, tuple[int, int]]
    got_slots: dict[int, str]
    needed: tuple[str, ...] = ()


def _code_spans(elf: ELFFile) -> tuple[tuple[Span, ...], tuple[Span, ...]]:
    code: list[Span] = []
    plt: list[Span] = []
    for section in elf.iter_sections():
        if int(section["sh_flags"]) & _SHF_EXECINSTR and section["sh_type"] == "SHT_PROGBITS":
            span = Span(int(section["sh_addr"]), int(section["sh_offset"]), int(section["sh_size"]))
            (plt if section.name in _PLT_SECTIONS else code).append(span)
    if not code and not plt:
        for seg in elf.iter_segments("PT_LOAD"):
            if int(seg["p_flags"]) & _PF_X:
                code.append(Span(int(seg["p_vaddr"]), int(seg["p_offset"]), int(seg["p_filesz"])))
    return tuple(code), tuple(plt)


def _hidden_versions(elf: ELFFile) -> list[bool]:
    """Per .dynsym index: whether its version is hidden (a compat version, not the default)."""
    for section in elf.iter_sections("SHT_GNU_versym"):
        raw = section.data()  # one 16-bit version index per symbol (little-endian: checked)
        return [
            bool(ndx & _VERSYM_HIDDEN) for (ndx,) in struct.iter_unpack("<H", raw[: len(raw) & ~1])
        ]
    return []


#: Elf64_Sym: st_name, st_info, st_other, st_shndx, st_value, st_size
_SYM: Final = struct.Struct("<IBBHQQ")
#: Elf64_Rela: r_offset, r_info (symbol << 32 | type), r_addend
_RELA: Final = struct.Struct("<QQq")
_STT_FUNC: Final = 2
_STT_GNU_IFUNC: Final = 10


def _symbols(elf: ELFFile, index: int) -> list[tuple[bytes, int, int, int, int]]:
    """(name, type, section index, value, size) of each entry of the symbol table at INDEX.

    Read with struct from the section's bytes: pyelftools takes about 50 us per symbol
    (libcrypto's 5,000 exports: 0.3 s), this 1 us.
    """
    table = elf.get_section(index)
    names = elf.get_section(table["sh_link"]).data()
    raw = table.data()
    out = []
    for st_name, info, _other, shndx, value, size in _SYM.iter_unpack(
        raw[: len(raw) - len(raw) % _SYM.size]
    ):
        name = names[st_name : names.index(b"\0", st_name)]
        out.append((name, info & 0xF, shndx, value, size))
    return out


def _dynamic_symbols(elf: ELFFile) -> tuple[tuple[str, ...], dict[str, tuple[int, int]]]:
    table = elf.get_section_by_name(".dynsym")
    if table is None or table["sh_type"] != "SHT_DYNSYM":
        return (), {}
    index = next(i for i, s in enumerate(elf.iter_sections()) if s.name == ".dynsym")
    hidden = _hidden_versions(elf)
    imports: set[str] = set()
    functions: dict[str, tuple[int, int]] = {}
    for i, (raw_name, kind, shndx, value, size) in enumerate(_symbols(elf, index)):
        if kind not in (_STT_FUNC, _STT_GNU_IFUNC) or not raw_name:
            continue
        name = raw_name.decode("utf-8", "surrogateescape")
        if shndx == 0:  # SHN_UNDEF
            imports.add(name)
        elif not (i < len(hidden) and hidden[i]) or name not in functions:
            functions[name] = (value, size)
    return tuple(sorted(imports)), functions


def _got_slots(elf: ELFFile) -> dict[int, str]:
    slots: dict[int, str] = {}
    for section in elf.iter_sections("SHT_RELA"):
        link = int(section["sh_link"])
        if not link or elf.get_section(link)["sh_type"] not in ("SHT_DYNSYM", "SHT_SYMTAB"):
            continue
        symbols = _symbols(elf, link)
        raw = section.data()
        for offset, info, _addend in _RELA.iter_unpack(raw[: len(raw) - len(raw) % _RELA.size]):
            # R_X86_64_GLOB_DAT (6) and R_X86_64_JUMP_SLOT (7)
            if info & 0xFFFFFFFF in (6, 7) and 0 < info >> 32 < len(symbols):
                slots[offset] = symbols[info >> 32][0].decode("utf-8", "surrogateescape")
    return slots


def read_code(data: bytes) -> CodeImage:
    """The code spans, dynamic imports and exports and GOT slots of an ELF file's bytes.

    ElfError as :func:`read_image` (64-bit little-endian files only).
    """
    elf = _open(data, only_64_le=True)
    with _reading():
        code, plt = _code_spans(elf)
        imports, functions = _dynamic_symbols(elf)
        got = _got_slots(elf) if elf["e_machine"] == "EM_X86_64" else {}
        return CodeImage(code, plt, imports, functions, got, _needed(elf, data))


#: .eh_frame_hdr encodings the fast path reads: the pointer to .eh_frame (pcrel sdata4),
#: the count (udata4) and the table (datarel sdata4), as GNU ld writes them
_HDR_ENCODINGS: Final = (1, 0x1B, 0x03, 0x3B)


def _hdr_ranges(elf: ELFFile, data: bytes) -> tuple[tuple[int, int], ...] | None:
    """FDE ranges through .eh_frame_hdr's sorted table; None when it cannot be read so.

    The table gives each FDE's start and address; the FDE's pc_begin (pcrel sdata4)
    must agree with the table, and its pc_range is the next 32-bit word. Reading only
    these words is 100 times faster than parsing every FDE (libcrypto: 30 ms, not 3 s).
    """
    hdr, frame = elf.get_section_by_name(".eh_frame_hdr"), elf.get_section_by_name(".eh_frame")
    if hdr is None or frame is None:
        return None
    base, at = int(hdr["sh_addr"]), int(hdr["sh_offset"])
    if tuple(data[at : at + 4]) != _HDR_ENCODINGS:
        return None
    (count,) = struct.unpack_from("<I", data, at + 8)
    table = struct.unpack_from(f"<{2 * count}i", data, at + 12)
    shift = int(frame["sh_offset"]) - int(frame["sh_addr"])
    ranges = []
    for i in range(0, 2 * count, 2):
        start, fde = base + table[i], base + table[i + 1]
        length, _cie, begin, size = struct.unpack_from("<IiiI", data, fde + shift)
        if length == 0xFFFFFFFF or fde + 8 + begin != start:
            return None
        ranges.append((start, start + size))
    return tuple(sorted(ranges))


def fde_ranges(data: bytes) -> tuple[tuple[int, int], ...]:
    """The [start, end) address range of every FDE of ``.eh_frame``, sorted by start.

    These are the function bounds of a stripped library (each part of a function
    split into hot and cold code has its own). () when the file has no .eh_frame.
    Read through .eh_frame_hdr's table where it has the usual encodings, else
    pyelftools parses the whole table (libc's 3,700 entries: about 0.8 s).
    """
    from elftools.dwarf.callframe import FDE

    elf = _open(data, only_64_le=True)
    with _reading():
        if elf.get_section_by_name(".eh_frame") is None:
            return ()
        fast = _hdr_ranges(elf, data)
        if fast is not None:
            return fast
        entries = elf.get_dwarf_info(relocate_dwarf_sections=False).EH_CFI_entries()
        ranges = {
            (
                int(e.header["initial_location"]),
                int(e.header["initial_location"]) + int(e.header["address_range"]),
            )
            for e in entries
            if isinstance(e, FDE)
        }
    return tuple(sorted(ranges))
