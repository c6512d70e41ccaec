"""Timelines: one per run, in ns from the run's start, kept apart by merge (model.timeline)."""

from __future__ import annotations

import dataclasses

from sysphase.model import profile_codec
from sysphase.model.profile_merge import merge, merge_all
from sysphase.model.timeline import LIMIT, CallTimes, NodeTimes, PhaseBegan, Timeline, of_tree
from sysphase.model.tree import Count, Node, NodeEnd, NodeKind, ProcessTree
from tests.unit.profile_samples import sample_profile

SH, LS = "/bin/sh", "/usr/bin/ls"


def _tree() -> ProcessTree:
    root = Node(0, 10, 10, None, NodeKind.SPAWN, SH, (SH,), NodeEnd.EXITED, 0, 1000, 9000)
    root.phases, root.phase_ns = [0, 1], [1000, 5000]
    child = Node(1, 11, 11, 0, NodeKind.FORK, SH, (SH,), NodeEnd.EXITED, 0, 2000, 0)
    child.phases, child.phase_ns = [0], [2000]
    counts = [
        Count(0, 0, "x86_64", 0, 3, 0, 0, first_ns=1100, last_ns=4000),  # read
        Count(0, 1, "x86_64", 0, 1, 0, 0, first_ns=6000, last_ns=6000),
        Count(1, 0, "i386", 3, 1, 0, 0, first_ns=2500, last_ns=2600),  # i386 read
        Count(1, 0, "x86_64", 39, 1, 0, 0),  # no time: left out
    ]
    return ProcessTree([root, child], counts, [("start", "start"), ("serve", "syscall:read")])


def test_a_run_becomes_ns_from_its_start_per_node_phase_and_call():
    t = of_tree(_tree(), "x86_64", "full")
    assert t.mode == "full"
    root, child = t.nodes
    assert (root.node, root.start_ns, root.end_ns) == (0, 0, 8000)
    assert root.phases == (PhaseBegan("start", 0), PhaseBegan("serve", 4000))
    assert root.calls == (
        CallTimes("serve", "read", 5000, 5000),
        CallTimes("start", "read", 100, 3000),
    )
    assert (child.start_ns, child.end_ns) == (1000, None)  # still running: no end
    assert child.calls == (CallTimes("start", "i386:read", 1500, 1600),)


def _with_timeline(timeline: Timeline, runs: int = 1):
    return dataclasses.replace(sample_profile(), runs=runs, timelines=(timeline,))


def test_merge_keeps_runs_apart_and_renumbers_nodes_in_any_order():
    a = _with_timeline(Timeline("full", (NodeTimes(0, 0, 10, (), ()), NodeTimes(2, 5, 7, (), ()))))
    b = _with_timeline(Timeline("sets", (NodeTimes(0, 0, 99, (), ()),)))
    merged = merge(a, b)
    assert merged.timelines == merge(b, a).timelines
    assert [t.mode for t in merged.timelines] == ["full", "sets"]
    # node ids are the merged profile's: the same node of each run has the same id
    ids = {n.node for t in merged.timelines for n in t.nodes}
    assert ids <= {p.id for p in merged.processes}
    assert profile_codec.decode(profile_codec.encode(merged), "m.json") == merged


def test_at_most_limit_timelines_are_kept():
    runs = [
        _with_timeline(Timeline("full", (NodeTimes(0, 0, k, (), ()),))) for k in range(LIMIT + 5)
    ]
    merged = merge_all(runs)
    assert len(merged.timelines) == LIMIT
    assert [t.nodes[0].end_ns for t in merged.timelines] == list(range(LIMIT))
