"""Filters compiled by libseccomp, judged by the BPF simulator over (arch, nr, args -> action).

The simulator tests on hand-assembled programs are pure. The rest compile
through sysphase._host.seccomp (libseccomp via ctypes: not pure, but fast);
they skip when libseccomp.so.2 cannot be loaded, and fail instead in CI,
which installs it.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sysphase.errors import PolicyError
from sysphase.model import syscalls
from sysphase.policy import bpf_sim
from sysphase.policy.bpf_sim import AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, action_name, run
from tests.conftest import IN_CI

X64 = AUDIT_ARCH_X86_64
X32_BIT = syscalls.X32_SYSCALL_BIT


@pytest.fixture(scope="module")
def seccomp():
    """sysphase._host.seccomp with libseccomp loaded, or a skip (a failure in CI)."""
    from sysphase._host import seccomp as mod

    try:
        mod.load_library()
    except PolicyError as err:
        msg = f"libseccomp cannot be loaded ({err}); CI installs it"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return mod


def nr(name: str) -> int:
    found = syscalls.number("x86_64", name)
    assert found is not None
    return found


def verdict(bpf: bytes, arch: int, number: int, args: tuple[int, ...] = ()) -> str:
    return action_name(run(bpf, number, arch, args))


# -- the simulator on hand-assembled programs (pure) ---------------------------------------


def asm(*insns: tuple[int, int, int, int]) -> bytes:
    return b"".join(struct.pack("<HBBI", *i) for i in insns)


LD_ABS, LD_IMM, LD_MEM, LD_LEN = 0x20, 0x00, 0x60, 0x80
LDX_IMM, LDX_MEM = 0x01, 0x61
ST, STX = 0x02, 0x03
ALU_K, ALU_X = 0x04, 0x0C
JA, JEQ_K, JGT_K, JGE_K, JSET_K, JEQ_X = 0x05, 0x15, 0x25, 0x35, 0x45, 0x1D
RET_K, RET_A = 0x06, 0x16
TAX, TXA = 0x07, 0x87
ALLOW, KILL = bpf_sim.RET_ALLOW, bpf_sim.RET_KILL_PROCESS


@pytest.mark.parametrize(
    ("ret", "name"),
    [
        (0x80000000, "kill_process"),
        (0x00000000, "kill_thread"),
        (0x00030000, "trap"),
        (0x00050001, "errno(1)"),
        (0x0005000D, "errno(13)"),
        (0x7FF00000, "trace"),
        (0x7FF00007, "trace(7)"),
        (0x7FC00000, "user_notif"),
        (0x7FFC0000, "log"),
        (0x7FFF0000, "allow"),
        (0x12340000, "unknown(0x12340000)"),
    ],
)
def test_action_names(ret, name):
    assert action_name(ret) == name


def test_seccomp_data_layout():
    data = bpf_sim.seccomp_data(-1, X64, (1, 2, 3, 4, 5, 2**64 - 1), ip=0x401000)
    assert len(data) == 64
    assert data[:4] == b"\xff\xff\xff\xff"
    assert struct.unpack_from("<I", data, 4)[0] == X64
    assert struct.unpack_from("<Q", data, 8)[0] == 0x401000
    assert struct.unpack_from("<6Q", data, 16) == (1, 2, 3, 4, 5, 2**64 - 1)


def test_loads_every_field_of_seccomp_data():
    # return the 32-bit word at each offset
    for offset, expected in [(0, 59), (4, X64), (8, 0x1000), (12, 0x1), (16, 7), (60, 0xABC)]:
        prog = asm((LD_ABS, 0, 0, offset), (RET_A, 0, 0, 0))
        args = (7, 0, 0, 0, 0, 0xABC << 32)
        assert run(prog, 59, X64, args, ip=0x1_0000_1000) == expected


def test_alu_scratch_and_registers():
    prog = asm(
        (LD_ABS, 0, 0, 16),  # A = arg0 low
        (ALU_K | 0x00, 0, 0, 5),  # A += 5
        (ALU_K | 0x20, 0, 0, 3),  # A *= 3
        (ST, 0, 0, 2),  # M[2] = A
        (LDX_IMM, 0, 0, 4),  # X = 4
        (ALU_X | 0x30, 0, 0, 0),  # A /= X
        (TAX, 0, 0, 0),  # X = A
        (LD_MEM, 0, 0, 2),  # A = M[2]
        (ALU_X | 0x10, 0, 0, 0),  # A -= X
        (ALU_K | 0x60, 0, 0, 4),  # A <<= 4
        (ALU_K | 0xA0, 0, 0, 0xFF),  # A ^= 0xff
        (STX, 0, 0, 3),  # M[3] = X
        (LDX_MEM, 0, 0, 3),  # X = M[3]
        (ALU_K | 0x90, 0, 0, 7),  # A %= 7
        (RET_A, 0, 0, 0),
    )
    a = (1 + 5) * 3  # 18
    x = a // 4  # 4
    expected = (((a - x) << 4) ^ 0xFF) % 7
    assert run(prog, 0, X64, (1,)) == expected


def test_alu_wraps_at_32_bits_and_neg():
    prog = asm((LD_IMM, 0, 0, 0xFFFFFFFF), (ALU_K, 0, 0, 2), (RET_A, 0, 0, 0))
    assert run(prog, 0, X64) == 1
    prog = asm((LD_IMM, 0, 0, 1), (ALU_K | 0x80, 0, 0, 0), (RET_A, 0, 0, 0))
    assert run(prog, 0, X64) == 0xFFFFFFFF


def test_division_by_zero_x_returns_zero_like_the_kernel():
    prog = asm((LD_IMM, 0, 0, 9), (LDX_IMM, 0, 0, 0), (ALU_X | 0x30, 0, 0, 0), (RET_K, 0, 0, ALLOW))
    assert run(prog, 0, X64) == 0


@pytest.mark.parametrize(
    ("code", "k", "taken"),
    [
        (JEQ_K, 5, [5]),
        (JGT_K, 5, [6, 0xFFFFFFFF]),
        (JGE_K, 5, [5, 6, 0xFFFFFFFF]),
        (JSET_K, 0x4, [4, 5, 6, 0xFFFFFFFF]),
    ],
)
def test_conditional_jumps(code, k, taken):
    prog = asm((LD_ABS, 0, 0, 0), (code, 1, 0, k), (RET_K, 0, 0, KILL), (RET_K, 0, 0, ALLOW))
    for value in [0, 1, 4, 5, 6, 0xFFFFFFFF]:
        expected = ALLOW if value in taken else KILL
        assert run(prog, value, X64) == expected, (code, k, value)


def test_jump_against_x_and_ja():
    prog = asm(
        (LDX_IMM, 0, 0, 39),
        (LD_ABS, 0, 0, 0),
        (JEQ_X, 0, 1, 0),
        (JA, 0, 0, 1),
        (RET_K, 0, 0, KILL),
        (TXA, 0, 0, 0),
        (RET_A, 0, 0, 0),
    )
    assert run(prog, 39, X64) == 39
    assert run(prog, 40, X64) == KILL


def test_len_loads_the_size_of_seccomp_data():
    assert run(asm((LD_LEN, 0, 0, 0), (RET_A, 0, 0, 0)), 0, X64) == 64


@pytest.mark.parametrize(
    "prog",
    [
        b"",
        b"\x06\x00\x00",  # not a multiple of 8
        asm((RET_K, 0, 0, 0)) * 4097,  # over BPF_MAXINSNS
        asm((0x30, 0, 0, 0), (RET_A, 0, 0, 0)),  # LD B ABS: packet loads are refused
        asm((LD_ABS, 0, 0, 2), (RET_A, 0, 0, 0)),  # unaligned
        asm((LD_ABS, 0, 0, 64), (RET_A, 0, 0, 0)),  # past seccomp_data
        asm((LD_MEM, 0, 0, 1), (RET_A, 0, 0, 0)),  # scratch never written
        asm((ST, 0, 0, 16), (RET_A, 0, 0, 0)),  # scratch is M[0..15]
        asm((LD_IMM, 0, 0, 0)),  # the last instruction does not return
        asm((JA, 0, 0, 1), (RET_A, 0, 0, 0)),  # jumps out of the program
        asm((JEQ_K, 0, 1, 0), (RET_A, 0, 0, 0)),  # so does this one, when false
        asm((0x0E, 0, 0, 0)),  # RET X
        asm((ALU_K | 0x30, 0, 0, 0), (RET_A, 0, 0, 0)),  # division by a constant 0
        asm((ALU_K | 0x60, 0, 0, 32), (RET_A, 0, 0, 0)),  # shift by 32
        asm((ALU_X | 0x80, 0, 0, 0), (RET_A, 0, 0, 0)),  # NEG has no X form
    ],
)
def test_programs_the_kernel_would_refuse(prog):
    with pytest.raises(ValueError):
        run(prog, 0, X64)


def test_refusal_does_not_depend_on_the_path_taken():
    # the bad jump sits on a branch this call never takes: still refused at load
    prog = asm((RET_K, 0, 0, ALLOW), (JA, 0, 0, 9), (RET_K, 0, 0, KILL))
    with pytest.raises(ValueError, match="instruction 1"):
        run(prog, 0, X64)


def test_disassemble_names_fields_and_actions():
    prog = asm((LD_ABS, 0, 0, 4), (JEQ_K, 0, 1, X64), (RET_K, 0, 0, ALLOW), (RET_K, 0, 0, KILL))
    text = bpf_sim.disassemble(prog)
    assert " 0000: 0x20 0x00 0x00 0x00000004   ld  $arch" in text
    assert "jeq 0xc000003e true:0002 false:0003" in text
    assert text.rstrip().endswith("ret KILL_PROCESS")


# -- filters compiled by libseccomp --------------------------------------------------------

BASIC = {
    "read": [],
    "write": [[(0, "eq", 1, 0)], [(0, "eq", 2, 0)]],  # stdout or stderr
    "mmap": [[(2, "masked_eq", 0x4, 0x4)]],  # PROT_EXEC set
    "openat": [[(2, "masked_eq", 0, 0x3)]],  # O_RDONLY
    "lseek": [[(2, "le", 2, 0), (0, "ge", 3, 0)]],  # whence <= 2 and fd >= 3
    "exit_group": [[]],  # an empty conjunction is unconditional too
}

# (arch, nr name or number, args, expected action) with the kill default
BASIC_TABLE = [
    (X64, "read", (), "allow"),
    (X64, "read", (99, 1, 2), "allow"),
    (X64, "exit_group", (0,), "allow"),
    (X64, "write", (1,), "allow"),
    (X64, "write", (2,), "allow"),
    (X64, "write", (3,), "kill_process"),
    (X64, "write", (1 | 1 << 32,), "kill_process"),  # all 64 bits compared
    (X64, "mmap", (0, 4096, 0x5), "allow"),
    (X64, "mmap", (0, 4096, 0x3), "kill_process"),
    (X64, "mmap", (0, 4096, 0x4 | 1 << 40), "allow"),
    (X64, "openat", (-100, 0, 0o100000), "allow"),  # O_LARGEFILE only
    (X64, "openat", (-100, 0, 0o1), "kill_process"),  # O_WRONLY
    (X64, "openat", (-100, 0, 0o2), "kill_process"),  # O_RDWR
    (X64, "lseek", (3, 0, 2), "allow"),
    (X64, "lseek", (3, 0, 3), "kill_process"),
    (X64, "lseek", (2, 0, 0), "kill_process"),
    (X64, "close", (3,), "kill_process"),
    (X64, "fchdir", (), "kill_process"),
    (X64, 0xFFFFFFFF, (), "kill_process"),  # nr -1 (a tracer's skipped call): default
    (X64, 451, (), "kill_process"),  # a number past every known call
    # x32: the same arch value, numbers with bit 30
    (X64, X32_BIT | 0, (), "kill_process"),
    (X64, X32_BIT | 39, (), "kill_process"),
    (X64, X32_BIT | 1, (1,), "kill_process"),
    (X64, 0x7FFFFFFF, (), "kill_process"),
    # i386 through int 0x80: read is 3, write 4, exit_group 252 there
    (AUDIT_ARCH_I386, 0, (), "kill_process"),
    (AUDIT_ARCH_I386, 3, (), "kill_process"),
    (AUDIT_ARCH_I386, 4, (1,), "kill_process"),
    (AUDIT_ARCH_I386, 252, (), "kill_process"),
    (bpf_sim.AUDIT_ARCH_AARCH64, 63, (), "kill_process"),
]


def number_of(call: str | int) -> int:
    return nr(call) if isinstance(call, str) else call


@pytest.mark.parametrize(("arch", "call", "args", "expected"), BASIC_TABLE)
def test_basic_filter(seccomp, arch, call, args, expected):
    bpf = seccomp.compile_filter(BASIC, "kill")
    assert verdict(bpf, arch, number_of(call), args) == expected


# For each default action: (what an unlisted x86_64 call gets, what i386 and x32 get).
DEFAULTS = {
    "kill": ("kill_process", "kill_process"),
    "errno": ("errno(1)", "errno(1)"),
    "trap": ("trap", "trap"),
    "log": ("log", "kill_process"),  # a foreign ABI is never just logged
}


@pytest.mark.parametrize("default", sorted(DEFAULTS))
def test_default_and_bad_arch_actions(seccomp, default):
    unlisted, foreign = DEFAULTS[default]
    bpf = seccomp.compile_filter(BASIC, default)
    assert verdict(bpf, X64, nr("read"), ()) == "allow"
    assert verdict(bpf, X64, nr("write"), (1,)) == "allow"
    assert verdict(bpf, X64, nr("write"), (5,)) == unlisted
    assert verdict(bpf, X64, nr("fchdir"), ()) == unlisted
    assert verdict(bpf, X64, X32_BIT | nr("read"), ()) == foreign
    assert verdict(bpf, X64, X32_BIT | 39, ()) == foreign
    assert verdict(bpf, AUDIT_ARCH_I386, 3, ()) == foreign
    assert verdict(bpf, AUDIT_ARCH_I386, nr("read"), ()) == foreign


def test_the_filter_checks_arch_then_the_x32_bit_first(seccomp):
    # What libseccomp 2.5.4 emits for an x86_64-only filter; the policy relies on it.
    text = seccomp.disassemble(seccomp.compile_filter({"read": []}, "errno"))
    lines = [line.split("   ", 1)[1] for line in text.splitlines()[2:]]
    assert lines[0] == "ld  $arch"
    assert lines[1].startswith("jeq 0xc000003e ")
    assert lines[2] == "ld  $nr"
    assert lines[3].startswith("jge 0x40000000 ")


def test_empty_allow_list_rejects_everything(seccomp):
    bpf = seccomp.compile_filter({}, "kill")
    for number in (0, 1, 60, 231, 450):
        assert verdict(bpf, X64, number) == "kill_process"


def test_unknown_syscall_name_is_named(seccomp):
    with pytest.raises(PolicyError, match="'no_such_call'"):
        seccomp.compile_filter({"read": [], "no_such_call": []}, "kill")


def test_i386_only_name_is_unknown_on_x86_64(seccomp):
    with pytest.raises(PolicyError, match="'socketcall'"):
        seccomp.compile_filter({"socketcall": []}, "kill")


def test_a_raw_number_past_the_tables_is_compiled(seccomp):
    # strace's syscall_0x1c3 form: a call newer than the tables still gets a rule
    bpf = seccomp.compile_filter({"syscall_0x1c3": []}, "kill")
    assert verdict(bpf, X64, 0x1C3) == "allow"
    assert verdict(bpf, X64, 0x1C4) == "kill_process"


@pytest.mark.parametrize(
    ("allow", "default", "arch", "message"),
    [
        ({"read": []}, "allow", "x86_64", "unknown default action 'allow'"),
        ({"read": []}, "kill", "i386", "only x86_64"),
        ({"read": [[(6, "eq", 0, 0)]]}, "kill", "x86_64", "argument index 6"),
        ({"read": [[(0, "like", 0, 0)]]}, "kill", "x86_64", "unknown comparison 'like'"),
        ({"read": [[(0, "eq", 1 << 64, 0)]]}, "kill", "x86_64", "not a 64-bit integer"),
        ({"read": [[(0, "masked_eq", 0x5, 0x4)]]}, "kill", "x86_64", "can never match"),
        ({"read": [[(0, "eq")]]}, "kill", "x86_64", "not \\(arg, op, value, mask\\)"),
    ],
)
def test_bad_input_is_a_policy_error(seccomp, allow, default, arch, message):
    with pytest.raises(PolicyError, match=message):
        seccomp.compile_filter(allow, default, arch=arch)


def test_negative_values_are_twos_complement(seccomp):
    bpf = seccomp.compile_filter({"fchdir": [[(0, "eq", -1, 0)]]}, "kill")
    assert verdict(bpf, X64, nr("fchdir"), (2**64 - 1,)) == "allow"
    assert verdict(bpf, X64, nr("fchdir"), (2**32 - 1,)) == "kill_process"


@pytest.mark.parametrize(
    ("op", "value", "allowed", "denied"),
    [
        ("eq", 7, [7], [6, 8, 7 | 1 << 32]),
        ("ne", 7, [6, 8, 7 | 1 << 32], [7]),
        ("lt", 7, [0, 6], [7, 8, 1 << 32]),
        ("le", 7, [0, 7], [8, 1 << 32]),
        ("gt", 7, [8, 1 << 32, 2**64 - 1], [0, 7]),
        ("ge", 7, [7, 1 << 32], [0, 6]),
    ],
)
def test_comparisons_are_unsigned_64_bit(seccomp, op, value, allowed, denied):
    bpf = seccomp.compile_filter({"close": [[(0, op, value, 0)]]}, "errno")
    for a in allowed:
        assert verdict(bpf, X64, nr("close"), (a,)) == "allow", (op, a)
    for a in denied:
        assert verdict(bpf, X64, nr("close"), (a,)) == "errno(1)", (op, a)


def test_rule_lists_longer_than_a_jump_can_reach(seccomp):
    # jt/jf reach 255 instructions; libseccomp copies the `ret ALLOW` every 255 checks
    alternatives = [[(1, "eq", 1000 + i, 0)] for i in range(500)]
    bpf = seccomp.compile_filter({"ioctl": alternatives, "read": []}, "kill")
    assert len(bpf_sim.instructions(bpf)) > 500
    for i in (0, 1, 250, 498, 499):
        assert verdict(bpf, X64, nr("ioctl"), (0, 1000 + i)) == "allow"
    assert verdict(bpf, X64, nr("ioctl"), (0, 999)) == "kill_process"
    assert verdict(bpf, X64, nr("ioctl"), (0, 1500)) == "kill_process"
    assert verdict(bpf, X64, nr("read"), ()) == "allow"


def test_over_the_instruction_limit(seccomp):
    # libseccomp merges identical argument checks across calls, so every value differs.
    # (Many calls with many alternatives each compile slowly in libseccomp 2.5.4:
    # 362 calls x 6 took a minute; one call with 700 alternatives takes milliseconds.)
    allow = {"ioctl": [[(1, "eq", i, 0), (2, "ne", i, 0)] for i in range(700)], "read": []}
    with pytest.raises(PolicyError, match=r"phase 'serve' compiles to \d+ instructions, over"):
        seccomp.compile_filter(allow, "kill", phase="serve")
    with pytest.raises(PolicyError, match="the filter compiles to"):
        seccomp.compile_filter(allow, "kill")


# ~40 common x86_64 syscalls; any subset, compiled, allows exactly its numbers.
COMMON = [
    "read",
    "write",
    "openat",
    "close",
    "fstat",
    "newfstatat",
    "lseek",
    "mmap",
    "mprotect",
    "munmap",
    "brk",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "ioctl",
    "pread64",
    "access",
    "pipe2",
    "dup2",
    "getpid",
    "getppid",
    "socket",
    "connect",
    "clone",
    "clone3",
    "execve",
    "exit",
    "exit_group",
    "wait4",
    "fcntl",
    "getdents64",
    "getcwd",
    "fchdir",
    "futex",
    "set_tid_address",
    "set_robust_list",
    "rseq",
    "prlimit64",
    "getrandom",
    "epoll_wait",
    "clock_nanosleep",
    "arch_prctl",
]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(subset=st.sets(st.sampled_from(COMMON)), default=st.sampled_from(sorted(DEFAULTS)))
def test_allows_exactly_the_subset(seccomp, subset, default):
    bpf = seccomp.compile_filter({name: [] for name in sorted(subset)}, default)
    allowed = {nr(name) for name in subset}
    unlisted, foreign = DEFAULTS[default]
    for number in range(451):
        expected = "allow" if number in allowed else unlisted
        assert verdict(bpf, X64, number) == expected, syscalls.name("x86_64", number)
    for number in allowed:
        assert verdict(bpf, X64, X32_BIT | number) == foreign
        assert verdict(bpf, AUDIT_ARCH_I386, number) == foreign
