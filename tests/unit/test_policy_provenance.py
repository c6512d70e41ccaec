"""Policy generation: where each allowed call came from, and `explain`, which shows it.

Provenance sums a call's count per program and phase; a call lists at most
PROVENANCE_LIMIT sources (and says how many there were), so a policy grows
linearly with its phases.
"""

from __future__ import annotations

from dataclasses import replace

from sysphase.bench.policygen import synthetic_profile
from sysphase.model.tree import NodeKind
from sysphase.policy import encode, explain, generate
from sysphase.policy.generate import PROVENANCE_LIMIT
from sysphase.policy.ir import Provenance
from tests.unit.policy_samples import (
    SERVE,
    SERVER,
    SH,
    marker_profile,
    phase,
    proc,
    server_profile,
    the_phase,
)


def test_provenance_sums_nodes_per_program_and_phase() -> None:
    policy = generate(server_profile())
    start = the_phase(policy, SERVER, "start")
    futex = start.get("futex")
    assert futex is not None
    assert futex.provenance == (Provenance(SERVER, "start", 1), Provenance(SERVER, "serve", 4))
    assert futex.reason is None
    getpid = start.get("getpid")
    assert getpid is not None and getpid.provenance == (Provenance(SH, "sh", 1),)
    # unfinished calls count: exit_group is seen once (and always added)
    exit_group = the_phase(policy, SH, "sh").get("exit_group")
    assert exit_group is not None
    assert exit_group.provenance == (Provenance(SH, "sh", 1),)
    assert exit_group.reason is not None and exit_group.reason.startswith("always added")


def test_provenance_lists_at_most_the_limit_and_says_how_many_there_were() -> None:
    count = PROVENANCE_LIMIT + 4
    base = marker_profile(count, calls={"read": 2})
    child = proc(1, 0, NodeKind.EXEC, SH, phase(0, "sh", "exec", {"read": 5}))
    profile = replace(base, processes=(*base.processes, child))
    program = generate(profile).root_program
    read = program.phases[0].get("read")
    assert read is not None
    # every program first (sh), then the nearest phases of this one
    assert read.provenance == (
        Provenance("/m", "start", 2),
        *(Provenance("/m", f"m{k}", 2) for k in range(1, PROVENANCE_LIMIT - 1)),
        Provenance(SH, "sh", 5),
    )
    total = 2 * count + 5
    assert read.note == (
        f"provenance: {PROVENANCE_LIMIT} of {count + 1} program phases shown, {total} calls in all"
    )
    assert f"note: {read.note}" in explain(generate(profile))
    # a later phase covers fewer sources: all of them, no note
    last = program.phases[-1].get("read")
    assert last is not None and last.note is None
    assert last.provenance == (Provenance("/m", f"m{count - 1}", 2), Provenance(SH, "sh", 5))


def test_policy_size_grows_linearly_with_phases() -> None:
    """A phase allows what every later one does: its provenance must not list them all."""
    sizes = {}
    for n in (100, 1_000):
        policy = generate(synthetic_profile(n), max_phases=n)
        for program in policy.programs:
            for p in program.phases:
                for call in (*p.allowed, *p.refused):
                    assert len(call.provenance) <= PROVENANCE_LIMIT
        sizes[n] = len(encode(policy))
    # 10x the phases: about 10x the size (listing every later phase would make it 100x)
    assert sizes[1_000] < 15 * sizes[100]


def test_explain_says_where_every_call_came_from() -> None:
    text = explain(generate(server_profile(), args=True))
    lines = text.splitlines()
    assert lines[:3] == [
        "Policy for /usr/bin/server (x86_64)",
        "Default action: kill (kill the process)",
        "Options: --args",
    ]
    assert f"{SERVER} (root program)" in lines
    assert "  phase start (trigger: start): 24 syscalls allowed" in lines
    assert f"  phase serve (trigger: {SERVE}): 16 syscalls allowed" in lines
    assert f"    futex                {SERVER} start: 1 call; {SERVER} serve: 4 calls" in lines
    assert f"    getpid               {SH} sh: 1 call" in lines
    assert any(line.startswith("    time                 always added: vDSO") for line in lines)
    assert any(line.startswith("    seccomp              enforcer: ") for line in lines)
    assert any(
        line.startswith(f"    i386:getpid          {SERVER} serve: 1 call; seen but refused")
        for line in lines
    )
    when = " " * 25 + "when arg0 == 2 and arg1 & 0xfff7f7ff == 0x1"
    assert lines[lines.index(f"    socket               {SERVER} start: 1 call") + 1] == when
    assert text.endswith("\n")
    every = {
        call.syscall
        for program in generate(server_profile()).programs
        for p in program.phases
        for call in p.allowed
    }
    for call in every:
        assert any(line.startswith(f"    {call} ") for line in lines), call
