"""A phase's Landlock section: the sweep's union of recorded needs, the ruleset, older ABIs.

While :mod:`sysphase.policy.phase_sweep` sweeps a program's phases from the
last backwards, :class:`LandlockUnion` collects the Landlock needs
(:class:`~sysphase.model.landlock_needs.LandlockNeeds`) of every (node,
phase) a phase's filter covers, exactly the sources its syscalls come from,
and :meth:`LandlockUnion.section` makes the phase's
:class:`~sysphase.policy.ir.LandlockSection`:

- handled: every file-system and network right of :data:`HIGHEST_ABI`, so
  what no rule grants is refused;
- rules: :func:`sysphase.policy.landlock_rules.generalise` of the union,
  covering the rules of the phase after it (made just before: the sweep
  goes backwards), so that phases only narrow;
- ports: the TCP ports bound and connected to (UDP is not restricted);
- scopes: ``abstract_unix_socket`` unless the union connected to an abstract
  unix socket; ``signal`` unless the phase's filter allows a call that
  signals another process (:data:`SIGNAL_CALLS`; ``tgkill`` and ``tkill``
  are left out: they signal the caller's own threads, always allowed).

A phase none of whose sources recorded paths gets no section (no ruleset
of its own: those of the phases it runs under still apply); the note of a
section lists what it may miss. :func:`degrade` fits a section to an older
kernel's ABI. Pure.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Final

from sysphase.model.landlock_needs import MAX_PATHS
from sysphase.model.landlock_rights import (
    FS_ABI,
    FS_RIGHTS,
    HIGHEST_ABI,
    NET_ABI,
    NET_RIGHTS,
    SCOPE_ABI,
)
from sysphase.model.profile import Phase
from sysphase.policy.ir import LandlockRule, LandlockSection
from sysphase.policy.landlock_rules import generalise

__all__ = ["SIGNAL_CALLS", "Degraded", "LandlockUnion", "degrade"]

#: Calls that signal other processes: a phase whose filter allows one is not signal-scoped.
SIGNAL_CALLS: Final = frozenset(
    {"kill", "pidfd_send_signal", "rt_sigqueueinfo", "rt_tgsigqueueinfo"}
)
_UNRECORDED_SHOWN: Final = 3


@dataclass(slots=True)
class LandlockUnion:
    """The Landlock needs of the sources a phase covers, growing as the sweep goes back."""

    paths_lost: int = 0
    paths: dict[str, set[str]] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)
    bind_tcp: set[int] = field(default_factory=set)
    connect_tcp: set[int] = field(default_factory=set)
    abstract_unix: bool = False
    recorded: int = 0
    #: "program phase" of the sources without paths, in the order added (the first few)
    unrecorded: list[str] = field(default_factory=list)
    unrecorded_count: int = 0
    cut_depth: int | None = None
    #: the last section made (for a phase whose filter signal-scopes it or not), None
    #: when the union changed since
    last: tuple[bool, LandlockSection | None] | None = None
    #: the rules of the last section made: the next (earlier) phase's must cover them
    later: tuple[LandlockRule, ...] = ()

    def add(self, program: str, phase: Phase) -> None:
        """Add one (node, phase) source of ``program``."""
        needs = phase.landlock
        self.last = None
        if needs is None:
            self.unrecorded_count += 1
            where = f"{program} {phase.name}"
            if len(self.unrecorded) < _UNRECORDED_SHOWN and where not in self.unrecorded:
                self.unrecorded.append(where)
            return
        self.recorded += 1
        for path, rights in needs.paths.items():
            self.paths.setdefault(path, set()).update(rights)
        self.created.update(needs.created_dirs)
        self.bind_tcp.update(needs.bind_tcp)
        self.connect_tcp.update(needs.connect_tcp)
        self.abstract_unix = self.abstract_unix or needs.abstract_unix
        if needs.cut_depth is not None:
            cuts = [needs.cut_depth] + ([] if self.cut_depth is None else [self.cut_depth])
            self.cut_depth = min(cuts)

    def section(self, allowed: Collection[str]) -> LandlockSection | None:
        """The section of the union so far, for a phase whose filter allows ``allowed``."""
        signal_scoped = not SIGNAL_CALLS & set(allowed)
        if self.last is not None and self.last[0] == signal_scoped:
            return self.last[1]
        made = self._make(signal_scoped) if self.recorded else None
        self.last = (signal_scoped, made)
        if made is not None:
            self.later = made.rules
        return made

    def _make(self, signal_scoped: bool) -> LandlockSection:
        scoped = [s for s, on in (("abstract_unix_socket", not self.abstract_unix),
                                  ("signal", signal_scoped)) if on]  # fmt: skip
        return LandlockSection(
            abi=HIGHEST_ABI,
            handled_fs=FS_RIGHTS,
            handled_net=NET_RIGHTS,
            scoped=tuple(scoped),
            rules=generalise(self.paths, self.created, self.later),
            bind_tcp=tuple(sorted(self.bind_tcp)),
            connect_tcp=tuple(sorted(self.connect_tcp)),
            note=self._note(),
        )

    def _note(self) -> str | None:
        notes = []
        if self.unrecorded_count:
            n, shown = self.unrecorded_count, ", ".join(self.unrecorded)
            more = ", ..." if n > len(self.unrecorded) else ""
            notes.append(
                f"{n} of {n + self.recorded} program phases it covers were recorded without "
                f"--paths ({shown}{more}): what they touched is not in these rules"
            )
        if self.cut_depth is not None:
            notes.append(
                f"paths were cut to {self.cut_depth} components by the profile's bound "
                f"({MAX_PATHS:,} paths a phase): some rules are wider than what was recorded"
            )
        if self.paths_lost:
            notes.append(
                f"the recording lost {self.paths_lost:,} accesses (the recorder's table was "
                "full): rules may be missing"
            )
        return "; ".join(notes) or None


# --- older kernels ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Degraded:
    """What :func:`degrade` left out of a section for a kernel's ABI (all empty: nothing)."""

    abi: int
    fs: tuple[str, ...] = ()
    net: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.fs or self.net or self.scopes)

    def describe(self) -> str:
        """One line for the enforcer to print: ``Landlock ABI 3: left out ...``; "" if nothing."""
        if self.empty:
            return ""
        parts = [
            f"{name} (ABI {table[name]})"
            for names, table in ((self.fs, FS_ABI), (self.net, NET_ABI), (self.scopes, SCOPE_ABI))
            for name in names
        ]
        line = f"Landlock ABI {self.abi}: left out {', '.join(parts)}"
        if "refer" in self.fs:
            line += "; moving files to another directory fails with EXDEV"
        return line + " (the kernel does not know them; the rest is enforced)"


def degrade(section: LandlockSection, abi: int) -> tuple[LandlockSection, Degraded]:
    """The section for a kernel of Landlock ``abi`` (>= 1), and what it left out.

    Rights the ABI does not know leave the handled rights and every rule (a
    rule left without rights goes); network rights and ports go below ABI 4,
    scopes below ABI 6. Never the whole section: what the kernel knows is
    kept. ValueError for an ABI below 1 (no Landlock).
    """
    if abi < 1:
        raise ValueError(f"Landlock ABI {abi}: the kernel has no Landlock")
    fs = tuple(r for r in section.handled_fs if FS_ABI[r] > abi)
    net = tuple(r for r in section.handled_net if NET_ABI[r] > abi)
    scopes = tuple(s for s in section.scoped if SCOPE_ABI[s] > abi)
    if not (fs or net or scopes):
        return section, Degraded(abi)
    rules = tuple(
        replace(rule, rights=kept)
        for rule in section.rules
        if (kept := tuple(r for r in rule.rights if r not in fs))
    )
    handled_net = tuple(r for r in section.handled_net if r not in net)
    out = replace(
        section,
        abi=min(section.abi, abi),
        handled_fs=tuple(r for r in section.handled_fs if r not in fs),
        handled_net=handled_net,
        scoped=tuple(s for s in section.scoped if s not in scopes),
        rules=rules,
        bind_tcp=section.bind_tcp if "bind_tcp" in handled_net else (),
        connect_tcp=section.connect_tcp if "connect_tcp" in handled_net else (),
    )
    return out, Degraded(abi, fs, net, scopes)
