"""A classic-BPF interpreter for seccomp filters: what would the kernel decide?

Pure: it takes the raw filter bytes (an array of 8-byte ``struct sock_filter``
``{u16 code; u8 jt; u8 jf; u32 k}``, little-endian, as ``seccomp_export_bpf``
writes them and as the ``bpf`` policy format stores them) and one system call,
and returns the 32-bit ``SECCOMP_RET_*`` value the filter gives it.

The input is the kernel's ``struct seccomp_data``::

    struct seccomp_data {
        int   nr;                    /* offset  0 */
        __u32 arch;                  /* offset  4, AUDIT_ARCH_* */
        __u64 instruction_pointer;   /* offset  8 */
        __u64 args[6];               /* offset 16 + 8 * i */
    };

Programs are checked first as the kernel checks them at load time
(``bpf_check_classic`` and ``seccomp_check_filter``): only 32-bit absolute
loads inside ``seccomp_data``, ``LD``/``LDX`` immediate, ``W LEN`` and scratch
memory, ``ST``/``STX``, the ALU operations, the jumps, ``TAX``/``TXA`` and
``RET K``/``RET A``; jumps inside the program; a return last. A program the
kernel would refuse (packet-style ``H``/``B``/``IND`` loads, ``RET X``, a jump
past the end, a division by a constant 0, ...) raises :class:`ValueError`, as
does reading scratch memory never written on the path taken. As in the
kernel, a division or modulo by an ``X`` of zero ends the program with 0
(``SECCOMP_RET_KILL_THREAD``).

:func:`action_name` names a returned value; :func:`disassemble` prints a
program in the style of libseccomp's ``scmp_bpf_disasm``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Final

__all__ = [
    "AUDIT_ARCH_AARCH64",
    "AUDIT_ARCH_I386",
    "AUDIT_ARCH_X86_64",
    "BPF_MAXINSNS",
    "INSN",
    "RET_ALLOW",
    "RET_ERRNO",
    "RET_KILL_PROCESS",
    "RET_KILL_THREAD",
    "RET_LOG",
    "RET_TRACE",
    "RET_TRAP",
    "RET_USER_NOTIF",
    "action_name",
    "disassemble",
    "instructions",
    "run",
    "seccomp_data",
]

#: ``seccomp_data.arch`` values (``<linux/audit.h>``).
AUDIT_ARCH_X86_64: Final = 0xC000003E
AUDIT_ARCH_I386: Final = 0x40000003
AUDIT_ARCH_AARCH64: Final = 0xC00000B7

#: The kernel's limit on a classic BPF program's length (``BPF_MAXINSNS``).
BPF_MAXINSNS: Final = 4096

#: ``SECCOMP_RET_*`` actions (the high 16 bits; ERRNO and TRACE carry data in the low 16).
RET_KILL_PROCESS: Final = 0x80000000
RET_KILL_THREAD: Final = 0x00000000
RET_TRAP: Final = 0x00030000
RET_ERRNO: Final = 0x00050000
RET_USER_NOTIF: Final = 0x7FC00000
RET_TRACE: Final = 0x7FF00000
RET_LOG: Final = 0x7FFC0000
RET_ALLOW: Final = 0x7FFF0000

_RET_ACTION_FULL: Final = 0xFFFF0000
_RET_DATA: Final = 0x0000FFFF
_U32: Final = 0xFFFFFFFF
_U64: Final = 0xFFFFFFFFFFFFFFFF
_SECCOMP_DATA_SIZE: Final = 64
_MEMWORDS: Final = 16  # BPF_MEMWORDS: scratch memory M[0..15]

_ACTION_NAMES: Final = {
    RET_KILL_PROCESS: "kill_process",
    RET_KILL_THREAD: "kill_thread",
    RET_TRAP: "trap",
    RET_USER_NOTIF: "user_notif",
    RET_LOG: "log",
    RET_ALLOW: "allow",
}

# Instruction classes, sizes, modes, operations and sources (<linux/bpf_common.h>).
_LD, _LDX, _ST, _STX, _ALU, _JMP, _RET, _MISC = range(8)
_W, _H, _B = 0x00, 0x08, 0x10
_IMM, _ABS, _IND, _MEM, _LEN, _MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
_K, _X = 0x00, 0x08
_RVAL_A = 0x10
_ADD, _SUB, _MUL, _DIV, _OR, _AND, _LSH, _RSH, _NEG, _MOD, _XOR = (
    0x00,
    0x10,
    0x20,
    0x30,
    0x40,
    0x50,
    0x60,
    0x70,
    0x80,
    0x90,
    0xA0,
)
_JA, _JEQ, _JGT, _JGE, _JSET = 0x00, 0x10, 0x20, 0x30, 0x40
_TAX, _TXA = 0x00, 0x80

#: The layout of one ``struct sock_filter`` (``<linux/filter.h>``): u16 code, u8 jt, u8 jf,
#: u32 k, little-endian; the one definition the C formats, the guard and seccomp.py use.
INSN: Final = struct.Struct("<HBBI")

Insn = tuple[int, int, int, int]
"""One ``struct sock_filter``: (code, jt, jf, k)."""


def _allowed_codes() -> frozenset[int]:
    """Every opcode the kernel accepts in a seccomp filter (seccomp_check_filter)."""
    codes = {
        _LD | _W | _ABS,
        _LD | _W | _LEN,
        _LDX | _W | _LEN,
        _LD | _IMM,
        _LDX | _IMM,
        _LD | _MEM,
        _LDX | _MEM,
        _ST,
        _STX,
        _RET | _K,
        _RET | _RVAL_A,
        _MISC | _TAX,
        _MISC | _TXA,
        _ALU | _NEG,
        _JMP | _JA,
    }
    for op in (_ADD, _SUB, _MUL, _DIV, _OR, _AND, _LSH, _RSH, _MOD, _XOR):
        codes |= {_ALU | op | _K, _ALU | op | _X}
    for op in (_JEQ, _JGT, _JGE, _JSET):
        codes |= {_JMP | op | _K, _JMP | op | _X}
    return frozenset(codes)


_ALLOWED_CODES: Final = _allowed_codes()


def _check(prog: list[Insn]) -> None:
    """The kernel's load-time checks (bpf_check_classic, seccomp_check_filter)."""
    n = len(prog)
    for pc, (code, jt, jf, k) in enumerate(prog):
        where = f"instruction {pc} ({code:#06x})"
        if code not in _ALLOWED_CODES:
            raise ValueError(f"{where}: not an instruction seccomp accepts")
        cls, op = code & 0x07, code & 0xF0
        if code == _LD | _W | _ABS and (k % 4 or k >= _SECCOMP_DATA_SIZE):
            raise ValueError(f"{where}: seccomp_data offset {k} is unaligned or past its end")
        if code in (_LD | _MEM, _LDX | _MEM, _ST, _STX) and k >= _MEMWORDS:
            raise ValueError(f"{where}: scratch index {k} out of range")
        if cls == _ALU and not code & _X:
            if op in (_DIV, _MOD) and k == 0:
                raise ValueError(f"{where}: division by a constant zero")
            if op in (_LSH, _RSH) and k >= 32:
                raise ValueError(f"{where}: shift by {k}")
        if cls == _JMP:
            targets = (k,) if op == _JA else (jt, jf)
            if any(pc + 1 + t >= n for t in targets):
                raise ValueError(f"{where}: jumps past the end of the program")
    if prog[-1][0] & 0x07 != _RET:
        raise ValueError(f"the last instruction ({n - 1}) is not a return")


def instructions(bpf: bytes) -> list[Insn]:
    """Split raw filter bytes into (code, jt, jf, k) tuples, checked as the kernel would.

    ValueError if the kernel would refuse to load it: not a whole number of
    instructions, empty or over 4096, an instruction seccomp does not accept,
    a jump past the end, a last instruction that does not return.
    """
    if not bpf or len(bpf) % INSN.size:
        raise ValueError(
            f"a BPF program is a non-empty array of {INSN.size}-byte instructions, "
            f"not {len(bpf)} bytes"
        )
    count = len(bpf) // INSN.size
    if count > BPF_MAXINSNS:
        raise ValueError(f"{count} instructions, over the kernel's {BPF_MAXINSNS}")
    prog = [(c, jt, jf, k) for c, jt, jf, k in INSN.iter_unpack(bpf)]
    _check(prog)
    return prog


def seccomp_data(nr: int, arch: int, args: Sequence[int] = (0,) * 6, ip: int = 0) -> bytes:
    """The 64-byte little-endian ``struct seccomp_data`` for one system call.

    Negative values are stored in two's complement (``nr = -1`` is 0xffffffff).
    """
    if len(args) > 6:
        raise ValueError(f"a system call has at most 6 arguments, not {len(args)}")
    padded = [a & _U64 for a in args] + [0] * (6 - len(args))
    return struct.pack("<IIQ6Q", nr & _U32, arch & _U32, ip & _U64, *padded)


def _alu(op: int, a: int, operand: int) -> int | None:
    """A op operand on 32 bits; None for a division by zero (the program returns 0)."""
    if op == _ADD:
        return (a + operand) & _U32
    if op == _SUB:
        return (a - operand) & _U32
    if op == _MUL:
        return (a * operand) & _U32
    if op == _DIV:
        return None if operand == 0 else a // operand
    if op == _MOD:
        return None if operand == 0 else a % operand
    if op == _OR:
        return a | operand
    if op == _AND:
        return a & operand
    if op == _XOR:
        return a ^ operand
    if op == _LSH:
        return (a << operand) & _U32 if operand < 32 else 0
    if op == _RSH:
        return a >> operand if operand < 32 else 0
    if op == _NEG:
        return -a & _U32
    raise ValueError(f"unknown ALU operation {op:#x}")


def _jump(op: int, a: int, operand: int) -> bool:
    if op == _JEQ:
        return a == operand
    if op == _JGT:
        return a > operand
    if op == _JGE:
        return a >= operand
    if op == _JSET:
        return (a & operand) != 0
    raise ValueError(f"unknown jump operation {op:#x}")


def run(bpf: bytes, nr: int, arch: int, args: Sequence[int] = (0,) * 6, ip: int = 0) -> int:
    """Run the filter on one call; the 32-bit ``SECCOMP_RET_*`` value it returns.

    ``nr`` is the system call number as the filter sees it (for x32, with the
    0x40000000 bit), ``arch`` an ``AUDIT_ARCH_*`` value, ``args`` up to six
    64-bit arguments (missing ones are 0), ``ip`` the instruction pointer.
    """
    prog = instructions(bpf)
    data = seccomp_data(nr, arch, args, ip)
    a = x = 0
    mem: list[int | None] = [None] * _MEMWORDS
    pc = 0
    while True:  # jumps only go forward and the last instruction returns
        code, jt, jf, k = prog[pc]
        cls = code & 0x07
        pc += 1
        if cls in (_LD, _LDX):
            mode = code & 0xE0
            if mode == _ABS:
                value: int = struct.unpack_from("<I", data, k)[0]
            elif mode == _LEN:
                value = _SECCOMP_DATA_SIZE
            elif mode == _MEM:
                stored = mem[k]
                if stored is None:  # the kernel's check_load_and_stores refuses this
                    raise ValueError(f"instruction {pc - 1}: reads M[{k}] before storing it")
                value = stored
            else:
                value = k
            if cls == _LD:
                a = value
            else:
                x = value
        elif cls in (_ST, _STX):
            mem[k] = a if cls == _ST else x
        elif cls == _ALU:
            result = _alu(code & 0xF0, a, x if code & _X else k)
            if result is None:
                return 0
            a = result
        elif cls == _JMP:
            op = code & 0xF0
            if op == _JA:
                pc += k
            else:
                pc += jt if _jump(op, a, x if code & _X else k) else jf
        elif cls == _RET:
            return a if code & 0x18 == _RVAL_A else k
        elif code & 0xF8 == _TAX:
            x = a
        else:  # TXA
            a = x


def action_name(ret: int) -> str:
    """A readable name for a ``SECCOMP_RET_*`` value: "allow", "errno(1)", "trace(7)", ...

    A value the kernel does not know is named ``unknown(0x...)`` (the kernel
    treats it as kill_process).
    """
    ret &= _U32
    action, data = ret & _RET_ACTION_FULL, ret & _RET_DATA
    if action == RET_ERRNO:
        return f"errno({data})"
    if action == RET_TRACE:
        return "trace" if data == 0 else f"trace({data})"
    name = _ACTION_NAMES.get(action)
    return name if name is not None else f"unknown({ret:#010x})"


_DATA_FIELDS: Final = {0: "$nr", 4: "$arch", 8: "$ip_lo", 12: "$ip_hi"}
_JUMP_NAMES: Final = {_JEQ: "jeq", _JGT: "jgt", _JGE: "jge", _JSET: "jset"}
_ALU_NAMES: Final = {
    _ADD: "add",
    _SUB: "sub",
    _MUL: "mul",
    _DIV: "div",
    _OR: "or",
    _AND: "and",
    _LSH: "lsh",
    _RSH: "rsh",
    _NEG: "neg",
    _MOD: "mod",
    _XOR: "xor",
}


def _field(k: int) -> str:
    if k in _DATA_FIELDS:
        return _DATA_FIELDS[k]
    if 16 <= k < _SECCOMP_DATA_SIZE:
        i, half = divmod(k - 16, 8)
        return f"$a{i}_{'hi' if half else 'lo'}" if half in (0, 4) else f"$data[{k}]"
    return f"$data[{k}]"


def _describe(pc: int, insn: Insn) -> str:
    code, jt, jf, k = insn
    cls = code & 0x07
    src = "x" if code & _X else f"{k:#010x}"
    if cls == _LD:
        mode = code & 0xE0
        if mode == _ABS:
            return f"ld  {_field(k)}"
        if mode == _MEM:
            return f"ld  M[{k}]"
        if mode == _LEN:
            return "ld  #len"
        return f"ld  #{k:#010x}" if mode == _IMM else f"ld? {code:#06x} {k}"
    if cls == _LDX:
        mode = code & 0xE0
        if mode == _MEM:
            return f"ldx M[{k}]"
        if mode == _LEN:
            return "ldx #len"
        return f"ldx #{k:#010x}" if mode == _IMM else f"ldx? {code:#06x} {k}"
    if cls == _ST:
        return f"st  M[{k}]"
    if cls == _STX:
        return f"stx M[{k}]"
    if cls == _ALU:
        alu = _ALU_NAMES.get(code & 0xF0, f"alu?{code:#06x}")
        return alu if code & 0xF0 == _NEG else f"{alu} {src}"
    if cls == _JMP:
        op = code & 0xF0
        if op == _JA:
            return f"jmp {pc + 1 + k:04}"
        name = _JUMP_NAMES.get(op, f"j?{code:#06x}")
        return f"{name} {src:<10} true:{pc + 1 + jt:04} false:{pc + 1 + jf:04}"
    if cls == _RET:
        if code & 0x18 == _RVAL_A:
            return "ret A"
        return f"ret {action_name(k).upper()}"
    return "tax" if code & 0xF8 == _TAX else "txa"


def disassemble(bpf: bytes) -> str:
    """One line per instruction: number, raw fields and a readable form.

    The layout follows libseccomp's ``scmp_bpf_disasm`` (which Debian does
    not ship): ``line  OP   JT   JF   K`` then the decoded instruction, with
    jump targets as absolute instruction numbers.
    """
    lines = [" line  OP   JT   JF   K", "================================="]
    for pc, insn in enumerate(instructions(bpf)):
        code, jt, jf, k = insn
        lines.append(
            f" {pc:04}: 0x{code:02x} 0x{jt:02x} 0x{jf:02x} 0x{k:08x}   {_describe(pc, insn)}"
        )
    return "\n".join(lines) + "\n"
