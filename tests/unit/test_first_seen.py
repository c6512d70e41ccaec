"""Where a workload first saw each call: sysphase.recording.first_seen, merge, codec, --explain."""

from __future__ import annotations

import dataclasses

import pytest

from sysphase.errors import ProfileInvalid
from sysphase.model import profile_codec
from sysphase.model.profile import FirstSeen
from sysphase.model.profile_merge import merge
from sysphase.model.tree import Count, Node, NodeEnd, NodeKind, ProcessTree
from sysphase.recording.first_seen import START, first_seen
from tests.unit.profile_samples import sample_profile

EXE = "/usr/bin/redis-server"
SOCKET, CONNECT, READ = 41, 42, 0


def _tree(counts: list[Count]) -> ProcessTree:
    root = Node(0, 100, 100, None, NodeKind.SPAWN, EXE, (EXE,), NodeEnd.EXITED, 0, 0, 0)
    child = Node(1, 101, 101, 0, NodeKind.FORK, EXE, (EXE,), NodeEnd.EXITED, 0, 0, 0)
    return ProcessTree([root, child], counts, [("start", "start"), ("serve", "syscall:epoll_wait")])


def _count(node: int, phase: int, nr: int, first: int) -> Count:
    return Count(node, phase, "x86_64", nr, 1, 0, 0, first_ns=first, last_ns=first)


STEPS = [(1000, "SET"), (2000, "MIGRATE"), (3000, "BGSAVE")]


def test_each_call_belongs_to_the_step_running_at_its_first_stop():
    tree = _tree(
        [
            _count(0, 0, READ, 500),  # before the first step: start-up
            _count(0, 1, SOCKET, 2000),  # the instant MIGRATE began
            _count(0, 1, CONNECT, 2500),
            _count(1, 1, CONNECT, 1500),  # the child, earlier: the earliest counts
            _count(0, 1, READ, 9000),
            _count(0, 1, 99, 0),  # no time: not placed
        ]
    )
    got = first_seen(tree, "x86_64", "migrate", 4, STEPS)
    by_call = {(f.phase, f.syscall): f for f in got}
    assert by_call[("start", "read")] == FirstSeen((4, 0), EXE, "start", "read", "migrate", START)
    socket = by_call[("serve", "socket")]
    assert socket.step == "MIGRATE" and socket.order == (4, 2)
    assert by_call[("serve", "connect")].step == "SET"  # the child's call at 1500
    assert by_call[("serve", "read")].step == "BGSAVE"
    assert ("serve", "getuid") not in by_call and len(got) == 4
    assert list(got) == sorted(got, key=lambda f: (f.program, f.phase, f.syscall))


def test_a_scenario_without_steps_names_only_itself():
    got = first_seen(_tree([_count(0, 0, READ, 5)]), "x86_64", "option-l", 7, [])
    assert got == (FirstSeen((7, 0), EXE, "start", "read", "option-l", ""),)


def test_merge_keeps_the_earliest_whatever_the_order():
    base = sample_profile()
    early = FirstSeen((1, 3), EXE, "serve", "connect", "replica-of", "REPLICAOF")
    late = FirstSeen((5, 1), EXE, "serve", "connect", "migrate", "MIGRATE")
    other = FirstSeen((5, 2), EXE, "serve", "poll", "migrate", "MIGRATE")
    a = dataclasses.replace(base, first_seen=(late, other))
    b = dataclasses.replace(base, first_seen=(early,))
    assert merge(a, b).first_seen == merge(b, a).first_seen == (early, other)


def test_codec_round_trip_and_strict_decoding():
    seen = (FirstSeen((0, 2), EXE, "serve", "connect", "migrate", "MIGRATE"),)
    p = dataclasses.replace(sample_profile(), first_seen=seen)
    text = profile_codec.encode(p)
    assert profile_codec.decode(text, "p.json") == p
    assert '"first_seen"' not in profile_codec.encode(sample_profile())  # only when not empty
    bad = text.replace(
        '"order": [\n        0,\n        2\n      ]', '"order": [\n        0\n      ]'
    )
    assert bad != text
    with pytest.raises(ProfileInvalid, match=r"first_seen\[0\]\.order"):
        profile_codec.decode(bad, "p.json")
