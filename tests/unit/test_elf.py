"""sysphase.model.elf, the one ELF reader (pyelftools), against binutils' readelf and nm.

Headers, needed libraries, build-ids and symbol offsets of real programs and
libraries are what readelf says; every input it cannot read is one ElfError
whose text reads after "PATH is" or "PATH: " (not an ELF file, damaged,
32-bit, stripped), and no damaged input raises anything else.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sysphase.model import elf

LS = os.path.realpath("/bin/ls")
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def readelf(*args: str) -> str:
    tool = shutil.which("readelf")
    if tool is None:
        pytest.skip("readelf (binutils) is not installed")
    return subprocess.run([tool, "-W", *args], capture_output=True, text=True, check=True).stdout


def test_headers_and_needed_libraries_are_readelfs() -> None:
    image = elf.read_image(Path(LS).read_bytes())
    dynamic = readelf("-d", LS)
    assert image.needed == tuple(re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", dynamic))
    interp = re.search(r"program interpreter: (.*)\]", readelf("-l", LS))
    assert interp is not None and image.interpreter == interp.group(1)
    assert image.machine == "x86_64" and image.is_program


def test_build_id_is_the_gnu_note() -> None:
    for path in (LS, LIBC):
        note = re.search(r"Build ID: ([0-9a-f]+)", readelf("-n", path))
        assert note is not None
        assert elf.build_id(Path(path).read_bytes()) == note.group(1)
    assert elf.build_id(b"#!/bin/sh\n") is None


def test_dynamic_symbol_offset_is_its_value_in_a_library() -> None:
    data = Path(LIBC).read_bytes()
    assert elf.link_base(data) == 0
    line = next(
        row.split()
        for row in readelf("--dyn-syms", LIBC).splitlines()
        if re.search(r"\sFUNC\s.*\smalloc@@", row)
    )
    assert elf.symbol_offset(data, "malloc") == int(line[1], 16)


def test_symtab_offset_is_nms_address_less_the_link_base(fx: dict[str, str]) -> None:
    data = Path(fx["phases"]).read_bytes()
    nm = subprocess.run(
        ["nm", fx["phases"]], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    (address,) = [row.split()[0] for row in nm if row.endswith(" sysphase_fixture_serve")]
    assert elf.symbol_offset(data, "sysphase_fixture_serve") == int(address, 16) - elf.link_base(
        data
    )


def test_unreadable_inputs_are_one_error_each(fx: dict[str, str], tmp_path: Path) -> None:
    data = Path(LS).read_bytes()
    cases = [
        (b"hello\n", "not an ELF file"),
        (data[:200], "a damaged ELF file ("),
    ]
    for blob, text in cases:
        for read in (elf.read_image, elf.link_base, lambda d: elf.symbol_offset(d, "main")):
            with pytest.raises(elf.ElfError, match=re.escape(text)):
                read(blob)
    with pytest.raises(elf.ElfError, match=r"no symbol 'no_such_fn' in \.symtab or \.dynsym"):
        elf.symbol_offset(data, "no_such_fn")
    stripped = tmp_path / "stripped"
    shutil.copy(fx["phases"], stripped)
    subprocess.run(["strip", "--strip-all", str(stripped)], check=True)
    with pytest.raises(elf.ElfError, match=r"is the binary stripped\?"):
        elf.symbol_offset(stripped.read_bytes(), "sysphase_fixture_serve")


def test_a_32_bit_file_is_named_and_refused(tmp_path: Path) -> None:
    source = tmp_path / "t.c"
    source.write_text("int f(void) { return 0; }\n")
    out = tmp_path / "t32.so"
    built = subprocess.run(
        ["gcc", "-m32", "-shared", "-nostdlib", "-fPIC", "-o", str(out), str(source)],
        capture_output=True,
        check=False,
    )
    if built.returncode != 0:
        pytest.skip("gcc cannot build 32-bit code here")
    data = out.read_bytes()
    assert elf.read_image(data).machine == "i386 (32-bit)"
    assert elf.build_id(data) is None  # as the C core: 64-bit little-endian only
    with pytest.raises(elf.ElfError, match="only 64-bit little-endian ELF files are supported"):
        elf.symbol_offset(data, "f")


def test_damaged_files_raise_only_elf_errors() -> None:
    data = Path(LS).read_bytes()
    rng = random.Random(12)
    for _ in range(300):
        blob = bytearray(data[: rng.choice([20, 64, 200, 1000, 5000, len(data)])])
        for _ in range(rng.randint(1, 6)):
            blob[rng.randrange(min(len(blob), 4096))] = rng.randrange(256)
        blob[:4] = b"\x7fELF"
        for read in (elf.read_image, elf.link_base, lambda d: elf.symbol_offset(d, "main")):
            with contextlib.suppress(elf.ElfError):
                read(bytes(blob))
        elf.build_id(bytes(blob))  # None or a build-id, never an exception
