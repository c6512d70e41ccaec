"""Triggers that fired where the operator most likely did not mean them to.

``--phase serve=syscall:epoll_wait`` on a multi-threaded server can fire when
a worker thread first waits, before the main thread has called ``listen``:
the serving phase then keeps ``socket``, ``bind`` and ``listen``, and nothing
said so. After a recording, :func:`trigger_warnings` names each trigger that
fired in a thread other than its process's main thread, and each that fired
before the process called ``listen`` or ``bind`` (made in the trigger's phase
or a later one), with the qualifier that fixes it (``@main``,
``,after=listen``; sysphase.model.phases). One sentence each. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sysphase.errors import UsageError
from sysphase.model import syscalls
from sysphase.model.phases import parse_trigger
from sysphase.model.tree import Node, NodeKind, ProcessTree

__all__ = ["SETUP_CALLS", "trigger_warnings"]

#: calls a server makes to set up what it serves: a phase that serves should follow them
SETUP_CALLS = ("listen", "bind")


def trigger_warnings(tree: ProcessTree, fires: Sequence[tuple[int, int]]) -> list[str]:
    """One line per surprising trigger: FIRES holds (node of the firing thread, phase id)."""
    out: list[str] = []
    for node_id, phase in fires:
        node = tree.nodes[node_id]
        name, trigger = tree.phase_names[phase]
        process = [n for n in tree.nodes if n.tgid == node.tgid and n.exe == node.exe]
        where = f"phase {name} ({trigger}) of {node.exe or '?'} (process {node.tgid})"
        if node.kind is NodeKind.THREAD:
            out.append(
                f"sysphase: warning: {where} started in thread {node.pid}, not the main "
                f"thread: {_qualified(trigger, main=True)} counts the main thread's call only"
            )
        later = _phases_from(process, phase)
        ids = {n.index for n in process}
        made = sorted(
            {syscalls.name(c.arch, c.nr) for c in tree.counts
             if c.calls and c.phase in later and c.node in ids}
            & set(SETUP_CALLS)
        )  # fmt: skip
        if made:
            call = made[-1]  # listen if both: it comes after bind
            out.append(
                f"sysphase: warning: {where} started before the process called {call}, "
                f"so {name} allows {' and '.join(made)}: {_qualified(trigger, after=call)} "
                "waits for it"
            )
    return out


def _qualified(trigger: str, main: bool = False, after: str = "") -> str:
    """TRIGGER with @main or after=CALL added (as typed after NAME=)."""
    try:
        parsed = parse_trigger(f"x={trigger}")
    except UsageError:
        return trigger
    return replace(parsed, main_only=parsed.main_only or main, after=after or parsed.after).spec


def _phases_from(process: Sequence[Node], phase: int) -> set[int]:
    """The phase ids the process's threads entered from PHASE on (PHASE included)."""
    later: set[int] = set()
    for node in process:
        if phase in node.phases:
            later.update(node.phases[node.phases.index(phase) :])
    return later
