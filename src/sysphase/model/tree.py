"""The process tree of one traced run, and its per-syscall counters.

A node is one program image of one task: a process or a thread from its
creation (or an exec) to its end (or its next exec). An exec therefore makes a
new node whose parent is the node that called execve. Counters are keyed by
(node, phase, arch, syscall number) exactly as the C core keeps them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum

from sysphase.model import syscalls
from sysphase.model.file_access import Access


class NodeKind(Enum):
    """How a node came to be (the C core's KIND_* codes, in order)."""

    SPAWN = "spawn"
    ATTACH = "attach"
    FORK = "fork"
    VFORK = "vfork"
    CLONE = "clone"
    THREAD = "thread"
    EXEC = "exec"


class NodeEnd(Enum):
    """How a node ended (the C core's END_* codes, in order)."""

    RUNNING = "running"
    EXITED = "exited"
    SIGNALED = "killed"
    EXEC = "exec"
    DETACHED = "detached"
    VANISHED = "vanished"


KIND_BY_CODE = tuple(NodeKind)
END_BY_CODE = tuple(NodeEnd)


@dataclass(frozen=True, slots=True)
class Count:
    """Calls of one syscall in one node and phase."""

    node: int
    phase: int
    arch: str
    nr: int
    calls: int
    errors: int
    time_ns: int
    unfinished: int = 0
    #: calls another thread was in when the process entered this phase (see SyscallStat)
    in_flight: int = 0
    #: CLOCK_MONOTONIC ns of the first and the latest stop that counted it (0: unknown)
    first_ns: int = 0
    last_ns: int = 0

    @property
    def name(self) -> str:
        return syscalls.name(self.arch, self.nr)


@dataclass(frozen=True, slots=True)
class ArgValue:
    """Argument `arg` of syscall (arch, nr) had `value` in this node and phase."""

    node: int
    phase: int
    arch: str
    nr: int
    arg: int
    value: int


@dataclass(slots=True)
class Node:
    """One program image of one task (see the module docstring)."""

    index: int
    pid: int
    tgid: int
    parent: int | None
    kind: NodeKind
    exe: str
    argv: tuple[str, ...]
    end: NodeEnd
    end_value: int
    start_ns: int
    end_ns: int
    children: list[int] = field(default_factory=list)
    #: phase ids (indexes into ProcessTree.phase_names) in the order this node entered them
    phases: list[int] = field(default_factory=lambda: [0])
    #: CLOCK_MONOTONIC ns at which it entered each of ``phases`` (empty: unknown)
    phase_ns: list[int] = field(default_factory=list)
    #: load base and entry point of the executable image (absolute addresses), 0 if unknown
    load_base: int = 0
    entry: int = 0
    #: under enforcement: the syscall number the node was in when it died (a seccomp kill's cause)
    exit_nr: int | None = None
    exit_arch: str = "x86_64"
    #: the executable's GNU build-id (lower-case hex), "" if it has none
    build_id: str = ""

    @property
    def is_thread(self) -> bool:
        return self.kind is NodeKind.THREAD

    def describe_end(self) -> str:
        """'exit 0', 'killed by SIGKILL', 'exec', ... for tree views."""
        if self.end is NodeEnd.EXITED:
            return f"exit {self.end_value}"
        if self.end is NodeEnd.SIGNALED:
            return f"killed by {syscalls.signal_name(self.end_value)}"
        return str(self.end.value)


@dataclass(slots=True)
class ProcessTree:
    """Nodes in creation order; roots are those without a parent."""

    nodes: list[Node]
    counts: list[Count]
    #: phase id -> (name, trigger); id 0 is "start" (trigger "start")
    phase_names: list[tuple[str, str]] = field(default_factory=lambda: [("start", "start")])
    #: distinct values of watched arguments (model.arg_watch)
    arg_values: list[ArgValue] = field(default_factory=list)
    #: paths and ports the calls touched (``record --paths``; model.file_access)
    accesses: list[Access] = field(default_factory=list)
    #: distinct accesses the core could not keep (its table was full)
    accesses_dropped: int = 0

    def __post_init__(self) -> None:
        for n in self.nodes:
            if n.parent is not None:
                self.nodes[n.parent].children.append(n.index)

    def roots(self) -> list[Node]:
        return [n for n in self.nodes if n.parent is None]

    def walk(self) -> Iterator[tuple[int, Node]]:
        """Depth-first (depth, node) pairs, children in creation order."""
        stack = [(0, n) for n in reversed(self.roots())]
        while stack:
            depth, node = stack.pop()
            yield depth, node
            stack.extend((depth + 1, self.nodes[c]) for c in reversed(node.children))

    def counts_of(self, node: int) -> list[Count]:
        return [c for c in self.counts if c.node == node]


@dataclass(frozen=True, slots=True)
class SyscallTotal:
    """One row of a summary: a syscall's totals over a set of counters."""

    arch: str
    name: str
    calls: int
    errors: int
    time_ns: int
    unfinished: int


def totals(counts: Iterable[Count]) -> list[SyscallTotal]:
    """Sum counters per (arch, syscall name), sorted by time then calls, like strace -c."""
    acc: dict[tuple[str, str], list[int]] = {}
    for c in counts:
        row = acc.setdefault((c.arch, c.name), [0, 0, 0, 0])
        row[0] += c.calls
        row[1] += c.errors
        row[2] += c.time_ns
        row[3] += c.unfinished
    rows = [SyscallTotal(a, n, v[0], v[1], v[2], v[3]) for (a, n), v in acc.items()]
    rows.sort(key=lambda r: (-r.time_ns, -r.calls, r.arch, r.name))
    return rows
