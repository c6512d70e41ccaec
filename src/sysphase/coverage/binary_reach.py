"""What an executable reaches by itself: its imports, its own syscall instructions.

From the executable's bytes and :func:`sysphase.model.elf.read_code`: the
functions it imports (its .dynsym undefined function symbols), the numbers of
its own ``syscall`` instructions (a constant ``mov`` into ``eax`` earlier in
the same straight-line run: since the last unconditional jump, return or
call, with no jump target in between), and the numbers it passes to libc's
``syscall(2)`` wrapper (a constant in ``edi`` at a call of ``syscall@plt`` or
through its GOT slot). What has no constant is counted as unresolved. Pure
(bytes in); capstone does the decoding.
"""

from __future__ import annotations

from dataclasses import dataclass

from sysphase.coverage.library_reach import WRAPPER
from sysphase.coverage.plt import plt_stubs
from sysphase.coverage.scan import STOPS, Insn, disassemble, operation, scan
from sysphase.model.elf import CodeImage, Span

__all__ = ["WRAPPER", "BinaryReach", "analyse"]


@dataclass(frozen=True, slots=True)
class BinaryReach:
    """The executable's own share: imports, direct syscalls, ``syscall(2)`` numbers.

    ``direct`` / ``wrapper``: syscall numbers found; ``*_unresolved``: the
    sites whose number is not a constant the scan can see.
    """

    imports: tuple[str, ...]
    direct: frozenset[int]
    direct_unresolved: int
    wrapper: frozenset[int]
    wrapper_unresolved: int


def _code(data: bytes, span: Span) -> list[Insn]:
    return disassemble(data[span.offset : span.offset + span.size], span.address)


def _wrapper_entries(data: bytes, image: CodeImage) -> tuple[set[int], set[int]]:
    """The PLT stubs (their addresses) and GOT slots through which ``syscall`` is called."""
    slots = {slot for slot, name in image.got_slots.items() if name == WRAPPER}
    stubs = {address for address, name in plt_stubs(data, image).items() if name == WRAPPER}
    return stubs, slots


def _window(insns: list[Insn], i: int) -> list[Insn]:
    """The straight-line run that ends at ``insns[i]``: back to the last stop or call."""
    j = i
    while j > 0 and operation(insns[j - 1][2]) not in STOPS and insns[j - 1][2] != "call":
        j -= 1
    return insns[j : i + 1]


def _jump_targets(insns: list[Insn]) -> set[int]:
    targets: set[int] = set()
    for _address, _size, mnemonic, operands in insns:
        op = operation(mnemonic)
        if (op == "call" or op.startswith("j")) and operands.startswith("0x"):
            targets.add(int(operands, 16))
    return targets


def _is_wrapper_call(insn: Insn, stubs: set[int], slots: set[int]) -> bool:
    address, size, mnemonic, operands = insn
    if mnemonic != "call":
        return False
    if operands.startswith("0x"):
        return int(operands, 16) in stubs
    if operands.startswith("qword ptr [rip + "):
        disp = int(operands.removeprefix("qword ptr [rip + ").rstrip("]"), 0)
        return address + size + disp in slots
    return False


def analyse(data: bytes, image: CodeImage) -> BinaryReach:
    """The executable's imports, direct syscall numbers and ``syscall(2)`` numbers."""
    stubs, slots = _wrapper_entries(data, image) if WRAPPER in image.imports else (set(), set())
    direct: set[int] = set()
    wrapper: set[int] = set()
    unresolved = {"direct": 0, "wrapper": 0}
    for span in image.code:
        insns = _code(data, span)
        targets = _jump_targets(insns)
        for i, insn in enumerate(insns):
            if insn[2] == "syscall":
                window = _window(insns, i)
                nr = scan(window, targets - {window[0][0]}).syscalls[-1][1]
                found, kind = direct, "direct"
            elif _is_wrapper_call(insn, stubs, slots):
                window = _window(insns, i)
                nr = scan(window, targets - {window[0][0]}).branches[-1].edi
                found, kind = wrapper, "wrapper"
            else:
                continue
            if nr is None:
                unresolved[kind] += 1
            else:
                found.add(nr)
    return BinaryReach(
        image.imports,
        frozenset(direct),
        unresolved["direct"],
        frozenset(wrapper),
        unresolved["wrapper"],
    )
