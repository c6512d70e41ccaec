"""Constants in registers along x86-64 code, disassembled by capstone.

The one scanner of ``sysphase coverage``: it walks a run of instructions (a
function, or a straight stretch of one) in address order and keeps the
constants the general registers hold: ``mov REG, IMM``, ``xor REG, REG`` and
copies between registers; any other write makes a register unknown, a call
the caller-saved ones, a ``syscall`` ``rax``/``rcx``/``r11``. At a jump target
inside the run a register keeps its value only when every way in (the jumps
to it and the fall-through) agrees; passes repeat until the values at loop
heads settle. What comes out: each ``syscall`` instruction with the number in
``eax`` (None when no constant reaches it) and each call or jump with its
direct target, or the GOT slot of a ``[rip + disp]`` operand, or neither
(indirect), and the constant in ``edi`` at a call (``syscall(2)``'s number).

capstone's lite mode (no instruction details, about 1.5 us per instruction)
is used, so register writes are read from the operand text: the destination
is the first operand in Intel syntax, plus a table of instructions that write
registers implicitly. Pure: bytes in, records out.
"""

from __future__ import annotations

import re
from collections.abc import Set
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import capstone

__all__ = [
    "STOPS",
    "Branch",
    "Insn",
    "ScanResult",
    "direct_targets",
    "disassemble",
    "operation",
    "scan",
]

#: capstone's lite tuple: address, size, mnemonic, operands
Insn = tuple[int, int, str, str]

#: 64- and 32-bit names of the general registers -> the 64-bit name (a write to a 32-bit
#: register sets the whole register; 8- and 16-bit writes make it unknown)
_REGS: Final = {
    **{r: r for r in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp")},
    **{"e" + r[1:]: r for r in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp")},
    **{f"r{n}": f"r{n}" for n in range(8, 16)},
    **{f"r{n}d": f"r{n}" for n in range(8, 16)},
}
_PARTS: Final = {
    **{p: r for r in ("rax", "rbx", "rcx", "rdx") for p in (r[1:], r[1] + "l", r[1] + "h")},
    **{p: r for r in ("rsi", "rdi", "rbp", "rsp") for p in (r[1:], r[1:] + "l")},
    **{f"r{n}{x}": f"r{n}" for n in range(8, 16) for x in ("w", "b")},
}
#: registers a call may change (the System V ABI's caller-saved ones)
_CLOBBERED: Final = ("rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11")
_AD: Final = ("rax", "rdx")
#: instructions that write registers they do not name first
_IMPLICIT: Final[dict[str, tuple[str, ...]]] = {
    "cpuid": ("rax", "rbx", "rcx", "rdx"), "rdtsc": _AD, "rdtscp": (*_AD, "rcx"),
    "mul": _AD, "div": _AD, "idiv": _AD, "xgetbv": _AD, "rdpkru": _AD, "cmpxchg8b": _AD,
    "cmpxchg16b": _AD, "cbw": ("rax",), "cwde": ("rax",), "cdqe": ("rax",), "lahf": ("rax",),
    "xlatb": ("rax",), "in": ("rax",), "cmpxchg": ("rax",), "cwd": ("rdx",), "cdq": ("rdx",),
    "cqo": ("rdx",), "loop": ("rcx",), "loope": ("rcx",), "loopne": ("rcx",),
}  # fmt: skip
#: string instructions: they move rsi, rdi and (with rep) rcx; lods also loads rax
_STRING_OPS: Final = ("stos", "movs", "scas", "cmps", "lods", "ins", "outs")
_BOTH_OPERANDS: Final = frozenset({"xchg", "xadd"})
#: instructions whose first operand is read, not written
_READ_ONLY: Final = frozenset({"cmp", "test", "bt", "push", "nop", "prefetcht0", "clflush"})
#: instructions after which the next one is not reached by falling through
STOPS: Final = frozenset({"ret", "jmp", "hlt", "ud2", "int3", "iretq", "sysret"})
_IMM: Final = re.compile(r"(0x[0-9a-f]+|[0-9]+)")
_RIP_SLOT: Final = re.compile(r"qword ptr \[rip ([+-]) (0x[0-9a-f]+|[0-9]+)\]")
#: passes over a run before the values at loop heads are given up
_MAX_PASSES: Final = 6

State = dict[str, int]


@dataclass(frozen=True, slots=True)
class Branch:
    """A call or jump: its address, whether a call, and where it goes if known.

    ``target``: a direct target; ``slot``: the GOT slot of ``call/jmp qword
    ptr [rip + disp]``; both None: an indirect call or jump (register or other
    memory). ``edi``: the constant in ``edi`` at a call, if one reaches it.
    ``conditional``: a ``jcc``.
    """

    address: int
    call: bool
    target: int | None
    slot: int | None
    edi: int | None
    conditional: bool = False


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The syscall instructions (address, number or None) and branches of a run of code."""

    syscalls: tuple[tuple[int, int | None], ...]
    branches: tuple[Branch, ...]


@cache
def _capstone() -> capstone.Cs:
    import capstone

    return capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)


def disassemble(code: bytes, address: int) -> list[Insn]:
    """The instructions of ``code`` (linked at ``address``); an undecodable byte is skipped."""
    insns: list[Insn] = []
    at = 0
    while at < len(code):
        before = len(insns)
        insns.extend(_capstone().disasm_lite(code[at:], address + at))
        if len(insns) > before:
            at = insns[-1][0] + insns[-1][1] - address
        if at < len(code):  # capstone stopped at a byte it cannot decode
            at += 1
    return insns


def operation(mnemonic: str) -> str:
    """The operation without prefixes: ``bnd jmp`` -> ``jmp``, ``rep stosq`` -> ``stosq``."""
    return mnemonic.rsplit(" ", 1)[-1]


def _branch(insn: Insn, op: str, edi: int | None) -> Branch:
    address, size, _mnemonic, operands = insn
    call = op == "call"
    edi_at = edi if call else None
    if _IMM.fullmatch(operands):
        target = int(operands, 0)
        return Branch(address, call, target, None, edi_at, conditional=op not in ("jmp", "call"))
    slot = _RIP_SLOT.fullmatch(operands)
    if slot is not None:
        disp = int(slot.group(2), 0)
        at = address + size + (disp if slot.group(1) == "+" else -disp)
        return Branch(address, call, None, at, edi_at)
    return Branch(address, call, None, None, edi_at)


def _register(name: str) -> str | None:
    """The 64-bit register an operand writes as a whole, '' for a partial write, None if none."""
    if name in _REGS:
        return _REGS[name]
    return "" if name in _PARTS else None


def _write(state: State, op: str, operands: str) -> None:
    """Update ``state`` for an instruction that is not a branch or syscall."""
    dest, _, src = operands.partition(", ")
    reg = None if op in _READ_ONLY else _register(dest)
    if reg:
        value = None
        if op == "mov" and _IMM.fullmatch(src):
            value = int(src, 0) & (0xFFFFFFFF if dest != reg else 0xFFFFFFFFFFFFFFFF)
        elif op == "mov" and src in _REGS and _REGS[src] in state:
            value = state[_REGS[src]] & (0xFFFFFFFF if dest != reg else 0xFFFFFFFFFFFFFFFF)
        elif op == "xor" and src == dest:
            value = 0
        state.pop(reg, None)
        if value is not None:
            state[reg] = value
    elif reg == "":
        state.pop(_PARTS[dest], None)
    if op in _BOTH_OPERANDS and src in _REGS:
        state.pop(_REGS[src], None)
    implicit = _IMPLICIT.get(op, ())
    if op == "imul" and "," not in operands:
        implicit = _AD
    elif op.startswith(_STRING_OPS) and ("[r" in operands or not operands):
        implicit = ("rax", "rcx", "rsi", "rdi") if op.startswith("lods") else ("rcx", "rsi", "rdi")
    for written in implicit:
        state.pop(written, None)


def _meet(states: list[State]) -> State:
    """The registers every state agrees on."""
    if not states:
        return {}
    first, *rest = states
    return {r: v for r, v in first.items() if all(s.get(r) == v for s in rest)}


def direct_targets(insns: list[Insn]) -> set[int]:
    """The direct branch targets that lie inside the run (where values are forgotten)."""
    if not insns:
        return set()
    first, last = insns[0][0], insns[-1][0]
    found: set[int] = set()
    for _address, _size, mnemonic, operands in insns:
        op = operation(mnemonic)
        if (op == "call" or op.startswith("j")) and _IMM.fullmatch(operands):
            target = int(operands, 0)
            if first <= target <= last:
                found.add(target)
    return found


def _pass(
    insns: list[Insn],
    targets: set[int],
    edges: dict[int, dict[int, State]],
    barriers: Set[int] = frozenset(),
) -> ScanResult:
    """One pass in address order; the states that branches carry are stored in ``edges``."""
    state: State | None = {}
    syscalls: list[tuple[int, int | None]] = []
    branches: list[Branch] = []
    for insn in insns:
        address, _size, mnemonic, operands = insn
        op = operation(mnemonic)
        if address in targets:
            incoming = list(edges.get(address, {}).values())
            state = _meet([*incoming, state] if state is not None else incoming)
        elif state is None:
            if op in ("nop", "int3"):
                continue  # padding after a jump or return
            state = {}  # reached some other way (a jump table): nothing known
        if address in barriers:
            state = {}
        if op == "syscall":
            syscalls.append((address, state.get("rax")))
            for reg in ("rax", "rcx", "r11"):
                state.pop(reg, None)
        elif op == "call" or op.startswith("j"):
            branch = _branch(insn, op, state.get("rdi"))
            branches.append(branch)
            if branch.target in targets:
                edges.setdefault(branch.target, {})[address] = dict(state)
            if op == "call":
                state = {r: v for r, v in state.items() if r not in _CLOBBERED}
            elif op == "jmp":
                state = None
        elif op in STOPS:
            state = None
        else:
            _write(state, op, operands)
    return ScanResult(tuple(syscalls), tuple(branches))


def scan(insns: list[Insn], barriers: Set[int] = frozenset()) -> ScanResult:
    """The syscall instructions and branches of ``insns`` (one run, in address order).

    The constants in registers are propagated along the run and its direct jumps
    (a value at a jump target is the one every way in agrees on), passes repeated
    until the values at loop heads settle; if they do not, values are forgotten at
    every jump target. At ``barriers`` (jump targets from outside ``insns``) nothing
    is known.
    """
    targets = direct_targets(insns)
    edges: dict[int, dict[int, State]] = {}
    result = _pass(insns, targets, edges, barriers)
    for _ in range(_MAX_PASSES):
        before = {t: dict(e) for t, e in edges.items()}
        result = _pass(insns, targets, edges, barriers)
        if edges == before:
            return result
    return _pass(insns, targets, {t: {0: {}} for t in targets}, barriers)
