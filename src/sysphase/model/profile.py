"""Profiles (`sysphase-profile/1`): what a program asked of the kernel, per process and phase.

A profile is the persisted form of one or more recordings: the command, the
architecture, the number of runs and a process tree whose nodes carry their
phases and, per phase, per-syscall counters. This module holds the typed,
frozen model, its conversion from a traced :class:`ProcessTree`, the JSON
encoding and its strict decoder, merging, diffing and the `stats --json`
shape. docs/formats/profile.md describes the file; the JSON Schema ships as
``sysphase/schemas/profile.schema.json``.

Syscall keys are the plain name for the profile's architecture and
``"<arch>:<name>"`` (``"i386:open"``, ``"x32:read"``) for other ABIs the
traced programs used.

Everything here is pure: reading and (atomically) writing files belongs to
the callers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final, TypeVar

from sysphase.errors import ProfileInvalid, UsageError
from sysphase.model import strict_json, syscalls
from sysphase.model.strict_json import member as _member
from sysphase.model.strict_json import quote as _q
from sysphase.model.strict_json import show as _show
from sysphase.model.tree import NodeKind, ProcessTree

__all__ = [
    "FORMAT",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "FrozenMap",
    "Phase",
    "PhaseDiff",
    "ProcessNode",
    "Profile",
    "ProfileDiff",
    "ProgramDiff",
    "SyscallStat",
    "decode",
    "diff",
    "distinct_syscalls",
    "encode",
    "from_tree",
    "merge",
    "merge_all",
    "split_key",
    "stats_json",
    "syscall_key",
    "to_dict",
]

FORMAT_NAME: Final = "sysphase-profile"
FORMAT_VERSION: Final = 1
#: The value of the "format" field this sysphase writes and reads.
FORMAT: Final = f"{FORMAT_NAME}/{FORMAT_VERSION}"
#: A GNU build-id as profiles and policies write it: lower-case hex, 1 to 64 bytes.
BUILD_ID: Final = re.compile(r"(?:[0-9a-f]{2}){1,64}")

#: Largest value of a syscall argument (a 64-bit register, unsigned).
ARG_MAX: Final = 2**64 - 1
#: Argument indexes as they appear in "arg_values" keys.
ARG_INDEXES: Final = ("0", "1", "2", "3", "4", "5")

V = TypeVar("V", covariant=True)


class FrozenMap(Mapping[str, V]):
    """An immutable, hashable mapping with str keys that iterates in key order.

    Equal to any mapping with the same items; hashable when its values are.
    """

    __slots__ = ("_data",)

    def __init__(self, items: Mapping[str, V] | Iterable[tuple[str, V]] = ()) -> None:
        pairs = dict(items)
        self._data: dict[str, V] = {k: pairs[k] for k in sorted(pairs)}

    def __getitem__(self, key: str) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


@dataclass(frozen=True, slots=True)
class SyscallStat:
    """Counters of one syscall in one phase of one process.

    calls are completed calls, errors those of them that returned -errno,
    time_ns the wall-clock time from entry to exit, unfinished the calls that
    never returned (exit_group, a thread killed inside a call). in_flight
    counts calls that a thread of the process was in (blocked in futex,
    accept, ...) when the process entered this phase: entered in an earlier
    phase, but under ``sysphase run`` the switch restarts them under this
    phase's filter, so this phase must allow them.
    """

    calls: int = 0
    errors: int = 0
    time_ns: int = 0
    unfinished: int = 0
    in_flight: int = 0

    def __add__(self, other: SyscallStat) -> SyscallStat:
        return SyscallStat(
            self.calls + other.calls,
            self.errors + other.errors,
            self.time_ns + other.time_ns,
            self.unfinished + other.unfinished,
            self.in_flight + other.in_flight,
        )


#: syscall key -> argument index ("0".."5") -> sorted distinct raw values
ArgValues = FrozenMap[FrozenMap[tuple[int, ...]]]


def _no_syscalls() -> FrozenMap[SyscallStat]:
    return FrozenMap()


def _no_args() -> ArgValues:
    return FrozenMap()


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of one process: its position, name, trigger and counters.

    index is the position in the process's phase sequence (0 is the phase it
    started in). In a merged profile two phases may share an index (runs that
    went different ways); (index, name) is unique and orders the phases.
    """

    index: int
    name: str
    trigger: str
    syscalls: FrozenMap[SyscallStat] = field(default_factory=_no_syscalls)
    arg_values: ArgValues = field(default_factory=_no_args)


@dataclass(frozen=True, slots=True)
class ProcessNode:
    """One program image of one task (see sysphase.model.tree.Node).

    id is the node's position in Profile.processes; a parent always comes
    before its children. load_base is the absolute load address of the
    executable, entry its entry point as an offset from the load base; either
    is None when unknown (or when merged runs disagreed, as for exit).
    build_id is the executable's GNU build-id (lower-case hex), which names
    the program whatever its path; None when it has none, or runs disagreed.
    """

    id: int
    parent: int | None
    created: NodeKind
    executable: str
    argv: tuple[str, ...]
    load_base: int | None
    entry: int | None
    exit: str | None
    phases: tuple[Phase, ...]
    build_id: str | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    """A recording (or several merged): command, architecture, runs and process tree.

    complete is False when a recording was interrupted (Ctrl-C, a signal).
    """

    format: ClassVar[str] = FORMAT

    command: tuple[str, ...]
    arch: str
    runs: int
    complete: bool
    processes: tuple[ProcessNode, ...]


# --- syscall keys ---------------------------------------------------------------------------


def syscall_key(profile_arch: str, arch: str, name: str) -> str:
    """The key of syscall ``name`` of ``arch`` in a profile of ``profile_arch``."""
    return name if arch == profile_arch else f"{arch}:{name}"


def split_key(profile_arch: str, key: str) -> tuple[str, str]:
    """(arch, name) of a syscall key in a profile of ``profile_arch``."""
    arch, sep, name = key.partition(":")
    return (arch, name) if sep else (profile_arch, key)


# --- from a traced tree ---------------------------------------------------------------------


def from_tree(
    tree: ProcessTree, command: Sequence[str], arch: str, complete: bool = True
) -> Profile:
    """The profile of one traced run: one ProcessNode per tree node, in the tree's order.

    ``arch`` is the tracer's native architecture; counters of other ABIs get
    prefixed keys. A phase a node entered but made no call in is kept with no
    syscalls. Counters of a phase the node's phase list lacks (should not
    happen) are kept in phases appended after the listed ones.
    """
    if arch not in syscalls.ARCHES:
        raise ValueError(f"unknown architecture {arch!r} (known: {', '.join(syscalls.ARCHES)})")
    counts: dict[int, dict[int, dict[str, SyscallStat]]] = {}
    for c in tree.counts:
        per_phase = counts.setdefault(c.node, {}).setdefault(c.phase, {})
        key = syscall_key(arch, c.arch, c.name)
        stat = SyscallStat(c.calls, c.errors, c.time_ns, c.unfinished, c.in_flight)
        per_phase[key] = per_phase[key] + stat if key in per_phase else stat
    seen: dict[int, dict[int, dict[str, dict[str, set[int]]]]] = {}
    for v in tree.arg_values:
        key = syscall_key(arch, v.arch, syscalls.name(v.arch, v.nr))
        by_key = seen.setdefault(v.node, {}).setdefault(v.phase, {}).setdefault(key, {})
        by_key.setdefault(str(v.arg), set()).add(v.value)
    processes = []
    for pos, node in enumerate(tree.nodes):
        if node.index != pos:
            raise ValueError(f"tree node at position {pos} has index {node.index}")
        if node.parent is not None and not 0 <= node.parent < pos:
            raise ValueError(f"tree node {pos} has parent {node.parent}, not an earlier node")
        by_phase = counts.get(pos, {})
        ids = list(node.phases) + sorted(set(by_phase) - set(node.phases))
        phases = []
        taken: set[int] = set()
        for index, phase_id in enumerate(ids):
            if not 0 <= phase_id < len(tree.phase_names):
                raise ValueError(f"tree node {pos} refers to unknown phase id {phase_id}")
            name, trigger = tree.phase_names[phase_id]
            stats = {} if phase_id in taken else by_phase.get(phase_id, {})
            values = {} if phase_id in taken else seen.get(pos, {}).get(phase_id, {})
            taken.add(phase_id)
            arg_values = FrozenMap(
                {
                    sc: FrozenMap({i: tuple(sorted(vs)) for i, vs in by_arg.items()})
                    for sc, by_arg in values.items()
                    if sc in stats
                }
            )
            phases.append(Phase(index, name, trigger, FrozenMap(stats), arg_values))
        load_base = node.load_base or None
        entry = (
            node.entry - node.load_base
            if load_base is not None and node.entry >= node.load_base
            else None
        )
        processes.append(
            ProcessNode(
                id=pos,
                parent=node.parent,
                created=node.kind,
                executable=node.exe,
                argv=tuple(node.argv),
                load_base=load_base,
                entry=entry,
                exit=node.describe_end(),
                phases=tuple(sorted(phases, key=lambda p: (p.index, p.name))),
                build_id=node.build_id or None,
            )
        )
    return Profile(tuple(command), arch, 1, complete, tuple(processes))


# --- JSON encoding --------------------------------------------------------------------------


def _hex(value: int | None) -> str | None:
    return None if value is None else f"{value:#x}"


def _stat_dict(stat: SyscallStat) -> dict[str, int]:
    out = {
        "calls": stat.calls,
        "errors": stat.errors,
        "time_ns": stat.time_ns,
        "unfinished": stat.unfinished,
    }
    if stat.in_flight:
        out["in_flight"] = stat.in_flight
    return out


def _phase_dict(phase: Phase) -> dict[str, object]:
    return {
        "index": phase.index,
        "name": phase.name,
        "trigger": phase.trigger,
        "syscalls": {k: _stat_dict(v) for k, v in phase.syscalls.items()},
        "arg_values": {
            sc: {i: list(vals) for i, vals in by_arg.items()}
            for sc, by_arg in phase.arg_values.items()
        },
    }


def to_dict(profile: Profile) -> dict[str, object]:
    """The profile as plain JSON data (fields in documentation order, map keys sorted)."""
    return {
        "format": profile.format,
        "command": list(profile.command),
        "arch": profile.arch,
        "runs": profile.runs,
        "complete": profile.complete,
        "processes": [
            {
                "id": n.id,
                "parent": n.parent,
                "created": n.created.value,
                "executable": n.executable,
                "argv": list(n.argv),
                "load_base": _hex(n.load_base),
                "entry": _hex(n.entry),
                "exit": n.exit,
                **({"build_id": n.build_id} if n.build_id is not None else {}),
                "phases": [_phase_dict(p) for p in n.phases],
            }
            for n in profile.processes
        ],
    }


def encode(profile: Profile) -> str:
    """The profile as JSON text: deterministic, 2-space indent, ASCII, ending in a newline.

    Non-ASCII text (and the lone surrogates os.fsdecode makes of undecodable
    path bytes) is written as \\u escapes, so the text is always valid UTF-8.
    """
    return json.dumps(to_dict(profile), indent=2) + "\n"


# --- strict decoding ------------------------------------------------------------------------


_HEX = re.compile(r"0[xX][0-9a-fA-F]{1,16}")


class _Decoder(strict_json.Decoder):
    """The profile's decoder: the shared checks, then the profile's own structure."""

    error = ProfileInvalid

    def strs(self, value: object, path: str) -> tuple[str, ...]:
        items = self.array(value, path)
        return tuple(self.string(v, f"{path}[{i}]") for i, v in enumerate(items))

    def address(self, value: object, path: str) -> int | None:
        if value is None:
            return None
        if not isinstance(value, str) or not _HEX.fullmatch(value):
            self.fail(path, f'expected null or a hex string like "0x1a2b0", got {_show(value)}')
        return int(value, 16)

    def profile(self, data: object) -> Profile:
        if not isinstance(data, dict):
            self.fail("$", f"expected an object, got {_show(data)}")
        self.format(data, FORMAT_NAME, FORMAT_VERSION, "profile")
        fields = self.obj(data, "$", ("format", "command", "arch", "runs", "complete", "processes"))
        command = self.strs(fields["command"], "$.command")
        arch = self.string(fields["arch"], "$.arch")
        if arch not in syscalls.ARCHES:
            self.fail(
                "$.arch",
                f"unknown architecture {_q(arch)} (known: {', '.join(syscalls.ARCHES)})",
            )
        self.arch = arch
        runs = self.integer(fields["runs"], "$.runs", minimum=1)
        complete = self.boolean(fields["complete"], "$.complete")
        items = self.array(fields["processes"], "$.processes")
        processes = tuple(self.process(v, f"$.processes[{i}]", i) for i, v in enumerate(items))
        return Profile(command, arch, runs, complete, processes)

    def process(self, value: object, path: str, position: int) -> ProcessNode:
        fields = self.obj(
            value,
            path,
            ("id", "parent", "created", "executable", "argv", "phases"),
            ("load_base", "entry", "exit", "build_id"),
        )
        ident = self.integer(fields["id"], f"{path}.id")
        if ident != position:
            self.fail(f"{path}.id", f"{ident} is not the process's position ({position})")
        parent_value = fields["parent"]
        parent = None
        if parent_value is not None:
            parent = self.integer(parent_value, f"{path}.parent")
            if parent >= position:
                self.fail(f"{path}.parent", f"{parent} does not refer to an earlier process")
        created_text = self.string(fields["created"], f"{path}.created")
        try:
            created = NodeKind(created_text)
        except ValueError:
            known = ", ".join(k.value for k in NodeKind)
            self.fail(
                f"{path}.created",
                f"unknown creation {_q(created_text)} (known: {known})",
            )
        executable = self.string(fields["executable"], f"{path}.executable")
        argv = self.strs(fields["argv"], f"{path}.argv")
        load_base = self.address(fields.get("load_base"), f"{path}.load_base")
        entry = self.address(fields.get("entry"), f"{path}.entry")
        exit_value = fields.get("exit")
        exit_text = None if exit_value is None else self.string(exit_value, f"{path}.exit")
        items = self.array(fields["phases"], f"{path}.phases")
        phases = [self.phase(v, f"{path}.phases[{i}]") for i, v in enumerate(items)]
        seen: set[tuple[int, str]] = set()
        for i, p in enumerate(phases):
            if (p.index, p.name) in seen:
                self.fail(
                    f"{path}.phases[{i}]",
                    f"phase {p.index} {_q(p.name)} appears more than once",
                )
            seen.add((p.index, p.name))
        phases.sort(key=lambda p: (p.index, p.name))
        build_id = fields.get("build_id")
        if build_id is not None:
            build_id = self.string(build_id, f"{path}.build_id")
            if not BUILD_ID.fullmatch(build_id):
                self.fail(f"{path}.build_id", f"{_q(build_id[:40])} is not a build-id (hex)")
        return ProcessNode(
            ident,
            parent,
            created,
            executable,
            argv,
            load_base,
            entry,
            exit_text,
            tuple(phases),
            build_id,
        )

    def phase(self, value: object, path: str) -> Phase:
        fields = self.obj(value, path, ("index", "name", "trigger", "syscalls"), ("arg_values",))
        index = self.integer(fields["index"], f"{path}.index")
        name = self.string(fields["name"], f"{path}.name", nonempty=True)
        trigger = self.trigger(fields["trigger"], f"{path}.trigger")
        sc_path = f"{path}.syscalls"
        stats = {
            key: self.stat(v, _member(sc_path, self.key(key, sc_path)))
            for key, v in self.map(fields["syscalls"], sc_path).items()
        }
        av_path = f"{path}.arg_values"
        args = {}
        for key, v in self.map(fields.get("arg_values", {}), av_path).items():
            key_path = _member(av_path, self.key(key, av_path))
            if key not in stats:
                self.fail(
                    key_path,
                    f"{_q(key)} has argument values but is not in the syscalls",
                )
            args[key] = self.args(v, key_path)
        return Phase(index, name, trigger, FrozenMap(stats), FrozenMap(args))

    def key(self, key: str, path: str) -> str:
        arch, name = split_key(self.arch, key)
        where = _member(path, key)
        if arch not in syscalls.ARCHES:
            self.fail(
                where,
                f"unknown architecture {_q(arch)} in syscall key {_q(key)}",
            )
        if key.startswith(f"{self.arch}:"):
            self.fail(
                where,
                f"{_q(key)} names the profile's own architecture; write {_q(name)}",
            )
        if syscalls.number(arch, name) is None:
            self.fail(where, f"unknown syscall {_q(name)} for {arch}")
        return key

    def stat(self, value: object, path: str) -> SyscallStat:
        fields = self.obj(value, path, ("calls",), ("errors", "time_ns", "unfinished", "in_flight"))
        calls = self.integer(fields["calls"], f"{path}.calls")
        errors = self.integer(fields.get("errors", 0), f"{path}.errors")
        if errors > calls:
            self.fail(f"{path}.errors", f"{errors} is more than the calls ({calls})")
        time_ns = self.integer(fields.get("time_ns", 0), f"{path}.time_ns")
        unfinished = self.integer(fields.get("unfinished", 0), f"{path}.unfinished")
        in_flight = self.integer(fields.get("in_flight", 0), f"{path}.in_flight")
        return SyscallStat(calls, errors, time_ns, unfinished, in_flight)

    def args(self, value: object, path: str) -> FrozenMap[tuple[int, ...]]:
        out = {}
        for index, v in self.map(value, path).items():
            arg_path = _member(path, index)
            if index not in ARG_INDEXES:
                self.fail(arg_path, f"{_q(index)} is not an argument index (0 to 5)")
            items = self.array(v, arg_path)
            ints = [self.integer(x, f"{arg_path}[{i}]", 0, ARG_MAX) for i, x in enumerate(items)]
            if len(set(ints)) != len(ints):
                dup = next(x for i, x in enumerate(ints) if x in ints[:i])
                self.fail(arg_path, f"{dup} appears more than once")
            out[index] = tuple(sorted(ints))
        return FrozenMap(out)


def decode(text: str, source: str) -> Profile:
    """Parse a profile strictly; ``source`` (a file name) starts every error message.

    Raises ProfileInvalid with one sentence naming the source and the JSON
    path of the first bad value: corrupt JSON, a wrong or newer format, an
    unknown or missing field, an unknown syscall, a negative count, a parent
    that is not an earlier process, ...
    """
    data = strict_json.loads(text, source, ProfileInvalid)
    return _Decoder(source).profile(data)


# --- merging --------------------------------------------------------------------------------

#: A node's position in the tree, independent of pids: for each node from the
#: root down, (executable, how created, ordinal among its siblings with the
#: same executable and creation in creation order).
_Path = tuple[tuple[str, str, int], ...]


def _paths(profile: Profile) -> list[_Path]:
    paths: list[_Path] = []
    ordinals: dict[tuple[_Path, str, str], int] = {}
    for node in profile.processes:
        parent: _Path = () if node.parent is None else paths[node.parent]
        sibling = (parent, node.executable, node.created.value)
        ordinal = ordinals.get(sibling, 0)
        ordinals[sibling] = ordinal + 1
        paths.append((*parent, (node.executable, node.created.value, ordinal)))
    return paths


T = TypeVar("T")


def _agree(a: T | None, b: T | None) -> T | None:
    """The common value, or None when the two differ (None absorbs)."""
    return a if a == b else None


@dataclass(slots=True)
class _PhaseAcc:
    trigger: str
    stats: dict[str, SyscallStat]
    args: dict[str, dict[str, set[int]]]

    def add(self, phase: Phase) -> None:
        self.trigger = min(self.trigger, phase.trigger)
        for key, stat in phase.syscalls.items():
            self.stats[key] = self.stats[key] + stat if key in self.stats else stat
        for key, by_arg in phase.arg_values.items():
            mine = self.args.setdefault(key, {})
            for index, values in by_arg.items():
                mine.setdefault(index, set()).update(values)


@dataclass(slots=True)
class _NodeAcc:
    created: NodeKind
    executable: str
    argv: tuple[str, ...]
    load_base: int | None
    entry: int | None
    exit: str | None
    phases: dict[tuple[int, str], _PhaseAcc]
    build_id: str | None = None

    def add(self, node: ProcessNode) -> None:
        self.argv = min(self.argv, node.argv)
        self.build_id = _agree(self.build_id, node.build_id)
        self.load_base = _agree(self.load_base, node.load_base)
        self.entry = _agree(self.entry, node.entry)
        self.exit = _agree(self.exit, node.exit)
        for phase in node.phases:
            acc = self.phases.get((phase.index, phase.name))
            if acc is None:
                acc = self.phases[(phase.index, phase.name)] = _PhaseAcc(phase.trigger, {}, {})
            acc.add(phase)


def merge_all(profiles: Iterable[Profile]) -> Profile:
    """Merge profiles of one architecture (see :func:`merge`); at least one is needed."""
    items = list(profiles)
    if not items:
        raise UsageError("nothing to merge: no profiles given")
    first = items[0]
    for other in items[1:]:
        if other.arch != first.arch:
            raise UsageError(
                f"cannot merge profiles of different architectures ({first.arch} and {other.arch})"
            )
    nodes: dict[_Path, _NodeAcc] = {}
    for profile in items:
        for path, node in zip(_paths(profile), profile.processes, strict=True):
            acc = nodes.get(path)
            if acc is None:
                acc = nodes[path] = _NodeAcc(
                    node.created,
                    node.executable,
                    node.argv,
                    node.load_base,
                    node.entry,
                    node.exit,
                    {},
                    node.build_id,
                )
            acc.add(node)
    order = sorted(nodes)
    ids = {path: i for i, path in enumerate(order)}
    processes = []
    for i, path in enumerate(order):
        acc = nodes[path]
        phases = tuple(
            Phase(
                index,
                name,
                p.trigger,
                FrozenMap(p.stats),
                FrozenMap(
                    (sc, FrozenMap((ix, tuple(sorted(vals))) for ix, vals in by_arg.items()))
                    for sc, by_arg in p.args.items()
                ),
            )
            for (index, name), p in sorted(acc.phases.items())
        )
        processes.append(
            ProcessNode(
                id=i,
                parent=ids[path[:-1]] if len(path) > 1 else None,
                created=acc.created,
                executable=acc.executable,
                argv=acc.argv,
                load_base=acc.load_base,
                entry=acc.entry,
                exit=acc.exit,
                phases=phases,
                build_id=acc.build_id,
            )
        )
    return Profile(
        command=min(p.command for p in items),
        arch=first.arch,
        runs=sum(p.runs for p in items),
        complete=all(p.complete for p in items),
        processes=tuple(processes),
    )


def merge(a: Profile, b: Profile) -> Profile:
    """Merge two profiles of one architecture; associative and commutative (exact ==).

    Nodes match by their path from the root (executable, how created, and
    ordinal among same-executable same-creation siblings), never by pid.
    Matched nodes: counters add, argument value sets unite, argv is the
    smaller, load_base/entry/exit are kept when equal and None otherwise.
    Phases match by (index, name); of differing triggers the smaller is kept.
    Profile: runs add, complete only if both are, the smaller command is kept.
    The result lists nodes in canonical depth-first order (siblings sorted by
    executable, creation, ordinal), so node ids may differ from the inputs'.
    Raises UsageError when the architectures differ.
    """
    return merge_all((a, b))


# --- statistics and diff --------------------------------------------------------------------


def _add(acc: dict[str, SyscallStat], syscalls_: Mapping[str, SyscallStat]) -> None:
    for key, stat in syscalls_.items():
        acc[key] = acc[key] + stat if key in acc else stat


def _stats_map(stats: Mapping[str, SyscallStat]) -> dict[str, dict[str, int]]:
    return {k: _stat_dict(stats[k]) for k in sorted(stats)}


def stats_json(profile: Profile) -> dict[str, object]:
    """The `stats --json` document (DESIGN.md), sorted keys, plus a few trailing keys.

    ``{"totals": {syscall: {"calls", "errors", "time_ns", "unfinished"}},
    "programs": {executable: {"processes": N, "phases": {phase name: {syscall: {...}}}}},
    "arch", "runs", "complete", "command"}``. Phases of one name (in any node
    of the program, at any index) are summed.
    """
    totals: dict[str, SyscallStat] = {}
    programs: dict[str, dict[str, dict[str, SyscallStat]]] = {}
    processes: dict[str, int] = {}
    for node in profile.processes:
        processes[node.executable] = processes.get(node.executable, 0) + 1
        phases = programs.setdefault(node.executable, {})
        for phase in node.phases:
            _add(totals, phase.syscalls)
            _add(phases.setdefault(phase.name, {}), phase.syscalls)
    return {
        "totals": _stats_map(totals),
        "programs": {
            exe: {
                "processes": processes[exe],
                "phases": {name: _stats_map(programs[exe][name]) for name in sorted(programs[exe])},
            }
            for exe in sorted(programs)
        },
        "arch": profile.arch,
        "runs": profile.runs,
        "complete": profile.complete,
        "command": list(profile.command),
    }


def _syscall_sets(profile: Profile) -> dict[str, dict[str, set[str]]]:
    out: dict[str, dict[str, set[str]]] = {}
    for node in profile.processes:
        phases = out.setdefault(node.executable, {})
        for phase in node.phases:
            phases.setdefault(phase.name, set()).update(phase.syscalls)
    return out


def distinct_syscalls(profile: Profile) -> dict[str, dict[str, int]]:
    """Number of distinct syscall keys per executable and phase name (over all its nodes)."""
    sets = _syscall_sets(profile)
    return {exe: {name: len(sets[exe][name]) for name in sorted(sets[exe])} for exe in sorted(sets)}


@dataclass(frozen=True, slots=True)
class PhaseDiff:
    """Syscalls of one phase (by name) that B adds to or removes from A."""

    name: str
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProgramDiff:
    """Changes of one executable; in_a/in_b say which profiles have it at all."""

    executable: str
    in_a: bool
    in_b: bool
    phases: tuple[PhaseDiff, ...]


@dataclass(frozen=True, slots=True)
class ProfileDiff:
    """What profile B adds and removes relative to A, per program and phase."""

    arch_a: str
    arch_b: str
    programs: tuple[ProgramDiff, ...]

    @property
    def empty(self) -> bool:
        return not self.programs


def _phase_order(*profiles: Profile) -> dict[tuple[str, str], int]:
    """(executable, phase name) -> rank of first appearance (nodes in id order, then B)."""
    first: dict[tuple[str, str], int] = {}
    for profile in profiles:
        for node in profile.processes:
            for phase in node.phases:
                first.setdefault((node.executable, phase.name), len(first))
    return first


def diff(a: Profile, b: Profile) -> ProfileDiff:
    """Per executable and phase name: syscall keys in B and not A (added), in A not B (removed).

    Programs are sorted by executable; phases by first appearance (A's
    nodes in id order, then B's). Programs and phases without changes are left out, except a program
    only one side has.
    """
    sets_a, sets_b = _syscall_sets(a), _syscall_sets(b)
    order = _phase_order(a, b)
    programs = []
    for exe in sorted(set(sets_a) | set(sets_b)):
        pa, pb = sets_a.get(exe, {}), sets_b.get(exe, {})
        names = sorted(set(pa) | set(pb), key=lambda n: order[(exe, n)])
        phases = []
        for name in names:
            sa, sb = pa.get(name, set()), pb.get(name, set())
            if sa != sb:
                phases.append(PhaseDiff(name, tuple(sorted(sb - sa)), tuple(sorted(sa - sb))))
        in_a, in_b = exe in sets_a, exe in sets_b
        if phases or in_a != in_b:
            programs.append(ProgramDiff(exe, in_a, in_b, tuple(phases)))
    return ProfileDiff(a.arch, b.arch, tuple(programs))
