"""From recorded paths to a few path-beneath rules: Landlock's generalisation, and narrowing.

:func:`generalise` turns the paths a phase (with everything its ruleset
covers) needed, each with its rights, into rules. docs/formats/policy.md
(``--landlock``) says the same for users; each rule records which of these
made it (``how``):

1. ``per-process``: ``/proc/PID/...`` (``self``, ``thread-self``) counts as
   ``/proc``, ``/dev/pts/N`` as ``/dev/pts``: one rule there with the rights
   seen (a pid or a terminal number differs from run to run).
2. ``created``: what lies in a directory the phase created (``mkdir``), the
   directory included, goes to the directory it was created in: a rule
   needs its path to exist when the ruleset is made, before the program
   runs.
3. ``writes``: a directory in which the phase created, removed, renamed or
   linked anything (``make_*``, ``remove_*``, ``refer``) gets a rule on
   itself with those rights, plus the other rights of everything directly
   in it; never on its parent.
4. ``read-dir``: a directory opened or listed gets a rule on itself
   (``read_dir``, which covers the directories beneath it).
5. ``system``: reading or executing a file beneath a system folder
   (:data:`LIBRARY_DIRS`, :data:`DATA_DIRS`; the deepest one listed)
   becomes a rule on that folder with ``read_file`` (and ``execute`` when a
   file there was executed); any other right on such a file stays on the
   file.
6. ``loader``: a ruleset under which a program is executed also gets
   ``execute`` on its library folder rules: the kernel opens the program's
   ELF interpreter (``ld.so``) for execution, which no traced call shows.
7. ``directory``: a directory where :data:`FILES_PER_DIR` or more files
   were read or executed (outside the system folders) gets one rule with
   those rights; their other rights stay on the files. Not ``/`` nor a
   top-level directory (``/etc``, ``/root``, ``/home``, ...): reading
   ``/etc/passwd``, ``/etc/group`` and ``/etc/hosts`` must not open
   ``/etc/shadow``; their files keep rules of their own.
8. ``file``: every other file gets a rule on itself (Landlock allows rules
   on files, with file rights only).
9. ``refer``: Landlock refuses to move a file where it would gain a right
   (``EXDEV``), so the directories with ``refer`` each get the rights that
   apply at any of them (their rules' and their ancestors').
10. A rule of the program's next phase that these rules do not cover is
    added as it is (its ``how`` kept).

Last, a rule whose rights the rules on its ancestors already grant is left
out (its recorded paths count for the nearest ancestor's rule). A phase's
paths are its own and every later phase's, and each step's choices depend
only on facts that stay true when paths or rights are added, so its rules
already cover the next phase's; step 10 makes it so by construction
(:func:`narrows` checks two sections). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from sysphase.model.landlock_rights import DIR_RIGHTS, canonical, parent
from sysphase.model.strict_json import quote
from sysphase.policy.ir import LandlockRule, LandlockSection

__all__ = [
    "DATA_DIRS",
    "EXAMPLES",
    "FILES_PER_DIR",
    "HOW",
    "LIBRARY_DIRS",
    "beneath",
    "generalise",
    "granted",
    "narrows",
    "wider",
]

#: Shared libraries: reading or executing files beneath them becomes a read-only rule there.
LIBRARY_DIRS: Final = (
    "/lib", "/lib32", "/lib64", "/libx32", "/usr/lib", "/usr/lib32", "/usr/lib64",
    "/usr/libx32", "/usr/local/lib", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
    "/lib/i386-linux-gnu", "/usr/lib/i386-linux-gnu", "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
)  # fmt: skip
#: Locale, time zone, certificate and terminal data, read-only like the libraries.
DATA_DIRS: Final = (
    "/usr/share/locale", "/usr/lib/locale", "/usr/share/i18n", "/usr/share/zoneinfo",
    "/etc/ssl/certs", "/usr/share/ca-certificates", "/usr/lib/ssl", "/usr/share/terminfo",
    "/lib/terminfo", "/etc/terminfo",
)  # fmt: skip
#: Files read in one directory from which on the directory gets the rule.
FILES_PER_DIR: Final = 3
#: Recorded paths a rule lists as examples.
EXAMPLES: Final = 3
#: The generalisation rules, in the order a rule's ``how`` lists them.
HOW: Final = (
    "per-process", "created", "writes", "read-dir", "system", "loader", "directory", "file",
    "refer",
)  # fmt: skip

_READ_ONLY: Final = frozenset({"read_file", "execute"})
_WRITES: Final = DIR_RIGHTS - {"read_dir"}
_PER_PROCESS: Final = (
    (re.compile(r"/proc/(?:[0-9]+|self|thread-self)(?:/.*)?"), "/proc"),
    (re.compile(r"/dev/pts/[0-9]+"), "/dev/pts"),
)


def beneath(path: str, top: str) -> bool:
    """Whether ``path`` is ``top`` or lies beneath it."""
    return path == top or path.startswith(top.rstrip("/") + "/")


def _ancestors(path: str) -> Iterable[str]:
    """The strict ancestors of a normal path, nearest first."""
    while path != "/":
        path = parent(path)
        yield path


@dataclass(slots=True)
class _Draft:
    """A rule in the making: rights, the recorded paths behind it, the rules that made it."""

    rights: set[str] = field(default_factory=set)
    recorded: set[str] = field(default_factory=set)
    how: set[str] = field(default_factory=set)
    #: at least this many recorded paths (a later phase's rule, which lists only examples)
    count: int = 0

    def take(self, rights: Iterable[str], recorded: Iterable[str], *how: str) -> None:
        self.rights.update(rights)
        self.recorded.update(recorded)
        self.how.update(how)


def _entries(paths: Mapping[str, Iterable[str]], created: Iterable[str]) -> dict[str, _Draft]:
    """Steps 1 and 2: per-process paths and what lies in created directories, moved."""
    made = set(created)
    out: dict[str, _Draft] = {}
    for path, rights in paths.items():
        target, how = path, ""
        for pattern, top in _PER_PROCESS:
            if pattern.fullmatch(path):
                target, how = top, "per-process"
        outer = [d for d in (path, *_ancestors(path)) if d in made]
        if outer and not how:
            target, how = parent(outer[-1]), "created"
        out.setdefault(target, _Draft()).take(rights, (path,), *([how] if how else []))
    return out


def _system_dir(path: str) -> str | None:
    found = [d for d in (*LIBRARY_DIRS, *DATA_DIRS) if beneath(parent(path), d)]
    return max(found, key=len) if found else None


def _read_in(entries: dict[str, _Draft]) -> dict[str, int]:
    """Per directory, the entries in it read or executed (outside system folders)."""
    out: dict[str, int] = {}
    for path, e in entries.items():
        if e.rights & _READ_ONLY and "per-process" not in e.how and _system_dir(path) is None:
            out[parent(path)] = out.get(parent(path), 0) + 1
    return out


def _classify(entries: dict[str, _Draft]) -> dict[str, _Draft]:
    """Steps 3 to 8: each entry's rights onto the rules that will hold them.

    Every choice depends only on facts that stay true when paths or rights
    are added (a written directory, a path beneath a system folder, a count
    of files read), so more paths never make a narrower ruleset.
    """
    rules: dict[str, _Draft] = {}
    writes = {p for p, e in entries.items() if e.rights & _WRITES}
    read_in = _read_in(entries)
    for path, e in entries.items():
        fixed = "per-process" in e.how
        up = parent(path)
        if path in writes:
            _add(rules, path, e.rights, e, "writes", *e.how)
        absorbed = up in writes and path != "/" and not fixed
        if absorbed:
            _add(rules, up, e.rights - _WRITES, e, "writes")
        ro = e.rights & _READ_ONLY
        system = None if fixed else _system_dir(path)
        moved: set[str] = set()
        if ro and system is not None:
            _add(rules, system, ro, e, "system")
            moved = ro
        elif ro and not fixed and read_in.get(up, 0) >= FILES_PER_DIR and up.count("/") >= 2:
            _add(rules, up, ro, e, "directory")
            moved = ro
        own = e.rights - moved
        if own and path not in writes and not absorbed:
            kind = "read-dir" if "read_dir" in own else "" if e.how else "file"
            _add(rules, path, own, e, *e.how, *([kind] if kind else []))
    return rules


def _add(rules: dict[str, _Draft], at: str, rights: set[str], e: _Draft, *how: str) -> None:
    """Rights of entry ``e`` onto the rule at ``at``, with its recorded paths."""
    if rights:
        rules.setdefault(at, _Draft()).take(rights, e.recorded, *how)


def _loader(rules: dict[str, _Draft]) -> None:
    """Step 6: execute on the library folders' rules when anything is executed."""
    if not any("execute" in d.rights for d in rules.values()):
        return
    for path, draft in rules.items():
        if path in LIBRARY_DIRS and "system" in draft.how and "execute" not in draft.rights:
            draft.take(("execute",), (), "loader")


def _effective(rules: Mapping[str, _Draft], path: str) -> set[str]:
    """The rights the rules grant at ``path``: its own rule's and its ancestors'."""
    out = set(rules[path].rights) if path in rules else set()
    for up in _ancestors(path):
        if up in rules:
            out |= rules[up].rights
    return out


def _refer(rules: dict[str, _Draft]) -> None:
    """Step 9: the directories with refer get every right that applies at any of them."""
    dirs = [p for p, d in rules.items() if "refer" in d.rights]
    if len(dirs) < 2:
        return
    union = set().union(*(_effective(rules, p) for p in dirs))
    for path in dirs:
        if not union <= rules[path].rights:
            rules[path].take(union, (), "refer")


def _without_covered(rules: dict[str, _Draft]) -> dict[str, _Draft]:
    """Rules whose rights their ancestors' rules grant are left out (nearest one inherits)."""
    kept: dict[str, _Draft] = {}
    for path in sorted(rules):
        draft = rules[path]
        ups = [up for up in _ancestors(path) if up in kept]
        if ups and draft.rights <= _effective(kept, ups[0]):
            kept[ups[0]].recorded |= draft.recorded
            kept[ups[0]].count = max(kept[ups[0]].count, draft.count)
            continue
        kept[path] = draft
    return kept


def _keep_later(rules: dict[str, _Draft], later: Iterable[LandlockRule]) -> None:
    """Step 10: a later phase's rule these rules do not cover is added as it is."""
    for rule in later:
        if not set(rule.rights) <= _effective(rules, rule.path):
            draft = rules.setdefault(rule.path, _Draft())
            draft.take(rule.rights, rule.examples, *rule.how)
            draft.count = max(draft.count, rule.recorded)


def generalise(
    paths: Mapping[str, Iterable[str]],
    created: Iterable[str] = (),
    later: Iterable[LandlockRule] = (),
) -> tuple[LandlockRule, ...]:
    """The rules for these recorded paths (path -> rights) and created directories (module doc).

    ``later``: the rules of the program's next phase, which these must cover.
    Sorted by path; each with the rules that made it and the recorded paths behind it.
    """
    rules = _classify(_entries(paths, created))
    _loader(rules)
    _refer(rules)
    _keep_later(rules, later)
    out = []
    for path, d in sorted(_without_covered(rules).items()):
        recorded = sorted(d.recorded)
        how = tuple(h for h in HOW if h in d.how)
        count = max(len(recorded), d.count)
        out.append(LandlockRule(path, canonical(d.rights), how, count, tuple(recorded[:EXAMPLES])))
    return tuple(out)


# --- narrowing --------------------------------------------------------------------------------


def granted(rules: Iterable[LandlockRule] | Mapping[str, Iterable[str]], path: str) -> set[str]:
    """The rights ``rules`` grant at ``path``: those of its rule and of its ancestors' rules.

    ``rules``: the rules, or path -> rights (faster for many look-ups).
    """
    by_path = rules if isinstance(rules, Mapping) else {r.path: r.rights for r in rules}
    out: set[str] = set()
    for at in (path, *_ancestors(path)):
        out.update(by_path.get(at, ()))
    return out


def wider(earlier: LandlockSection, later: LandlockSection) -> tuple[str, str] | None:
    """The first thing ``later`` allows that ``earlier`` refuses: (field, what), or None.

    ``field`` is the section's field (``rules[3].rights``, ``bind_tcp``) and
    ``what`` ends in "the earlier phase", for a decoder's message.
    """
    for name, before, now in (
        ("handled_fs", earlier.handled_fs, later.handled_fs),
        ("handled_net", earlier.handled_net, later.handled_net),
        ("scoped", earlier.scoped, later.scoped),
    ):
        missing = [x for x in before if x not in now]
        if missing:
            return (
                name,
                f"leaves out {quote(missing[0])}, which is in this field of the earlier phase",
            )
    by_path = {r.path: r.rights for r in earlier.rules}
    for i, rule in enumerate(later.rules):
        have = granted(by_path, rule.path)
        extra = [r for r in rule.rights if r in earlier.handled_fs and r not in have]
        if extra:
            return (
                f"rules[{i}].rights",
                f"{quote(extra[0])} on {quote(rule.path)} is not granted by the earlier phase",
            )
    for right, now_ports, before_ports in (
        ("bind_tcp", later.bind_tcp, earlier.bind_tcp),
        ("connect_tcp", later.connect_tcp, earlier.connect_tcp),
    ):
        extra_ports = [p for p in now_ports if p not in before_ports]
        if right in earlier.handled_net and extra_ports:
            return right, f"port {extra_ports[0]} is not allowed by the earlier phase"
    return None


def narrows(earlier: LandlockSection, later: LandlockSection) -> bool:
    """Whether ``later`` allows nothing ``earlier`` refuses (a ruleset stacked on it narrows).

    ``later`` handles at least what ``earlier`` handles and sets at least
    its scopes; every right a later rule grants is granted at that path by
    ``earlier`` (or not handled by it); its ports are ``earlier``'s.
    """
    return wider(earlier, later) is None
