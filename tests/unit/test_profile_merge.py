"""Merging profiles: commutative, associative, by tree path (never pid), node fields."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from sysphase.errors import UsageError
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Phase, ProcessNode, Profile, SyscallStat
from sysphase.model.profile_build import from_tree
from sysphase.model.profile_codec import decode, encode
from sysphase.model.profile_merge import merge, merge_all
from sysphase.model.profile_stats import stats_json
from sysphase.model.tree import NodeEnd, NodeKind, ProcessTree
from tests.unit.profile_samples import X86_64, count, mergeable, node, sample_profile


def _total_calls(p: Profile) -> dict[str, int]:
    totals = stats_json(p)["totals"]
    assert isinstance(totals, dict)
    return {k: v["calls"] for k, v in totals.items()}


@settings(max_examples=150)
@given(mergeable, mergeable)
def test_merge_is_commutative(a: Profile, b: Profile) -> None:
    assert merge(a, b) == merge(b, a)


@settings(max_examples=150)
@given(mergeable, mergeable, mergeable)
def test_merge_is_associative(a: Profile, b: Profile, c: Profile) -> None:
    assert merge(merge(a, b), c) == merge(a, merge(b, c)) == merge_all([a, b, c])


@settings(max_examples=100)
@given(mergeable, mergeable)
def test_merge_adds_counts_and_runs_and_stays_valid(a: Profile, b: Profile) -> None:
    m = merge(a, b)
    assert m.runs == a.runs + b.runs
    assert m.complete == (a.complete and b.complete)
    calls_a, calls_b = _total_calls(a), _total_calls(b)
    assert _total_calls(m) == {
        k: calls_a.get(k, 0) + calls_b.get(k, 0) for k in calls_a.keys() | calls_b.keys()
    }
    assert len(m.processes) <= len(a.processes) + len(b.processes)
    assert len(m.processes) >= max(len(a.processes), len(b.processes))
    assert decode(encode(m), "m.json") == m
    # canonical order: merging a merged profile with nothing changes nothing
    assert merge_all([m]) == m


def test_merge_never_matches_by_pid() -> None:
    sh = ("sh", "-c", "ls &")
    tree_a = ProcessTree(
        [
            node(0, 100, None, NodeKind.SPAWN, "/bin/sh", sh),
            node(1, 101, 0, NodeKind.FORK, "/bin/sh", sh, NodeEnd.EXEC),
            node(2, 101, 1, NodeKind.EXEC, "/usr/bin/ls", ("ls",)),
            node(3, 102, 0, NodeKind.THREAD, "/bin/sh", sh),
        ],
        [count(2, 0, "openat", 3), count(3, 0, "futex", 1)],
    )
    # the other run: other pids, the thread first, and the thread has ls's old pid
    tree_b = ProcessTree(
        [
            node(0, 500, None, NodeKind.SPAWN, "/bin/sh", sh),
            node(1, 101, 0, NodeKind.THREAD, "/bin/sh", sh),
            node(2, 502, 0, NodeKind.FORK, "/bin/sh", sh, NodeEnd.EXEC),
            node(3, 502, 2, NodeKind.EXEC, "/usr/bin/ls", ("ls",)),
        ],
        [count(3, 0, "openat", 4), count(3, 0, "write", 1), count(1, 0, "futex", 2)],
    )
    a = from_tree(tree_a, sh, X86_64)
    b = from_tree(tree_b, sh, X86_64)
    m = merge(a, b)
    assert [(n.id, n.parent, n.created.value, n.executable) for n in m.processes] == [
        (0, None, "spawn", "/bin/sh"),
        (1, 0, "fork", "/bin/sh"),
        (2, 1, "exec", "/usr/bin/ls"),
        (3, 0, "thread", "/bin/sh"),
    ]
    assert dict(m.processes[2].phases[0].syscalls) == {
        "openat": SyscallStat(7, 0, 7000, 0),
        "write": SyscallStat(1, 0, 1000, 0),
    }
    assert dict(m.processes[3].phases[0].syscalls) == {"futex": SyscallStat(3, 0, 3000, 0)}
    assert m.runs == 2


def test_merge_node_fields() -> None:
    def one(argv: tuple[str, ...], base: int | None, exit_: str | None, trigger: str) -> Profile:
        phase = Phase(0, "start", trigger, FrozenMap({"read": SyscallStat(1, 0, 5, 0)}),
                      FrozenMap({"read": FrozenMap({"0": (3,)})}))  # fmt: skip
        n = ProcessNode(0, None, NodeKind.SPAWN, "/bin/x", argv, base, 0x10, exit_, (phase,))
        return Profile(argv, X86_64, 1, True, (n,))

    a = one(("x", "-b"), 0x1000, "exit 0", "start")
    b = one(("x", "-a"), 0x2000, "exit 0", "marker")
    m = merge(a, b)
    (n,) = m.processes
    assert (n.argv, n.load_base, n.entry, n.exit) == (("x", "-a"), None, 0x10, "exit 0")
    assert m.command == ("x", "-a")
    assert n.phases[0].trigger == "marker"
    assert n.phases[0].syscalls["read"] == SyscallStat(2, 0, 10, 0)
    c = Profile((), X86_64, 1, False, (
        ProcessNode(0, None, NodeKind.SPAWN, "/bin/x", ("x",), None, 0x10, "exit 1", (
            Phase(0, "start", "start", FrozenMap({"write": SyscallStat(1)}),
                  FrozenMap({"write": FrozenMap({"0": (1,)})})),
            Phase(1, "serve", "marker"),
        )),
    ))  # fmt: skip
    m3 = merge(m, c)
    (n,) = m3.processes
    assert (n.load_base, n.entry, n.exit, m3.complete) == (None, 0x10, None, False)
    assert [(p.index, p.name) for p in n.phases] == [(0, "start"), (1, "serve")]
    assert n.phases[0].arg_values == {"read": {"0": (3,)}, "write": {"0": (1,)}}


def test_merging_different_architectures_is_an_error() -> None:
    a = sample_profile()
    b = Profile(("x",), "aarch64", 1, True, ())
    with pytest.raises(UsageError, match=r"different architectures \(x86_64 and aarch64\)"):
        merge(a, b)
    with pytest.raises(UsageError, match="nothing to merge"):
        merge_all([])


def test_phase_indexes_can_repeat_after_a_merge() -> None:
    def one(name: str) -> Profile:
        ph = (Phase(0, "start", "start"), Phase(1, name, "marker"))
        n = ProcessNode(0, None, NodeKind.SPAWN, "/bin/x", ("x",), None, None, None, ph)
        return Profile(("x",), X86_64, 1, True, (n,))

    m = merge(one("serve"), one("idle"))
    assert [(p.index, p.name) for p in m.processes[0].phases] == [
        (0, "start"),
        (1, "idle"),
        (1, "serve"),
    ]
    assert decode(encode(m), "m") == m
