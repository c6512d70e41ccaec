"""Read what sysphase needs from an ELF image (bytes in): a function's offset, the build-id.

Reads .symtab, else .dynsym, of a 64-bit little-endian ELF file. The offset
is the symbol's address minus the image's link-time base (the first PT_LOAD's
p_vaddr - p_offset), which is what the tracer adds to the runtime load base
(the first mapping of the file, minus its file offset).
"""

from __future__ import annotations

import struct

SHT_SYMTAB = 2
SHT_DYNSYM = 11
PT_LOAD = 1
PT_NOTE = 4
NT_GNU_BUILD_ID = 3


class ElfError(ValueError):
    """Not an ELF file sysphase can read, or the symbol is not there."""


def _header(data: bytes) -> tuple[int, int, int, int, int, int, int]:
    if data[:4] != b"\x7fELF":
        raise ElfError("not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise ElfError("only 64-bit little-endian ELF files are supported")
    (e_phoff, e_shoff) = struct.unpack_from("<QQ", data, 0x20)
    (e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx) = struct.unpack_from(
        "<HHHHH", data, 0x36
    )
    return e_phoff, e_phentsize, e_phnum, e_shoff, e_shentsize, e_shnum, e_shstrndx


def link_base(data: bytes) -> int:
    """p_vaddr - p_offset of the first PT_LOAD segment (0 for a PIE)."""
    phoff, phentsize, phnum, *_ = _header(data)
    for i in range(phnum):
        off = phoff + i * phentsize
        p_type, _flags, p_offset, p_vaddr = struct.unpack_from("<IIQQ", data, off)
        if p_type == PT_LOAD:
            return int(p_vaddr - p_offset)
    raise ElfError("no PT_LOAD segment")


def build_id(data: bytes) -> str | None:
    """The GNU build-id note of a 64-bit little-endian ELF image, as lower-case hex.

    None when the image has none, or is not such an ELF file (the C core reads the
    same note from a running program: csrc/identity.c).
    """
    try:
        phoff, phentsize, phnum, *_ = _header(data)
        for i in range(phnum):
            p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from(
                "<IIQQQQ", data, phoff + i * phentsize
            )
            if p_type != PT_NOTE:
                continue
            pos, end = p_offset, min(p_offset + p_filesz, len(data))
            while pos + 12 <= end:
                namesz, descsz, n_type = struct.unpack_from("<III", data, pos)
                name_at = pos + 12
                desc_at = name_at + ((namesz + 3) & ~3)
                pos = desc_at + ((descsz + 3) & ~3)
                if pos > end:
                    break
                if n_type == NT_GNU_BUILD_ID and data[name_at : name_at + namesz] == b"GNU\0":
                    desc = data[desc_at : desc_at + descsz]
                    return desc.hex() if 0 < len(desc) <= 64 else None
    except (ElfError, struct.error):
        return None
    return None


def symbol_offset(data: bytes, name: str) -> int:
    """Offset of function NAME from the load base; ElfError if absent (e.g. stripped)."""
    _, _, _, shoff, shentsize, shnum, _ = _header(data)
    sections = [
        struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)
    ]
    wanted = name.encode()
    for sh_type in (SHT_SYMTAB, SHT_DYNSYM):
        for sec in sections:
            if sec[1] != sh_type:
                continue
            offset, size, link, entsize = sec[4], sec[5], sec[6], sec[9] or 24
            str_off = sections[link][4]
            for j in range(size // entsize):
                st_name, _info, _other, shndx, value, _size = struct.unpack_from(
                    "<IBBHQQ", data, offset + j * entsize
                )
                if value == 0 or shndx == 0:
                    continue
                end = data.index(b"\0", str_off + st_name)
                if data[str_off + st_name : end] == wanted:
                    return int(value - link_base(data))
    raise ElfError(f"no symbol {name!r} in .symtab or .dynsym (is the binary stripped?)")
