"""The eBPF backend on the real kernel: counts equal the ptrace backend's and strace's.

Needs root (CAP_BPF and CAP_PERFMON), clang, libbpf and a kernel with BTF;
skips with the reason on a developer machine without them, fails in CI.
"""

from __future__ import annotations

import collections
import os
import subprocess
import time

import pytest

from sysphase._host import ebpf, seccomp, tracer
from sysphase._host.tracer import TraceResult
from sysphase.errors import BackendUnavailable, ProgramNotFound
from sysphase.model import syscalls
from sysphase.model.tree import NodeEnd, NodeKind, totals
from tests.conftest import TRACEE_ENV, need_ebpf, strace_counts

#: calls whose number depends on timing (thread barriers, lock contention)
RACY = {"futex"}


@pytest.fixture(scope="module", autouse=True)
def _ebpf_available() -> None:
    need_ebpf()


def run(*argv: str) -> TraceResult:
    return ebpf.trace_command(list(argv), env=TRACEE_ENV)


def table(result: TraceResult) -> dict[tuple[str, str], tuple[int, int, int]]:
    """{(arch, name): (calls, errors, unfinished)}, racy calls left out."""
    return {
        (t.arch, t.name): (t.calls, t.errors, t.unfinished)
        for t in totals(result.tree.counts)
        if t.name not in RACY
    }


def per_node(result: TraceResult, name: str) -> dict[int, int]:
    out: dict[int, int] = collections.Counter()
    for c in result.tree.counts:
        if c.name == name:
            out[c.node] += c.calls
    return dict(out)


def test_markers_exact(fx):
    r = run(fx["markers"], "1000", "250")
    t = table(r)
    assert t[("x86_64", "getppid")] == (1000, 0, 0)
    assert t[("x86_64", "fchdir")] == (250, 250, 0)
    assert t[("x86_64", "exit_group")] == (0, 0, 1)
    assert t[("x86_64", "execve")] == (1, 0, 0)
    assert r.exit_status == 0
    [root] = r.tree.nodes
    assert root.kind is NodeKind.SPAWN and root.end is NodeEnd.EXITED
    assert root.exe == os.path.realpath(fx["markers"])
    assert root.argv == (fx["markers"], "1000", "250")
    assert all(c.time_ns == 0 for c in r.tree.counts)  # not measured


FIXTURE_RUNS = [
    ("markers", "5", "3"),
    ("markers", "0", "0"),
    ("forks", "fork", "4", "10"),
    ("forks", "vfork", "4", "10"),
    ("threads", "8", "100"),
    ("int80",),
    ("x32",),
    ("signals", "50"),
    ("exit_signal", "15"),
    ("exit_signal", "9"),
    ("exit_signal", "code", "42"),
    ("manythreads", "100", "3"),
]


@pytest.mark.parametrize("args", FIXTURE_RUNS, ids=" ".join)
def test_same_counts_as_the_ptrace_backend(fx, args):
    argv = [fx[args[0]], *args[1:]]
    e = run(*argv)
    p = tracer.trace_command(argv, env=TRACEE_ENV)
    assert table(e) == table(p)
    assert e.exit_status == p.exit_status
    shape = lambda r: sorted((n.kind.value, n.exe, n.end.value, n.end_value) for n in r.tree.nodes)  # noqa: E731
    assert shape(e) == shape(p)


@pytest.mark.parametrize(
    "args",
    [
        ("markers", "5", "3"),
        ("forks", "vfork", "3", "2"),
        ("int80",),
        ("signals", "20"),
    ],
    ids=" ".join,
)
def test_same_calls_and_errors_as_strace(fx, args):
    argv = [fx[args[0]], *args[1:]]
    ours = {k: v[:2] for k, v in table(run(*argv)).items() if v[0]}
    theirs = {k: v for k, v in strace_counts(argv).items() if k[1] not in RACY}
    assert ours == theirs


def test_i386_calls_are_told_apart(fx):
    t = table(run(fx["int80"]))
    assert t[("i386", "getppid")] == (1, 0, 0)
    assert t[("i386", "fchdir")] == (1, 1, 0)
    assert t[("i386", "getpid")] == (1, 0, 0)
    assert t[("x86_64", "getpid")] == (1, 0, 0)


def test_x32_call_keeps_its_abi(fx):
    t = table(run(fx["x32"]))
    assert t[("x32", "getpid")] == (1, 1, 0)


def test_threads_and_forks_are_nodes(fx):
    r = run(fx["threads"], "4", "50")
    threads = [n for n in r.tree.nodes if n.kind is NodeKind.THREAD]
    assert len(threads) == 4
    assert all(n.parent == 0 and n.tgid == r.tree.nodes[0].pid for n in threads)
    assert per_node(r, "getppid") == {n.index: 50 for n in threads}

    r = run(fx["forks"], "fork", "3", "7")
    assert [n.kind for n in r.tree.nodes] == [NodeKind.SPAWN] + [NodeKind.FORK] * 3
    assert [n.parent for n in r.tree.nodes] == [None, 0, 1, 2]
    assert per_node(r, "getppid") == {i: 7 for i in range(4)}


def test_followed_through_fork_and_exec(fx):
    m = fx["markers"]
    r = run("sh", "-c", f"{m} 3 1; {m} 4 2")
    t = table(r)
    assert t[("x86_64", "fchdir")] == (3, 3, 0)
    assert t[("x86_64", "execve")] == (3, 0, 0)
    assert t == table(tracer.trace_command(["sh", "-c", f"{m} 3 1; {m} 4 2"], env=TRACEE_ENV))
    execs = [n for n in r.tree.nodes if n.kind is NodeKind.EXEC]
    assert [n.exe for n in execs] == [os.path.realpath(m)] * 2
    assert [n.argv for n in execs] == [(m, "3", "1"), (m, "4", "2")]
    for n in execs:
        parent = r.tree.nodes[n.parent]
        assert parent.kind in (NodeKind.FORK, NodeKind.VFORK) and parent.end is NodeEnd.EXEC
        assert r.tree.nodes[parent.parent].kind is NodeKind.SPAWN
        assert r.tree.phase_names[n.phases[0]] == ("markers", "exec")
    calls = per_node(r, "getppid")  # dash makes one of its own
    assert (calls[execs[0].index], calls[execs[1].index]) == (3, 4)
    # the successful execve is charged to the process that made it, as ptrace does
    execve = {c.node for c in r.tree.counts if c.name == "execve"}
    assert execve == {0} | {n.parent for n in execs}


def test_exec_from_a_thread(fx):
    """Markers and execve are exact; how far the exiting thread got (rt_sigprocmask) is racy."""
    r = run(fx["exec_thread"], "7", fx["markers"], "3")
    p = tracer.trace_command([fx["exec_thread"], "7", fx["markers"], "3"], env=TRACEE_ENV)
    exact = ("getppid", "fchdir", "execve", "clone3")
    pick = lambda res: {k: v for k, v in table(res).items() if k[1] in exact}  # noqa: E731
    assert pick(r) == pick(p)
    assert pick(r)[("x86_64", "getppid")] == (10, 0, 0)
    ends = sorted(n.end.value for n in r.tree.nodes)
    assert ends == sorted(n.end.value for n in p.tree.nodes)


def test_processes_outside_the_tree_are_not_counted(fx):
    other = subprocess.Popen([fx["loop"], "100000000"], env=TRACEE_ENV)
    try:
        time.sleep(0.05)
        t = table(run(fx["markers"], "5", "0"))
    finally:
        other.kill()
        other.wait()
    assert t[("x86_64", "getppid")] == (5, 0, 0)


def test_seccomp_errno_denials_reach_sys_exit(fx, tmp_path):
    """A filter's ERRNO denial skips sys_enter but not sys_exit: counted as errors, as ptrace."""
    names = [n for n in syscalls.names("x86_64") if n not in ("getppid", "fchdir")]
    bpf = tmp_path / "deny.bpf"
    bpf.write_bytes(seccomp.compile_filter({n: [] for n in names}, "errno"))
    argv = [fx["sandboxed"], str(bpf), fx["markers"], "5", "3"]
    r = run(*argv)
    t = table(r)
    assert t[("x86_64", "getppid")] == (5, 5, 0)
    assert t[("x86_64", "fchdir")] == (3, 3, 0)
    assert t == table(tracer.trace_command(argv, env=TRACEE_ENV))


def test_missing_program():
    with pytest.raises(ProgramNotFound):
        run("/nonexistent/program")


def test_maps_start_empty_each_run(fx):
    a = table(run(fx["markers"], "2", "0"))
    b = table(run(fx["markers"], "2", "0"))
    assert a == b
    assert a[("x86_64", "getppid")] == (2, 0, 0)


def test_descendants_that_outlive_the_program_are_waited_for(fx):
    m = fx["markers"]
    r = run("sh", "-c", f"(sleep 0.2; {m} 2 0) & exit 3")
    assert r.exit_status == 3
    [markers] = [n for n in r.tree.nodes if n.exe == os.path.realpath(m)]
    assert markers.end is NodeEnd.EXITED and markers.end_value == 0
    assert per_node(r, "getppid")[markers.index] == 2


def test_missing_compiler_is_one_sentence(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # nothing cached
    monkeypatch.setattr(ebpf.shutil, "which", lambda _name: None)
    with pytest.raises(BackendUnavailable) as err:
        ebpf.object_path()
    assert str(err.value) == (
        "the eBPF backend needs clang to build its BPF program (apt-get install clang libbpf-dev)"
    )
