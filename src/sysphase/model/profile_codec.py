"""The `sysphase-profile/1` JSON file: deterministic encoding and strict decoding.

docs/formats/profile.md describes the file; the JSON Schema ships as
``sysphase/schemas/profile.schema.json``. The fields of each kind of object
are declared once (:data:`OBJECTS`), for the decoder and for the test that
holds the schema and the dataclasses of :mod:`sysphase.model.profile` to them.
:func:`decode` refuses anything not exactly right with
:class:`sysphase.errors.ProfileInvalid`: one sentence naming the source and
the JSON path of the first bad value.

Pure: reading and writing files belongs to the callers.
"""

from __future__ import annotations

import json
import re
from typing import Final

from sysphase.errors import ProfileInvalid
from sysphase.model import strict_json, syscalls
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import (
    ARG_INDEXES,
    ARG_MAX,
    BUILD_ID,
    FORMAT_NAME,
    FORMAT_VERSION,
    Phase,
    ProcessNode,
    Profile,
    SyscallStat,
    split_key,
)
from sysphase.model.profile_codec_landlock import LANDLOCK, LandlockDecoder, landlock_dict
from sysphase.model.profile_codec_runs import (
    FIRST_SEEN,
    NODE_TIMES,
    SPREAD,
    TIMELINE,
    RunPartsDecoder,
    first_seen_dict,
    spread_dict,
    timeline_dict,
)
from sysphase.model.strict_json import Fields
from sysphase.model.strict_json import member as _member
from sysphase.model.strict_json import quote as _q
from sysphase.model.strict_json import show as _show
from sysphase.model.tree import NodeKind

__all__ = ["OBJECTS", "decode", "encode", "stat_to_dict", "to_dict"]

PROFILE: Final = Fields(
    ("format", "command", "arch", "runs", "complete", "processes"),
    ("fragment", "recording", "first_seen", "spread", "timelines", "paths_lost"),
)
PROCESS: Final = Fields(
    ("id", "parent", "created", "executable", "argv", "phases"),
    ("load_base", "entry", "exit", "build_id", "from_fragment"),
)
PHASE: Final = Fields(("index", "name", "trigger", "syscalls"), ("arg_values", "landlock"))
STAT: Final = Fields(("calls",), ("errors", "time_ns", "unfinished", "in_flight"))
#: The fields of every kind of object in a profile, by the schema's name for it
#: ("profile" is the document; the others are its "$defs").
OBJECTS: Final = {
    "profile": PROFILE,
    "process": PROCESS,
    "phase": PHASE,
    "stat": STAT,
    "firstSeen": FIRST_SEEN,
    "spread": SPREAD,
    "timeline": TIMELINE,
    "nodeTimes": NODE_TIMES,
    "landlock": LANDLOCK,
}


# --- JSON encoding --------------------------------------------------------------------------


def _hex(value: int | None) -> str | None:
    return None if value is None else f"{value:#x}"


def stat_to_dict(stat: SyscallStat) -> dict[str, int]:
    """A counter as JSON data: in_flight only when not 0."""
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
        "syscalls": {k: stat_to_dict(v) for k, v in phase.syscalls.items()},
        "arg_values": {
            sc: {i: list(vals) for i, vals in by_arg.items()}
            for sc, by_arg in phase.arg_values.items()
        },
        **({"landlock": landlock_dict(phase.landlock)} if phase.landlock is not None else {}),
    }


def to_dict(profile: Profile) -> dict[str, object]:
    """The profile as plain JSON data (fields in documentation order, map keys sorted).

    ``fragment`` and ``from_fragment`` are written only when true,
    ``first_seen`` only when not empty, a phase's ``landlock`` only when paths
    were recorded and ``paths_lost`` only when not 0, so a profile without them
    is written as before they existed.
    """
    return {
        "format": profile.format,
        "command": list(profile.command),
        "arch": profile.arch,
        "runs": profile.runs,
        "complete": profile.complete,
        **({"fragment": True} if profile.fragment else {}),
        **({"recording": dict(profile.recording)} if profile.recording else {}),
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
                **({"from_fragment": True} if n.from_fragment else {}),
                "phases": [_phase_dict(p) for p in n.phases],
            }
            for n in profile.processes
        ],
        **(
            {"first_seen": [first_seen_dict(f) for f in profile.first_seen]}
            if profile.first_seen
            else {}
        ),
        **({"spread": [spread_dict(x) for x in profile.spread]} if profile.spread else {}),
        **(
            {"timelines": [timeline_dict(t) for t in profile.timelines]}
            if profile.timelines
            else {}
        ),
        **({"paths_lost": profile.paths_lost} if profile.paths_lost else {}),
    }


def encode(profile: Profile) -> str:
    """The profile as JSON text: deterministic, 2-space indent, ASCII, ending in a newline.

    Non-ASCII text (and the lone surrogates os.fsdecode makes of undecodable
    path bytes) is written as \\u escapes, so the text is always valid UTF-8.
    """
    return json.dumps(to_dict(profile), indent=2) + "\n"


# --- strict decoding ------------------------------------------------------------------------


_HEX = re.compile(r"0[xX][0-9a-fA-F]{1,16}")


class _Decoder(RunPartsDecoder, LandlockDecoder):
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
        fields = self.obj(data, "$", *PROFILE)
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
        fragment = self.boolean(fields.get("fragment", False), "$.fragment")
        items = self.array(fields["processes"], "$.processes")
        processes = tuple(self.process(v, f"$.processes[{i}]", i) for i, v in enumerate(items))
        if fragment:
            for i, (value, node) in enumerate(zip(items, processes, strict=True)):
                self.fragment_process(value, node, f"$.processes[{i}]")
        seen = self.array(fields.get("first_seen", []), "$.first_seen")
        first_seen = tuple(self.first_seen(v, f"$.first_seen[{i}]") for i, v in enumerate(seen))
        recording = self.recording(fields.get("recording", {}), runs)
        items = self.array(fields.get("spread", []), "$.spread")
        spread = tuple(self.spread(v, f"$.spread[{i}]", runs) for i, v in enumerate(items))
        items = self.array(fields.get("timelines", []), "$.timelines")
        timelines = tuple(
            self.timeline(v, f"$.timelines[{i}]", len(processes)) for i, v in enumerate(items)
        )
        lost = self.integer(fields.get("paths_lost", 0), "$.paths_lost")
        return Profile(
            command,
            arch,
            runs,
            complete,
            processes,
            fragment,
            first_seen,
            recording,
            spread,
            timelines,
            lost,
        )

    def fragment_process(self, value: object, node: ProcessNode, path: str) -> None:
        """A process of a fragment (``"fragment": true``) must say it is from one."""
        if node.from_fragment:
            return
        if isinstance(value, dict) and "from_fragment" not in value:
            self.fail(path, 'missing field "from_fragment" (every process of a fragment has it)')
        self.fail(f"{path}.from_fragment", "must be true: every process of a fragment is from it")

    def process(self, value: object, path: str, position: int) -> ProcessNode:
        fields = self.obj(value, path, *PROCESS)
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
        from_fragment = self.boolean(fields.get("from_fragment", False), f"{path}.from_fragment")
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
            from_fragment,
        )

    def phase(self, value: object, path: str) -> Phase:
        fields = self.obj(value, path, *PHASE)
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
        landlock = None
        if "landlock" in fields:
            landlock = self.landlock(fields["landlock"], f"{path}.landlock")
        return Phase(index, name, trigger, FrozenMap(stats), FrozenMap(args), landlock)

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
        fields = self.obj(value, path, *STAT)
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
    that is not an earlier process, a fragment's process not marked from_fragment, ...
    """
    data = strict_json.loads(text, source, ProfileInvalid)
    return _Decoder(source).profile(data)
