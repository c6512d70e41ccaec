"""Proposed phase cuts from timelines (model.phase_proposal), on hand-made runs."""

from __future__ import annotations

import dataclasses

from sysphase.model.frozen import FrozenMap
from sysphase.model.phase_proposal import MIN_DROPPED, propose
from sysphase.model.profile import Phase, ProcessNode, Profile
from sysphase.model.timeline import CallTimes, NodeTimes, PhaseBegan, Timeline
from sysphase.model.tree import NodeKind

SRV = "/usr/bin/srv"
SETUP = ["execve", "clone3", "mmap", "openat", "socket", "bind", "listen"]


def _profile(main_calls, worker_calls) -> Profile:
    nodes = (
        ProcessNode(
            0,
            None,
            NodeKind.SPAWN,
            SRV,
            (SRV,),
            None,
            None,
            "exit 0",
            (Phase(0, "start", "start", FrozenMap()),),
        ),
        ProcessNode(
            1,
            0,
            NodeKind.THREAD,
            SRV,
            (SRV,),
            None,
            None,
            "exit 0",
            (Phase(0, "start", "start", FrozenMap()),),
        ),
    )

    def times(node, calls):
        return NodeTimes(
            node,
            0,
            1000,
            (PhaseBegan("start", 0),),
            tuple(CallTimes("start", s, first, last) for s, first, last in calls),
        )

    timeline = Timeline("full", (times(0, main_calls), times(1, worker_calls)))
    return Profile((SRV,), "x86_64", 1, True, nodes, timelines=(timeline,))


# the main thread sets up until 100, then serves until 1000; a worker waits from 10
MAIN = [(s, 10 * i, 10 * i) for i, s in enumerate(SETUP)] + [
    ("epoll_wait", 100, 990),
    ("read", 120, 980),
    ("write", 130, 985),
    ("exit_group", 995, 995),
]
WORKER = [("epoll_wait", 10, 900), ("futex", 15, 950)]


def test_the_cut_drops_set_up_and_is_qualified_when_a_worker_made_the_call_first():
    (props,) = propose(_profile(MAIN, WORKER)).values()
    best = props[0]
    assert best.trigger == "syscall:epoll_wait@main"
    assert set(best.dropped) == set(SETUP)
    assert {"epoll_wait", "read", "write", "futex"} <= set(best.kept)
    assert not any(p.trigger.startswith("syscall:exit_group") for p in props)


def test_nothing_useful_is_nothing_proposed():
    short = [("execve", 0, 0), ("read", 10, 990), ("write", 20, 995)]
    assert propose(_profile(short, [])) == {}
    assert MIN_DROPPED > 2


def test_a_cut_must_hold_in_every_run():
    p = _profile(MAIN, WORKER)
    other = _profile(
        [call for call in MAIN if call[0] != "epoll_wait"] + [("poll", 100, 990)], WORKER
    )
    both = dataclasses.replace(p, runs=2, timelines=p.timelines + other.timelines)
    triggers = {x.trigger for props in propose(both).values() for x in props}
    assert not any("epoll_wait" in t for t in triggers)  # the second run never made it
