"""Profiles: the model built from a traced tree (from_tree), stats, diff, the views, the example."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sysphase.model.profile import Phase, Profile, SyscallStat
from sysphase.model.profile_build import from_tree
from sysphase.model.profile_codec import decode, encode
from sysphase.model.profile_diff import PhaseDiff, ProgramDiff, diff
from sysphase.model.profile_stats import distinct_syscalls, stats_json
from sysphase.model.tree import NodeEnd, NodeKind, ProcessTree
from sysphase.report.profile_view import render_diff, render_process_tree, render_stats
from tests.unit.profile_samples import X86_64, count, node, sample_profile, sample_tree

ROOT = Path(__file__).resolve().parents[2]


def test_from_tree_nodes_phases_and_counts() -> None:
    p = sample_profile()
    assert (p.command, p.arch, p.runs, p.complete) == (("sh", "-c", "ls /"), X86_64, 1, True)
    assert [(n.id, n.parent, n.created, n.executable) for n in p.processes] == [
        (0, None, NodeKind.SPAWN, "/bin/sh"),
        (1, 0, NodeKind.THREAD, "/bin/sh"),
        (2, 0, NodeKind.FORK, "/bin/sh"),
        (3, 2, NodeKind.EXEC, "/usr/bin/ls"),
    ]
    assert [n.exit for n in p.processes] == ["exit 0", "killed by SIGKILL", "exec", "exit 0"]
    sh, thread, fork, ls = p.processes
    assert (sh.load_base, sh.entry) == (0x55D0_4A20_0000, 0x4760)
    assert (ls.load_base, ls.entry) == (None, None)
    assert [(ph.index, ph.name, ph.trigger) for ph in sh.phases] == [
        (0, "start", "start"),
        (1, "serve", "syscall:epoll_wait"),
    ]
    assert dict(sh.phases[0].syscalls) == {
        "openat": SyscallStat(2, 1, 2000, 0),
        "read": SyscallStat(3, 0, 3000, 0),
    }
    assert dict(sh.phases[1].syscalls) == {
        "epoll_wait": SyscallStat(5, 0, 7000, 0),
        "i386:open": SyscallStat(1, 0, 1000, 0),
        "x32:read": SyscallStat(1, 0, 1000, 0),
    }
    # a thread that started in its parent's phase and made no call keeps the phase
    assert thread.phases == (Phase(0, "serve", "syscall:epoll_wait"),)
    assert [ph.name for ph in fork.phases] == ["serve"]
    assert ls.phases[0].name == "ls" and ls.phases[0].trigger == "exec"
    assert ls.phases[0].syscalls["exit_group"] == SyscallStat(0, 0, 0, 1)


def test_from_tree_interrupted_and_stray_phase_counters() -> None:
    tree = ProcessTree(
        [node(0, 1, None, NodeKind.ATTACH, "/bin/x", ("x",), NodeEnd.RUNNING)],
        [count(0, 1, "read", 1)],
        [("start", "start"), ("late", "signal:SIGUSR2")],
    )
    p = from_tree(tree, (), X86_64, complete=False)
    assert not p.complete and p.command == ()
    assert [(ph.index, ph.name, len(ph.syscalls)) for ph in p.processes[0].phases] == [
        (0, "start", 0),
        (1, "late", 1),
    ]
    assert p.processes[0].exit == "running"


def test_from_tree_rejects_an_unknown_arch() -> None:
    with pytest.raises(ValueError, match="mips"):
        from_tree(sample_tree(), (), "mips")


# --- stats, distinct, diff, views -----------------------------------------------------------


def test_stats_json_shape() -> None:
    doc = stats_json(sample_profile())
    assert list(doc)[:2] == ["totals", "programs"]
    json.dumps(doc)
    totals: Any = doc["totals"]
    assert totals["openat"] == {"calls": 6, "errors": 3, "time_ns": 6000, "unfinished": 0}
    assert totals["i386:open"]["calls"] == 1
    programs: Any = doc["programs"]
    assert sorted(programs) == ["/bin/sh", "/usr/bin/ls"]
    sh = programs["/bin/sh"]
    assert sh["processes"] == 3
    assert sorted(sh["phases"]) == ["serve", "start"]
    assert sh["phases"]["serve"]["execve"] == {
        "calls": 1, "errors": 0, "time_ns": 1000, "unfinished": 0
    }  # fmt: skip
    assert programs["/usr/bin/ls"]["phases"]["ls"]["openat"]["errors"] == 2
    for program in programs.values():
        for phase in program["phases"].values():
            for stat in phase.values():
                assert {"calls", "errors"} <= set(stat)
    assert distinct_syscalls(sample_profile()) == {
        "/bin/sh": {"serve": 4, "start": 2},
        "/usr/bin/ls": {"ls": 2},
    }


def test_diff() -> None:
    a = sample_profile()
    tree = sample_tree()
    tree.counts[:] = [c for c in tree.counts if c.name != "epoll_wait"]
    tree.counts.append(count(0, 1, "accept4", 1))
    tree.nodes.append(node(4, 103, 0, NodeKind.FORK, "/bin/cat", ("cat",), phases=(1,)))
    tree.counts.append(count(4, 1, "read", 1))
    b = from_tree(tree, ("sh",), X86_64)
    d = diff(a, b)
    assert d.programs == (
        ProgramDiff("/bin/cat", False, True, (PhaseDiff("serve", ("read",), ()),)),
        ProgramDiff("/bin/sh", True, True, (PhaseDiff("serve", ("accept4",), ("epoll_wait",)),)),
    )
    assert render_diff(d) == (
        "/bin/cat (only in B)\n"
        "  phase serve\n"
        "    + read\n"
        "/bin/sh\n"
        "  phase serve\n"
        "    + accept4\n"
        "    - epoll_wait\n"
    )
    assert diff(a, a).empty
    assert render_diff(diff(a, a)) == "no differences in system calls per program and phase\n"


def test_render_process_tree() -> None:
    assert render_process_tree(sample_profile()) == (
        "0 /bin/sh (spawn, exit 0): start 2, serve 3\n"
        "├─ 1 /bin/sh (thread, killed by SIGKILL): serve 0\n"
        "└─ 2 /bin/sh (fork, exec): serve 1\n"
        "   └─ 3 /usr/bin/ls (exec, exit 0): ls 2\n"
    )


def test_render_stats() -> None:
    assert render_stats(sample_profile()) == (
        "profile of sh -c 'ls /'\n"
        "x86_64, 1 run, complete\n"
        "how the runs were recorded is not said (a profile from before it was)\n"
        "\n"
        "/bin/sh (2 processes, 1 thread)\n"
        "  phase start\n"
        "    syscall        calls    errors     seconds\n"
        "    read               3              0.000003\n"
        "    openat             2         1    0.000002\n"
        "    total              5         1    0.000005\n"
        "  phase serve\n"
        "    syscall        calls    errors     seconds\n"
        "    epoll_wait         5              0.000007\n"
        "    execve             1              0.000001\n"
        "    i386:open          1              0.000001\n"
        "    x32:read           1              0.000001\n"
        "    total              8              0.000010\n"
        "\n"
        "/usr/bin/ls (1 process, 0 threads)\n"
        "  phase ls\n"
        "    syscall        calls    errors     seconds\n"
        "    openat             4         2    0.000004\n"
        "    total              4         2    0.000004\n"
        "    did not return (not counted above): exit_group 1\n"
    )
    empty = Profile((), X86_64, 2, False, ())
    assert render_stats(empty) == (
        "profile of (attached)\n"
        "x86_64, 2 runs, incomplete: a recording was interrupted\n"
        "how the runs were recorded is not said (a profile from before it was)\n"
        "\n"
        "no processes\n"
    )
    assert render_process_tree(empty) == "no processes\n"


# --- the documented example ------------------------------------------------------------------


def test_the_documented_example_is_the_sample_profile() -> None:
    doc = (ROOT / "docs/formats/profile.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", doc, re.S)
    assert blocks, "docs/formats/profile.md has no json example"
    assert blocks[0] == encode(sample_profile())
    assert decode(blocks[0], "profile.md") == sample_profile()
