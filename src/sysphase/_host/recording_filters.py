"""The seccomp filters that make recording and `trace -e` stop less (docs/performance.md).

A recording filter never denies a call: it answers TRACE for the calls the tracer
wants to see and ALLOW for the rest. Three shapes:

- set-only recording: every call stops once, at its entry;
- known sets (a baseline profile): per (program, phase), the calls the baseline
  already knows run without a stop (with recorded argument values for watched
  arguments), the rest stop; the C core stacks the next (program, phase)'s filter
  whenever a process enters it;
- ``trace -e trace=SET``: only the selected calls stop.

Phase-trigger syscalls and clone/clone3 (whose flags the tracer reads at entry) always
stop. Compiled by libseccomp (sysphase._host.seccomp).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from sysphase._host import seccomp
from sysphase.model import arg_watch, syscalls
from sysphase.model import profile as prof
from sysphase.model.phases import PhaseTrigger

__all__ = [
    "ALWAYS_STOP",
    "KnownFilters",
    "Selection",
    "every_call",
    "known_allow",
    "known_filters",
    "select",
]

#: Calls a recording filter never lets through without a stop: the tracer reads clone's
#: flags at its entry (thread or process).
ALWAYS_STOP: Final = frozenset({"clone", "clone3"})


@dataclass(frozen=True, slots=True)
class Selection:
    """``trace -e trace=SET``: the syscall names selected, or all but them (inverted)."""

    names: frozenset[str]
    inverted: bool = False


@dataclass(frozen=True, slots=True)
class KnownFilters:
    """Known-set recording: the first filter, and one per (executable, phase name)."""

    first: bytes
    per_phase: tuple[tuple[bytes, str, bytes], ...]
    #: for a (program, phase) the baseline lacks: every call stops
    unknown: bytes


def trigger_names(triggers: Iterable[PhaseTrigger]) -> set[str]:
    """The syscalls the triggers fire on: they always stop (the tracer must see them)."""
    return {t.value for t in triggers if t.kind == "syscall"}


def known_allow(
    phases: Sequence[prof.Phase], arch: str, never: frozenset[str] | set[str] = frozenset()
) -> dict[str, list[list[seccomp.Cond]]]:
    """The calls a known (program, phase) lets through without a stop, as libseccomp
    alternatives: its syscalls over every node (``phases``), less ``never``.

    A syscall whose arguments recording watches (sysphase.model.arg_watch) passes only
    with values already recorded for it (every combination of them, at most 64), so
    new values still stop and are recorded; without recorded values it always stops.
    """
    values: dict[str, dict[int, set[int]]] = {}
    for phase in phases:
        for key in phase.syscalls:
            key_arch, name = prof.split_key(arch, key)
            if key_arch != arch or name in never or syscalls.number(arch, name) is None:
                continue
            per_arg = values.setdefault(name, {})
            recorded: Mapping[str, tuple[int, ...]] = phase.arg_values.get(key) or {}
            for i in arg_watch.WATCHED.get(name, ()):
                per_arg.setdefault(i, set()).update(recorded.get(str(i), ()))
    out: dict[str, list[list[seccomp.Cond]]] = {}
    for name, per_arg in sorted(values.items()):
        combos: list[list[seccomp.Cond]] = [[]]
        for i, vals in sorted(per_arg.items()):
            combos = [[*c, (i, "eq", v, 0)] for c in combos for v in sorted(vals)]
        if not per_arg:
            out[name] = []
        elif combos and len(combos) <= 64:
            out[name] = combos
    return out


def known_filters(
    baseline: prof.Profile, triggers: Iterable[PhaseTrigger], root: str
) -> KnownFilters:
    """The root's first filter and the filter of every (program, phase) of the baseline."""
    never = set(ALWAYS_STOP) | trigger_names(triggers)
    by_key: dict[tuple[str, str], list[prof.Phase]] = {}
    for node in baseline.processes:
        for ph in node.phases:
            by_key.setdefault((node.executable, ph.name), []).append(ph)
    allows = {k: known_allow(v, baseline.arch, never) for k, v in by_key.items()}
    filters = {k: seccomp.recording_filter(allow=v) for k, v in allows.items()}
    per_phase = tuple(
        (os.fsencode(exe), phase, bpf) for (exe, phase), bpf in sorted(filters.items())
    )
    unknown = seccomp.recording_filter()
    if (root, "start") in filters:  # an ELF file: the image the exec starts
        return KnownFilters(filters[(root, "start")], per_phase, unknown)
    # a script (its interpreter runs) or a program the baseline lacks: the baseline's own
    # root program is the best guess, but its exec must stop (it is the new program's
    # first call); at the exec the real program's filter is stacked
    roots = [n.executable for n in baseline.processes if n.parent is None]
    guess = dict(allows.get((roots[0], "start"), {})) if roots else {}
    for name in ("execve", "execveat"):
        guess.pop(name, None)
    return KnownFilters(seccomp.recording_filter(allow=guess), per_phase, unknown)


def every_call() -> bytes:
    """The filter of set-only recording: every call stops, once, at its entry."""
    return seccomp.recording_filter()


def select(selection: Selection, triggers: Iterable[PhaseTrigger]) -> bytes:
    """The filter of ``trace -e``: the selected calls stop (and the triggers, clone)."""
    keep = trigger_names(triggers) | ALWAYS_STOP
    if selection.inverted:
        return seccomp.recording_filter(allow={n: [] for n in selection.names - keep})
    return seccomp.recording_filter(trace=selection.names | keep)
