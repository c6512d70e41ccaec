"""Trigger qualifiers (``@main``, ``,after=CALL``) and record's warnings about triggers."""

from __future__ import annotations

import pytest

from sysphase.errors import UsageError
from sysphase.model.phases import parse_trigger, trigger_call, trigger_problem
from sysphase.model.tree import Count, Node, NodeEnd, NodeKind, ProcessTree
from sysphase.model.trigger_warnings import trigger_warnings


def test_qualifiers_parse_and_print_back() -> None:
    t = parse_trigger("serve=syscall:epoll_wait@main,after=listen")
    assert (t.value, t.main_only, t.after) == ("epoll_wait", True, "listen")
    assert t.spec == "syscall:epoll_wait@main,after=listen"
    assert parse_trigger("s=syscall:accept4@main").spec == "syscall:accept4@main"
    assert parse_trigger("s=syscall:accept4,after=bind").spec == "syscall:accept4,after=bind"
    assert trigger_call("syscall:epoll_wait@main,after=listen") == "epoll_wait"
    assert trigger_call("symbol:main") is None
    assert trigger_problem("syscall:epoll_wait@main,after=listen", "x86_64") is None


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("s=syscall:epoll_wait@worker", "@worker: the only thread"),
        ("s=syscall:epoll_wait,before=listen", "'before=listen': the only option"),
        ("s=syscall:epoll_wait,after=listen,after=bind", "the only option is after=SYSCALL"),
        ("s=syscall:epoll_wait,after=nope", "after=nope: unknown syscall"),
        ("s=addr:0x10@main", "go with syscall: triggers"),
    ],
)
def test_bad_qualifiers_are_one_sentence(spec: str, words: str) -> None:
    with pytest.raises(UsageError, match=words):
        parse_trigger(spec)


def test_a_stored_trigger_with_a_bad_qualifier_is_a_problem() -> None:
    problem = trigger_problem("syscall:epoll_wait@worker", "x86_64")
    assert problem is not None and "@worker" in problem


def _node(i: int, pid: int, kind: NodeKind, phases: list[int]) -> Node:
    return Node(
        i, pid, 100, None if i == 0 else 0, kind, "/srv/x", ("x",), NodeEnd.EXITED, 0, 0, 0,
        phases=phases,
    )  # fmt: skip


def _tree(counts: list[Count]) -> ProcessTree:
    nodes = [_node(0, 100, NodeKind.SPAWN, [0, 1]), _node(1, 101, NodeKind.THREAD, [0, 1])]
    return ProcessTree(nodes, counts, [("start", "start"), ("serve", "syscall:epoll_wait")], [])


def test_a_trigger_fired_in_a_worker_before_listen_gets_both_warnings() -> None:
    listen = Count(0, 1, "x86_64", 50, 1, 0, 0, 0, 0)  # listen, in serve, by the main thread
    warnings = trigger_warnings(_tree([listen]), [(1, 1)])
    assert len(warnings) == 2
    assert "started in thread 101, not the main thread: syscall:epoll_wait@main" in warnings[0]
    assert "called listen, so serve allows listen: syscall:epoll_wait,after=listen" in (warnings[1])


def test_a_trigger_fired_in_the_main_thread_after_listen_is_quiet() -> None:
    listen = Count(0, 0, "x86_64", 50, 1, 0, 0, 0, 0)  # listen, before serve
    assert trigger_warnings(_tree([listen]), [(0, 1)]) == []
