"""Scale (issue 7): 10,000 short-lived processes, a fork chain 1,000 deep, 1,000 execs.

The `scale` fixture gives process k exactly m(k) = 1 + k % 4 getppid calls
and e(k) = k % 3 failing fchdir(-1) calls, so a call charged to the wrong
process changes two exact counts. Every test checks the number of nodes,
their kinds and parent links, and each node's own counts. (1,000 threads:
test_counts.py::test_thousand_threads.)

About 15 s in all on a 2-CPU VM, most of it in the kernel: fork in a deep
chain costs time proportional to the depth (anon_vma chains), natively too.
"""

from __future__ import annotations

import collections

from sysphase._host.tracer import TraceResult, trace_command
from sysphase.model.tree import NodeEnd, NodeKind
from tests.conftest import TRACEE_ENV


def m(k: int) -> int:
    return 1 + k % 4


def e(k: int) -> int:
    return k % 3


def run(*argv: str) -> TraceResult:
    return trace_command(list(argv), env=TRACEE_ENV)


def per_node(result: TraceResult) -> dict[int, dict[str, tuple[int, int]]]:
    """{node: {syscall: (calls, errors)}} for the x86_64 counters."""
    out: dict[int, dict[str, tuple[int, int]]] = collections.defaultdict(dict)
    for c in result.tree.counts:
        if c.arch == "x86_64" and c.calls:
            calls, errors = out[c.node].get(c.name, (0, 0))
            out[c.node][c.name] = (calls + c.calls, errors + c.errors)
    return out


def markers(counts: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """(getppid calls, failed fchdir calls); fchdir never succeeds here."""
    getppid, getppid_errors = counts.get("getppid", (0, 0))
    fchdir, fchdir_errors = counts.get("fchdir", (0, 0))
    assert getppid_errors == 0 and fchdir == fchdir_errors
    return getppid, fchdir


def test_ten_thousand_short_lived_processes(fx):
    n = 10_000
    r = run(fx["scale"], "procs", str(n), "16")
    assert r.exit_status == 0
    nodes = r.tree.nodes
    assert len(nodes) == n + 1
    root = nodes[0]
    assert root.kind is NodeKind.SPAWN and root.parent is None
    children = nodes[1:]
    assert all(c.kind is NodeKind.FORK and c.parent == 0 for c in children)
    assert all(c.end is NodeEnd.EXITED and c.end_value == 0 for c in children)
    assert len({c.pid for c in children} | {root.pid}) == n + 1  # pids are not reused while alive
    counts = per_node(r)
    assert markers(counts.get(0, {})) == (0, 0)  # the parent makes none
    clone_calls, clone_errors = counts[0]["clone"]
    assert clone_calls - clone_errors == n  # a fork interrupted by SIGCHLD is restarted
    # the parent forks child k k-th, so its node is k+1: every child's own markers
    assert [markers(counts[c.index]) for c in children] == [(m(k), e(k)) for k in range(n)]
    total = collections.Counter()
    for node_counts in counts.values():
        for name in ("getppid", "fchdir"):
            total[name] += node_counts.get(name, (0, 0))[0]
    assert total == {"getppid": sum(map(m, range(n))), "fchdir": sum(map(e, range(n)))}


def test_fork_chain_a_thousand_deep(fx):
    depth = 1000
    r = run(fx["scale"], "chain", str(depth))
    assert r.exit_status == 0
    nodes = r.tree.nodes
    assert len(nodes) == depth
    assert nodes[0].kind is NodeKind.SPAWN
    # walk the chain from the root by parent links: one child per level
    level = [nodes[0]]
    while level[-1].children:
        (child,) = level[-1].children
        level.append(nodes[child])
    assert len(level) == depth
    assert all(n.kind is NodeKind.FORK for n in level[1:])
    assert all(n.end is NodeEnd.EXITED and n.end_value == 0 for n in level)
    assert max(d for d, _ in r.tree.walk()) == depth - 1
    counts = per_node(r)
    assert [markers(counts.get(n.index, {})) for n in level] == [(m(k), e(k)) for k in range(depth)]
    forks = [counts.get(n.index, {}).get("clone", (0, 0)) for n in level]
    assert [calls - errors for calls, errors in forks] == [1] * (depth - 1) + [0]


def test_a_thousand_execs(fx):
    count = 1000
    r = run(fx["scale"], "exec", str(count))
    assert r.exit_status == 0
    nodes = r.tree.nodes
    assert len(nodes) == count + 1
    assert nodes[0].kind is NodeKind.SPAWN
    assert [n.kind for n in nodes[1:]] == [NodeKind.EXEC] * count
    # each image is the child of the one that exec'd it, all in one process
    assert [n.parent for n in nodes] == [None, *range(count)]
    assert len({n.pid for n in nodes}) == 1
    assert [n.argv[2:] for n in nodes[1:]] == [
        (str(count - k), str(k)) for k in range(1, count + 1)
    ]
    assert all(n.end is NodeEnd.EXEC for n in nodes[:-1])
    assert nodes[-1].end is NodeEnd.EXITED and nodes[-1].end_value == 0
    counts = per_node(r)
    assert [markers(counts.get(n.index, {})) for n in nodes] == [
        (m(k), e(k)) for k in range(count + 1)
    ]
    # execve is charged to the image that called it (the first one: the spawn's own exec too)
    execve = {n: c["execve"][0] for n, c in counts.items() if "execve" in c}
    assert sum(execve.values()) == count + 1
    assert all(execve.get(n.index, 0) >= 1 for n in nodes[:-1])
