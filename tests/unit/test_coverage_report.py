"""`sysphase coverage`'s pure parts: the report's set arithmetic and text, the scanner, names."""

from __future__ import annotations

from sysphase.coverage import report
from sysphase.coverage.binary_reach import BinaryReach
from sysphase.coverage.linking import Linker
from sysphase.coverage.program import program_reach
from sysphase.coverage.report import DIRECT, ProgramReach
from sysphase.coverage.scan import disassemble, scan
from sysphase.model.profile import Profile
from sysphase.model.tree import NodeKind
from sysphase.policy.ir import AllowedCall, Policy, PolicyPhase, ProgramPolicy, Rule
from tests.unit.policy_samples import phase, proc

EXE = "/usr/bin/prog"


def _profile() -> Profile:
    start = phase(0, "start", "start", {"read": 3, "write": 1, "execve": 1, "i386:open": 1})
    serve = phase(1, "serve", "syscall:accept", {"accept": 2, "read": 5})
    other = proc(1, 0, NodeKind.EXEC, "/bin/other", phase(0, "other", "exec", {"read": 1}))
    return Profile(
        ("prog",), "x86_64", 1, True, (proc(0, None, NodeKind.SPAWN, EXE, start, serve), other)
    )


def _reach() -> ProgramReach:
    return ProgramReach(
        EXE,
        {
            "read@libc": frozenset({"read"}),
            "printf@libc": frozenset({"write", "mmap", "read"}),
            "connect@libc": frozenset({"connect", "mmap"}),
            "getaddrinfo@libc": frozenset({"connect", "socket", "mmap", "read", "sendto"}),
            DIRECT: frozenset({"getitimer"}),
        },
        {"indirect calls or jumps in libc": 3},
        ("pcre2_match",),
        6,
    )


def _policy() -> Policy:
    allowed = tuple(AllowedCall(Rule(n)) for n in ("read", "write", "accept", "ptrace", "mmap"))
    return Policy(
        "x86_64",
        "kill",
        (ProgramPolicy(EXE, (PolicyPhase("start", "start", allowed),)),),
    )


def test_seen_unseen_and_unexplained_per_phase():
    (program,) = report.cover(_profile(), {EXE: _reach()})  # /bin/other has no reach: left out
    start, serve = program.phases
    assert start.seen == ("execve", "i386:open", "read", "write")
    assert dict(start.unseen).keys() == {"connect", "getitimer", "mmap", "sendto", "socket"}
    assert start.unexplained == ("execve", "i386:open")
    assert start.beyond is None
    assert "write" in dict(serve.unseen) and serve.unexplained == ("accept",)


def test_sources_put_the_function_of_that_name_first_then_the_most_specific():
    unseen = dict(report.cover(_profile(), {EXE: _reach()})[0].phases[0].unseen)
    assert unseen["connect"] == ("connect@libc", "getaddrinfo@libc")
    assert unseen["mmap"] == ("connect@libc", "printf@libc", "getaddrinfo@libc")
    assert unseen["getitimer"] == (DIRECT,)


def test_policy_beyond_both_and_left_unchanged():
    policy = _policy()
    start, serve = report.cover(_profile(), {EXE: _reach()}, policy)[0].phases
    assert start.beyond == ("accept", "ptrace")  # read/write seen, mmap reachable
    assert serve.beyond is None  # the policy has no serve phase
    assert policy == _policy()


def test_json_and_text():
    programs = report.cover(_profile(), {EXE: _reach()}, _policy())
    doc = report.to_json(programs)
    (prog,) = doc["programs"]
    assert prog["executable"] == EXE and prog["not_followed"] == ["pcre2_match"]
    assert prog["phases"][0]["reachable_not_seen"]["socket"] == ["getaddrinfo@libc"]
    assert prog["phases"][0]["allowed_beyond"] == ["accept", "ptrace"]
    assert "allowed_beyond" not in prog["phases"][1]
    text = report.render(programs)
    assert f"{EXE}: 6 imported functions, 7 syscalls reachable" in text
    assert "connect   ← connect@libc, getaddrinfo@libc\n" in text
    assert "phase start: 4 seen, 5 reachable but not seen, 2 seen but not found reachable" in text
    assert "3 indirect calls or jumps in libc" in text and "pcre2_match" in text
    assert report.render(()) == ""


def test_program_reach_names_the_wrapper_and_direct_numbers():
    binary = BinaryReach(("syscall",), frozenset({36, 99999}), 1, frozenset({121}), 2)
    reach = program_reach(EXE, binary, Linker([]))
    assert reach.sources == {"syscall@libc": {"getpgid"}, DIRECT: {"getitimer"}}
    assert reach.unresolved == {
        "syscall instructions in the program without a constant number": 1,
        "calls of syscall(2) without a constant number": 2,
    }


def _numbers(code: bytes) -> list[int | None]:
    return [nr for _at, nr in scan(disassemble(code, 0x1000)).syscalls]


MOV_EAX_42 = bytes.fromhex("b82a000000")
MOV_EAX_41 = bytes.fromhex("b829000000")
SYSCALL = bytes.fromhex("0f05")


def test_scan_constants_in_eax():
    assert _numbers(MOV_EAX_42 + SYSCALL) == [42]
    assert _numbers(bytes.fromhex("31c0") + SYSCALL) == [0]  # xor eax, eax: read
    assert _numbers(bytes.fromhex("8b07") + SYSCALL) == [None]  # mov eax, [rdi]
    assert _numbers(MOV_EAX_42 + bytes.fromhex("4d89c2") + SYSCALL) == [42]  # mov r10, r8
    # a value copied from another register: mov esi, 231; mov eax, esi
    assert _numbers(bytes.fromhex("bee700000089f0") + SYSCALL) == [231]
    # mov edx, 60; [cdq: writes edx]; mov eax, edx
    assert _numbers(bytes.fromhex("ba3c00000089d0") + SYSCALL) == [60]
    assert _numbers(bytes.fromhex("ba3c0000009989d0") + SYSCALL) == [None]
    # a call clobbers eax
    assert _numbers(MOV_EAX_42 + bytes.fromhex("e800000000") + SYSCALL) == [None]


def test_scan_meets_values_at_jump_targets():
    # mov eax, 42; je +5; mov eax, X; syscall  -- the syscall is a jump target
    assert _numbers(MOV_EAX_42 + bytes.fromhex("7405") + MOV_EAX_41 + SYSCALL) == [None]
    assert _numbers(MOV_EAX_42 + bytes.fromhex("7405") + MOV_EAX_42 + SYSCALL) == [42]
    # mov esi, 231; jmp over padding; hlt; mov eax, esi; syscall
    code = bytes.fromhex("bee7000000eb01f489f0") + SYSCALL
    assert _numbers(code) == [231]


def test_scan_edi_at_a_call_and_branch_targets():
    insns = disassemble(bytes.fromhex("bf7900000031c0e800100000ff15f00f0000"), 0)
    first, second = scan(insns).branches
    assert (first.call, first.target, first.edi) == (True, 0x100C, 121)
    assert (second.target, second.slot, second.edi) == (None, 0xC + 6 + 0xFF0, None)
    # mov edi, 3; rep stosq (moves rdi); call
    (after_stos,) = scan(disassemble(bytes.fromhex("bf03000000f348abe800000000"), 0)).branches
    assert after_stos.edi is None
