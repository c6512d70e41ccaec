"""Complain-mode reports as profile fragments: the calls outside a policy, and nothing else.

``sysphase run --complain --report FILE`` lets every call through and records
only those the policy refused. Built into a profile, such a report looks like
a recording, but a program it holds made many more calls than it lists: a
program that was never recorded would get a policy of a handful of calls and
die at its first other call. So a report is written as a *fragment*
(:func:`to_fragment`): the profile is marked ``fragment`` and every process
``from_fragment``. Merged into a profile (:mod:`sysphase.model.profile_merge`),
its calls widen the programs and phases the profile has; a node only
fragments have stays ``from_fragment``, and a program whose every node is
(:func:`fragment_only_programs`) gets no policy of its own unless asked
(``sysphase policy --allow-fragments``). docs/formats/profile.md describes the
fields. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Phase, ProcessNode, Profile

__all__ = ["fragment_only_programs", "to_fragment"]


def to_fragment(profile: Profile, phase_names: Mapping[str, str] | None = None) -> Profile:
    """The fragment of a complain-mode run's profile (one built from its violations).

    Marks the profile ``fragment`` and every process ``from_fragment``. Drops
    the processes with no call in them or in any process below them (a
    complain run in which nothing left the policy gives a fragment without
    processes), keeping the ancestors of every process with calls, with all
    their phases, so that merging places the calls where the run made them.
    ``phase_names`` maps the tracer's phase labels to the policy's phase
    names (``sysphase run`` labels another program's later phase
    ``"serve (xz)"``); a label not in it is kept. Pure: the input is unchanged.
    """
    names = phase_names or {}
    nodes = profile.processes
    keep = [any(ph.syscalls for ph in n.phases) for n in nodes]
    for i in reversed(range(len(nodes))):
        parent = nodes[i].parent
        if keep[i] and parent is not None:
            keep[parent] = True
    new_id: dict[int, int] = {}
    processes: list[ProcessNode] = []
    for i, n in enumerate(nodes):
        if not keep[i]:
            continue
        new_id[i] = len(processes)
        processes.append(
            replace(
                n,
                id=new_id[i],
                parent=None if n.parent is None else new_id[n.parent],
                phases=_renamed(n.phases, names),
                from_fragment=True,
            )
        )
    return replace(profile, processes=tuple(processes), fragment=True)


def _renamed(phases: tuple[Phase, ...], names: Mapping[str, str]) -> tuple[Phase, ...]:
    """The phases under their policy names; two that become one (index, name) are summed."""
    out: dict[tuple[int, str], Phase] = {}
    for ph in phases:
        name = names.get(ph.name, ph.name)
        have = out.get((ph.index, name))
        if have is None:
            out[(ph.index, name)] = replace(ph, name=name)
            continue
        stats = dict(have.syscalls)
        for key, stat in ph.syscalls.items():
            stats[key] = stats[key] + stat if key in stats else stat
        args = {k: {i: set(v) for i, v in by.items()} for k, by in have.arg_values.items()}
        for key, by_arg in ph.arg_values.items():
            for index, values in by_arg.items():
                args.setdefault(key, {}).setdefault(index, set()).update(values)
        out[(ph.index, name)] = replace(
            have,
            syscalls=FrozenMap(stats),
            arg_values=FrozenMap(
                (k, FrozenMap((i, tuple(sorted(v))) for i, v in by.items()))
                for k, by in args.items()
            ),
        )
    return tuple(out[k] for k in sorted(out))


def fragment_only_programs(profile: Profile) -> list[str]:
    """The executables every node of which is ``from_fragment``, in order of first appearance.

    Such a program was seen only in complain-mode reports: what the profile
    holds of it is what a policy refused, not what it needs.
    """
    recorded = {n.executable for n in profile.processes if not n.from_fragment}
    seen = dict.fromkeys(n.executable for n in profile.processes)
    return [exe for exe in seen if exe not in recorded]
