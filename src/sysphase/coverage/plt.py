"""Which imported function a call into the PLT, or through a GOT slot, goes to.

A PLT stub is ``jmp qword ptr [rip + disp]`` (after an ``endbr64`` in
``.plt.sec``), and the slot it jumps through is filled by the loader with the
symbol of its ``R_X86_64_JUMP_SLOT`` relocation; ``call qword ptr [rip +
disp]`` (``-fno-plt``) reads a ``R_X86_64_GLOB_DAT`` slot. Pure.
"""

from __future__ import annotations

from sysphase.coverage.scan import Branch, disassemble, operation
from sysphase.model.elf import CodeImage

__all__ = ["branch_import", "plt_stubs"]


def _slot(address: int, size: int, operands: str) -> int | None:
    if not operands.startswith("qword ptr [rip ") or not operands.endswith("]"):
        return None
    sign, disp = operands.removeprefix("qword ptr [rip ").rstrip("]").split(" ")
    return address + size + (int(disp, 0) if sign == "+" else -int(disp, 0))


def plt_stubs(data: bytes, image: CodeImage) -> dict[int, str]:
    """The address of each PLT stub whose GOT slot names a symbol -> that symbol."""
    stubs: dict[int, str] = {}
    for span in image.plt:
        insns = disassemble(data[span.offset : span.offset + span.size], span.address)
        for i, (address, size, mnemonic, operands) in enumerate(insns):
            slot = _slot(address, size, operands) if operation(mnemonic) == "jmp" else None
            name = image.got_slots.get(slot) if slot is not None else None
            if name is None:
                continue
            stubs[address] = name
            if i and insns[i - 1][2] == "endbr64":
                stubs[insns[i - 1][0]] = name
    return stubs


def branch_import(branch: Branch, stubs: dict[int, str], image: CodeImage) -> str | None:
    """The imported function a call or jump goes to, through the PLT or a GOT slot, or None."""
    if branch.target is not None:
        return stubs.get(branch.target)
    if branch.slot is not None:
        return image.got_slots.get(branch.slot)
    return None
