"""Triggers that fired where the operator most likely did not mean them to.

``--phase serve=syscall:epoll_wait`` on a multi-threaded server can fire when
a worker thread first waits, before the main thread has called ``listen``:
the serving phase then keeps ``socket``, ``bind`` and ``listen``, and nothing
said so. After a recording, :func:`trigger_warnings` names each trigger that
fired in a thread other than its process's main thread, and each that fired
before the process called ``listen`` or ``bind`` (made in the trigger's phase
or a later one and never before it: a server that listened at start-up and
listens again later, as redis does on ``CONFIG SET port``, is not warned
about), with the qualifier that fixes it (``@main``,
``,after=listen``; sysphase.model.phases). One sentence each. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sysphase.errors import UsageError
from sysphase.model import syscalls
from sysphase.model.phases import parse_trigger
from sysphase.model.profile import Profile
from sysphase.model.tree import Node, NodeKind, ProcessTree

__all__ = ["SETUP_CALLS", "trigger_warnings"]

#: calls a server makes to set up what it serves: a phase that serves should follow them
SETUP_CALLS = ("listen", "bind")


def trigger_warnings(
    tree: ProcessTree, fires: Sequence[tuple[int, int]], known: Profile | None = None
) -> list[str]:
    """One line per surprising trigger: FIRES holds (node of the firing thread, phase id).

    ``known``: the profile whose calls a known-set run did not stop for (they are
    missing from the tree but were made): a set-up call it holds for an earlier
    phase of the program counts as made before the trigger.
    """
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
        calls = [c for c in tree.counts if c.calls and c.node in ids]
        # a call the process made before the phase too is a reconfiguration at run time
        # (redis's CONFIG SET port), not a set-up the trigger came too early for
        before = {syscalls.name(c.arch, c.nr) for c in calls if c.phase not in later}
        earlier = {tree.phase_names[p][0] for n in process for p in n.phases if p not in later}
        before |= _known_calls(known, node.exe, earlier)
        made = sorted(
            {syscalls.name(c.arch, c.nr) for c in calls if c.phase in later}
            & set(SETUP_CALLS) - before
        )
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


def _known_calls(known: Profile | None, exe: str, phases: set[str]) -> set[str]:
    """The calls KNOWN holds for program EXE in any of PHASES."""
    if known is None:
        return set()
    return {
        k
        for n in known.processes
        if n.executable == exe
        for ph in n.phases
        if ph.name in phases
        for k in ph.syscalls
    }


def _phases_from(process: Sequence[Node], phase: int) -> set[int]:
    """The phase ids the process's threads entered from PHASE on (PHASE included)."""
    later: set[int] = set()
    for node in process:
        if phase in node.phases:
            later.update(node.phases[node.phases.index(phase) :])
    return later
