"""Audit records under a policy (policy/audit.py) and as sysphase audit prints them.

The phase is the first of the program's phases that refuses the call; a
phase that allows it under argument conditions may refuse it; every phase
refuses another ABI; a call every phase allows is not this policy's. A
copy of a program is that program by build-id. The fragment decodes, merges
into a recorded profile at the right phase, and leaves allowed calls out.
"""

from __future__ import annotations

import json
from datetime import UTC

from sysphase.model import profile_codec
from sysphase.model.audit_records import AuditRecord
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Phase, ProcessNode, Profile, SyscallStat
from sysphase.model.profile_merge import merge
from sysphase.model.tree import NodeKind
from sysphase.policy.audit import Attribution, attribute, fragment
from sysphase.policy.ir import AllowedCall, ArgCondition, Policy, PolicyPhase, ProgramPolicy, Rule
from sysphase.report import audit_view

X = "/usr/bin/x"
KILL, LOG, ERRNO = 0x80000000, 0x7FFC0000, 0x00050001


def allow(*names: str, cond: str = "") -> tuple[AllowedCall, ...]:
    calls = [AllowedCall(Rule(n)) for n in names]
    if cond:
        calls.append(AllowedCall(Rule(cond, ((ArgCondition(0, "eq", 2),),))))
    return tuple(calls)


POLICY = Policy(
    "x86_64",
    "kill",
    (
        ProgramPolicy(
            X,
            (
                PolicyPhase("start", "start", allow("read", "socket", "bind", cond="ioctl")),
                PolicyPhase("serve", "syscall:epoll_wait", allow("read", "bind", cond="ioctl")),
                PolicyPhase("quiet", "syscall:pause", allow("read")),
            ),
            build_id="ab12",
        ),
        ProgramPolicy("/usr/bin/y", (PolicyPhase("y", "exec", allow("read")),)),
    ),
    command=(X, "--serve"),
)


def rec(
    name: str, code: int = KILL, exe: str = X, arch: str = "x86_64", nr: int = 0
) -> AuditRecord:
    return AuditRecord(1796613068.437, 1, 4242, "x", exe, arch, nr, name, code, 31, 0x10, 0)


def test_the_first_phase_that_refuses_the_call_is_named():
    who = attribute(rec("socket"), POLICY)
    assert (who.program, who.phase, who.index) == (X, "serve", 1)
    assert who.note == f"the first of {X}'s phases that refuses socket"
    assert attribute(rec("bind"), POLICY).phase == "quiet"


def test_a_call_no_phase_allows_could_be_in_any_phase():
    who = attribute(rec("getppid"), POLICY)
    assert (who.phase, who.index, who.addable) == ("start", 0, True)
    assert (
        who.note
        == f"the first of {X}'s phases that refuses getppid; every phase does, so any of them"
    )


def test_argument_conditions_may_refuse():
    who = attribute(rec("ioctl"), POLICY)
    assert (who.phase, who.note) == (
        "start",
        f"the first of {X}'s phases that may refuse ioctl; every phase does, so any of them",
    )


def test_a_call_every_phase_allows_is_not_this_policys_filter():
    who = attribute(rec("read"), POLICY)
    assert (who.phase, who.addable) == (None, False)
    assert (
        who.note == f"every phase of {X} allows read: not this policy's filter "
        "(another filter, or an older policy)"
    )


def test_another_abi_is_refused_by_every_phase():
    who = attribute(rec("getpid", arch="i386", nr=20), POLICY)
    assert (who.phase, who.index) == ("start", 0)
    assert who.note == f"every phase of {X} refuses i386 calls (another ABI), so any of them"


def test_a_copy_is_its_program_by_build_id_and_a_deleted_file_by_path():
    assert attribute(rec("socket", exe="/tmp/patched"), POLICY, "ab12").program == X
    assert attribute(rec("socket", exe=f"{X} (deleted)"), POLICY).phase == "serve"
    stranger = attribute(rec("socket", exe="/tmp/patched"), POLICY, "ffff")
    assert (stranger.program, stranger.phase) == ("/tmp/patched", None)
    assert stranger.note == "not a program of the policy"


def test_without_a_policy_only_the_program():
    assert attribute(rec("socket"), None) == Attribution(X, None)


def test_an_action_the_policy_does_not_take_is_remarked():
    who = attribute(rec("socket", code=LOG), POLICY)
    assert who.note.endswith(
        "; the policy's default action is kill, this record's log: "
        "another filter, or an older policy"
    )


def _recorded() -> Profile:
    phases = (
        Phase(0, "start", "start", FrozenMap({"read": SyscallStat(3)})),
        Phase(1, "serve", "syscall:epoll_wait", FrozenMap({"epoll_wait": SyscallStat(2)})),
    )
    node = ProcessNode(0, None, NodeKind.SPAWN, X, (X,), None, None, "exit 0", phases, "ab12")
    return Profile((X, "--serve"), "x86_64", 1, True, (node,))


def _rows(*records: AuditRecord):
    return [(r, attribute(r, POLICY, "ab12" if r.exe == "/tmp/patched" else "")) for r in records]


def test_the_fragment_merges_each_call_into_its_phase():
    rows = _rows(
        rec("socket", exe="/tmp/patched"),
        rec("socket", code=LOG),
        rec("connect", code=ERRNO),
        rec("getpid", arch="i386", nr=20),
        rec("getpid", arch="x32", nr=0x40000027),
        rec("read"),  # allowed everywhere: left out
        rec("open", exe="/opt/z"),  # not the policy's: left out
    )
    frag = fragment(rows, POLICY)
    assert profile_codec.decode(profile_codec.encode(frag), "frag") == frag
    assert frag.fragment and frag.command == (X, "--serve")
    assert [(n.executable, n.created, n.from_fragment) for n in frag.processes] == [
        (X, NodeKind.SPAWN, True)
    ]
    x = frag.processes[0]
    assert x.build_id == "ab12"
    assert [(p.index, p.name, p.trigger) for p in x.phases] == [
        (0, "start", "start"),
        (1, "serve", "syscall:epoll_wait"),
    ]
    assert dict(x.phases[0].syscalls) == {
        "connect": SyscallStat(calls=1, errors=1),
        "i386:getpid": SyscallStat(unfinished=1),
        "x32:getpid": SyscallStat(unfinished=1),
    }
    assert dict(x.phases[1].syscalls) == {"socket": SyscallStat(calls=1, unfinished=1)}
    merged = merge(_recorded(), frag)
    assert [n.executable for n in merged.processes] == [X]
    root = merged.processes[0]
    assert not root.from_fragment
    assert set(root.phases[1].syscalls) == {"epoll_wait", "socket"}
    assert merged.command == (X, "--serve")


def test_another_program_of_the_policy_is_a_process_the_root_execd():
    frag = fragment(_rows(rec("socket", exe="/usr/bin/y")), POLICY)
    assert [(n.executable, n.parent, n.created) for n in frag.processes] == [
        (X, None, NodeKind.SPAWN),
        ("/usr/bin/y", 0, NodeKind.EXEC),
    ]
    y = frag.processes[1]
    assert [(p.name, p.trigger, dict(p.syscalls)) for p in y.phases] == [
        ("y", "exec", {"socket": SyscallStat(unfinished=1)})
    ]
    merged = merge(_recorded(), frag)
    assert merged.processes[0].executable == X  # the root stays the root


def test_a_fragment_of_nothing_has_no_processes():
    frag = fragment(_rows(rec("read"), rec("open", exe="/opt/z")), POLICY)
    assert (frag.processes, frag.fragment) == ((), True)


def test_lines_json_and_summary():
    patched = rec("socket", exe="/tmp/patched", nr=41)
    rows = [
        (patched, attribute(patched, POLICY, "ab12")),
        (patched, attribute(patched, POLICY, "ab12")),
        (rec("getpid", arch="i386", nr=20), attribute(rec("getpid", arch="i386", nr=20), POLICY)),
    ]
    utc = UTC
    assert audit_view.record_line(*rows[0], tz=utc) == (
        "2026-12-07 03:11:08.437  pid 4242  /tmp/patched (program /usr/bin/x)  socket (41)  "
        f"kill_process  phase serve (the first of {X}'s phases that refuses socket)"
    )
    assert "getpid (20) [i386]" in audit_view.record_line(*rows[2], tz=utc)
    obj = json.loads(audit_view.record_json(*rows[0]))
    assert obj == {
        "time": 1796613068.437,
        "serial": 1,
        "pid": 4242,
        "uid": 0,
        "comm": "x",
        "exe": "/tmp/patched",
        "program": X,
        "arch": "x86_64",
        "syscall": "socket",
        "nr": 41,
        "action": "kill_process",
        "code": "0x80000000",
        "signal": 31,
        "ip": "0x10",
        "phase": "serve",
        "note": f"the first of {X}'s phases that refuses socket",
    }
    assert audit_view.summary_lines(rows, "dmesg", 1796613000.0, True, tz=utc) == [
        "3 records from dmesg since 2026-12-07 03:10:00.000:",
        "  /usr/bin/x  phase serve  socket       2",
        "  /usr/bin/x  phase start  i386:getpid  1",
    ]
    assert audit_view.summary_lines(rows[:1], "dmesg", None, False) == [
        "1 record from dmesg:",
        "  /usr/bin/x  socket  1",
    ]
    assert audit_view.summary_lines([], "the journal", None, False) == [
        "0 records from the journal"
    ]
    summary = json.loads(audit_view.summary_json(rows, "dmesg", None, 5))
    assert summary["summary"][0] == {
        "program": X,
        "phase": "serve",
        "syscall": "socket",
        "records": 2,
    }
    assert (summary["records"], summary["suppressed"]) == (3, 5)


def test_names_are_escaped_for_the_terminal():
    evil = rec("socket", exe="/tmp/evil\x1b[31m\nname")
    line = audit_view.record_line(evil, attribute(evil, None), tz=UTC)
    assert "\x1b" not in line and "\n" not in line
    assert "/tmp/evil\\x1b[31m\\nname" in line
