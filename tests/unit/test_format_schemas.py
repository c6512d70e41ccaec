"""The profile and policy formats are written three times; these tests hold the three together.

Each format has dataclasses (``model/profile.py``, ``policy/ir.py``), a strict
decoder whose fields are declared once per kind of object (``OBJECTS`` in
``model/profile_codec.py`` and ``policy/codec.py``) and a JSON Schema
(``schemas/*.schema.json``). For every kind of object: the schema's
``properties`` and ``required`` are the decoder's fields and required fields,
the dataclass fields are those fields (the few renamed ones mapped below),
the encoder writes every field in the schema's order, and taking a field
away is refused by the decoder exactly when the schema refuses it. Every
profile the strategies draw validates against the schema.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import find, given, settings

from sysphase.errors import SysphaseError
from sysphase.model import profile_codec
from sysphase.model.frozen import FrozenMap
from sysphase.model.landlock_needs import LandlockNeeds
from sysphase.model.profile import (
    FORMAT,
    FirstSeen,
    Phase,
    ProcessNode,
    Profile,
    Spread,
    SyscallStat,
)
from sysphase.model.strict_json import Fields
from sysphase.model.timeline import CallTimes, NodeTimes, PhaseBegan, Timeline
from sysphase.policy import codec as policy_codec
from sysphase.policy.ir import (
    AllowedCall,
    ArgCondition,
    LandlockRule,
    LandlockSection,
    Policy,
    PolicyPhase,
    ProgramPolicy,
    Provenance,
    RefusedCall,
    Rule,
)
from tests.unit.profile_samples import profiles, sample_profile
from tests.unit.shipped_schemas import load_schema, schema_validator

Walk = Callable[[Any], Iterator[tuple[str, dict[str, Any]]]]


def _profile_objects(doc: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object of an encoded profile with its kind, in document order."""
    yield "profile", doc
    for process in doc["processes"]:
        yield "process", process
        for phase in process["phases"]:
            yield "phase", phase
            for stat in phase["syscalls"].values():
                yield "stat", stat
            if "landlock" in phase:
                yield "landlock", phase["landlock"]
    for item in doc.get("first_seen", []):
        yield "firstSeen", item
    for item in doc.get("spread", []):
        yield "spread", item
    for timeline in doc.get("timelines", []):
        yield "timeline", timeline
        for node in timeline["nodes"]:
            yield "nodeTimes", node


def _policy_objects(doc: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every object of an encoded policy with its kind, in document order."""
    yield "policy", doc
    yield "options", doc["options"]
    for program in doc["programs"]:
        yield "program", program
        for phase in program["phases"]:
            yield "phase", phase
            for call in phase["allowed"]:
                yield "allowed", call
                for alternative in call.get("when", []):
                    for condition in alternative:
                        yield "condition", condition
                for item in call.get("provenance", []):
                    yield "provenance", item
            for refused in phase.get("refused", []):
                yield "refused", refused
                for item in refused.get("provenance", []):
                    yield "provenance", item
            if "landlock" in phase:
                yield "landlock", phase["landlock"]
                for rule in phase["landlock"]["rules"]:
                    yield "landlockRule", rule


def _full_profile() -> Profile:
    """The sample profile with every optional field set (build_id, in_flight, fragment, ...)."""
    p = sample_profile()
    sh = p.processes[0]
    start = sh.phases[0]
    read = dataclasses.replace(start.syscalls["read"], in_flight=1)
    landlock = LandlockNeeds(
        FrozenMap({"/etc/passwd": ("read_file",), "/tmp": ("remove_file", "make_reg")}),
        ("/tmp/cache",),
        (8080,),
        (443,),
        True,
        5,
    )
    start = dataclasses.replace(
        start,
        syscalls=FrozenMap({**start.syscalls, "read": read}),
        arg_values=FrozenMap({"read": FrozenMap({"0": (0, 3)})}),
        landlock=landlock,
    )
    sh = dataclasses.replace(sh, phases=(start, *sh.phases[1:]), build_id="3f5c1ab2d9e07c44")
    # a fragment: every process from_fragment (the decoder and the schema's "if" insist)
    nodes = [dataclasses.replace(n, from_fragment=True) for n in (sh, *p.processes[1:])]
    seen = (FirstSeen((0, 2), sh.executable, "start", "read", "greet", "SET"),)
    spread = (Spread(sh.executable, "start", "read", 1, 2, 2),)
    return dataclasses.replace(
        p,
        processes=tuple(nodes),
        fragment=True,
        first_seen=seen,
        recording=FrozenMap({"full": p.runs}),
        spread=spread,
        paths_lost=3,
        timelines=(
            Timeline(
                "full",
                (
                    NodeTimes(
                        0,
                        0,
                        900,
                        (PhaseBegan("start", 0),),
                        (CallTimes("start", "read", 10, 20),),
                    ),
                ),
            ),
        ),
    )


def _full_policy() -> Policy:
    """A small policy with every optional field set (build_id, mask, refused, ...)."""
    where = Provenance("/bin/sh", "start", 2)
    conditions = (ArgCondition(0, "eq", 3), ArgCondition(1, "masked_eq", 1, 3))
    start = PolicyPhase(
        "start",
        "start",
        (
            AllowedCall(Rule("read", (conditions,)), (where,), "always added", "a note"),
            AllowedCall(Rule("write")),
        ),
        (RefusedCall("i386:open", (where,), "another ABI"),),
    )
    rule = LandlockRule("/etc", ("read_file",), ("directory",), 3, ("/etc/a", "/etc/b"))
    landlock = LandlockSection(
        7, ("write_file", "read_file"), ("bind_tcp",), ("signal",), (rule,), (80,), (), "a note"
    )
    start = dataclasses.replace(start, landlock=landlock)
    serve = PolicyPhase("serve", "syscall:epoll_wait", (AllowedCall(Rule("write")),))
    program = ProgramPolicy("/bin/sh", (start, serve), "3f5c1ab2d9e07c44")
    options = FrozenMap({"args": True, "portable": False})
    return Policy("x86_64", "kill", (program,), ("sh", "-c", "x"), options)


@dataclasses.dataclass(frozen=True)
class Format:
    """One format's three definitions, and what maps them onto each other."""

    objects: dict[str, Fields]  # the codec's field declarations, by kind of object
    locations: dict[str, tuple[str, ...]]  # where each kind's object schema is in the schema
    classes: dict[str, type]  # the dataclass of each kind
    renamed: dict[tuple[str, str], tuple[str, ...]]  # (kind, dataclass field) -> JSON fields
    json_only: dict[str, set[str]]  # JSON fields no dataclass field holds
    full: Callable[[], str]  # an encoding with every optional field present
    decode: Callable[[str, str], object]
    walk: Walk


FORMATS = {
    "profile": Format(
        objects=profile_codec.OBJECTS,
        locations={
            "profile": (),
            "process": ("$defs", "process"),
            "phase": ("$defs", "phase"),
            "stat": ("$defs", "stat"),
            "firstSeen": ("$defs", "firstSeen"),
            "spread": ("$defs", "spread"),
            "timeline": ("$defs", "timeline"),
            "nodeTimes": ("$defs", "nodeTimes"),
            "landlock": ("$defs", "landlock"),
        },
        classes={
            "profile": Profile,
            "process": ProcessNode,
            "phase": Phase,
            "stat": SyscallStat,
            "firstSeen": FirstSeen,
            "spread": Spread,
            "timeline": Timeline,
            "nodeTimes": NodeTimes,
            "landlock": LandlockNeeds,
        },
        renamed={},
        # Profile.format is a ClassVar (the constant FORMAT), not a field
        json_only={"profile": {"format"}},
        full=lambda: profile_codec.encode(_full_profile()),
        decode=profile_codec.decode,
        walk=_profile_objects,
    ),
    "policy": Format(
        objects=policy_codec.OBJECTS,
        locations={
            "policy": (),
            "options": ("properties", "options"),
            "program": ("$defs", "program"),
            "phase": ("$defs", "phase"),
            "allowed": ("$defs", "allowed"),
            "condition": ("$defs", "condition"),
            "provenance": ("$defs", "provenance", "items"),
            "refused": ("$defs", "refused"),
            "landlock": ("$defs", "landlock"),
            "landlockRule": ("$defs", "landlockRule"),
        },
        classes={
            "policy": Policy,
            "program": ProgramPolicy,
            "phase": PolicyPhase,
            "allowed": AllowedCall,
            "condition": ArgCondition,
            "provenance": Provenance,
            "refused": RefusedCall,
            "landlock": LandlockSection,
            "landlockRule": LandlockRule,
        },
        # AllowedCall.rule is written as the Rule's own fields
        renamed={("allowed", "rule"): tuple(f.name for f in dataclasses.fields(Rule))},
        # Policy has no format attribute: the codec writes policy_codec.FORMAT
        json_only={"policy": {"format"}},
        full=lambda: policy_codec.encode(_full_policy()),
        decode=policy_codec.decode,
        walk=_policy_objects,
    ),
}
KINDS = [(name, kind) for name, fmt in FORMATS.items() for kind in fmt.objects]
FIELDS = [
    (name, kind, field) for name, fmt in FORMATS.items() for kind in fmt.objects
    for field in fmt.objects[kind].names
]  # fmt: skip


def _object_schema(name: str, kind: str) -> dict[str, Any]:
    node: Any = load_schema(name)
    for key in FORMATS[name].locations[kind]:
        node = node[key]
    assert isinstance(node, dict)
    return node


def _object_locations(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Where a schema describes an object with named properties."""
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            yield path
        for key, value in node.items():
            yield from _object_locations(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _object_locations(value, (*path, str(i)))


@pytest.mark.parametrize("name", FORMATS)
def test_every_kind_of_object_in_the_schema_is_declared_by_the_codec(name: str) -> None:
    fmt = FORMATS[name]
    assert set(fmt.locations) == set(fmt.objects)
    assert sorted(_object_locations(load_schema(name))) == sorted(fmt.locations.values())


@pytest.mark.parametrize(("name", "kind"), KINDS, ids=[f"{n}-{k}" for n, k in KINDS])
def test_schema_properties_and_required_are_the_decoders_fields(name: str, kind: str) -> None:
    fields = FORMATS[name].objects[kind]
    schema = _object_schema(name, kind)
    assert set(schema["properties"]) == set(fields.names)
    assert len(fields.names) == len(set(fields.names))
    assert set(schema["required"]) == set(fields.required)
    # no other fields: closed, directly or in both branches of an if (a condition's mask;
    # a fragment's "if" only adds a requirement to a closed object)
    branches = [schema] if "else" not in schema else [schema["then"], schema["else"]]
    assert all(b["additionalProperties"] is False for b in branches)


@pytest.mark.parametrize(("name", "kind"), KINDS, ids=[f"{n}-{k}" for n, k in KINDS])
def test_dataclass_fields_are_the_formats_fields(name: str, kind: str) -> None:
    fmt = FORMATS[name]
    names = set(fmt.objects[kind].names)
    if kind not in fmt.classes:  # the policy's options: a FrozenMap of booleans
        (options,) = [f for f in dataclasses.fields(Policy) if f.name == "options"]
        assert set(options.default) == names == set(policy_codec.OPTIONS)  # type: ignore[arg-type]
        return
    written = {
        json_name
        for f in dataclasses.fields(fmt.classes[kind])
        for json_name in fmt.renamed.get((kind, f.name), (f.name,))
    }
    assert written | fmt.json_only.get(kind, set()) == names
    assert not written & fmt.json_only.get(kind, set())


def test_the_renamed_and_json_only_fields_are_what_they_claim() -> None:
    assert Profile.format == FORMAT == load_schema("profile")["properties"]["format"]["const"]
    assert not hasattr(Policy, "format")
    assert load_schema("policy")["properties"]["format"]["const"] == policy_codec.FORMAT
    assert next(f.name for f in dataclasses.fields(AllowedCall)) == "rule"


@pytest.mark.parametrize("name", FORMATS)
def test_the_encoder_writes_every_field_in_the_schemas_order(name: str) -> None:
    fmt = FORMATS[name]
    doc = json.loads(fmt.full())
    schema_validator(name).validate(doc)
    seen: dict[str, set[str]] = {kind: set() for kind in fmt.objects}
    for kind, obj in fmt.walk(doc):
        order = list(_object_schema(name, kind)["properties"])
        assert list(obj) == [k for k in order if k in obj], (kind, list(obj))
        seen[kind] |= set(obj)
    assert seen == {kind: set(fields.names) for kind, fields in fmt.objects.items()}


@pytest.mark.parametrize(
    ("name", "kind", "field"), FIELDS, ids=[f"{n}-{k}-{f}" for n, k, f in FIELDS]
)
def test_a_field_taken_away_is_refused_by_decoder_and_schema_alike(
    name: str, kind: str, field: str
) -> None:
    fmt = FORMATS[name]
    doc = json.loads(fmt.full())
    objects = list(fmt.walk(doc))
    index = next(i for i, (k, obj) in enumerate(objects) if k == kind and field in obj)
    del objects[index][1][field]
    try:
        fmt.decode(json.dumps(doc), "x.json")
    except SysphaseError as err:
        decoded, message = False, str(err)
    else:
        decoded, message = True, ""
    assert decoded == schema_validator(name).is_valid(doc), message
    # a masked_eq condition needs its (otherwise optional) mask, and a fragment's process its
    # from_fragment (the full sample is a fragment): the schema says so with an if
    required = field in fmt.objects[kind].required or (kind, field) in (
        ("condition", "mask"),
        ("process", "from_fragment"),
    )
    assert decoded != required, message
    if required:
        assert f'missing field "{field}"' in message


def test_the_recently_added_optional_fields_are_covered() -> None:
    assert "build_id" in profile_codec.OBJECTS["process"].optional
    assert "in_flight" in profile_codec.OBJECTS["stat"].optional
    assert "build_id" in policy_codec.OBJECTS["program"].optional
    assert "fragment" in profile_codec.OBJECTS["profile"].optional
    assert "from_fragment" in profile_codec.OBJECTS["process"].optional
    assert "landlock" in profile_codec.OBJECTS["phase"].optional
    assert "paths_lost" in profile_codec.OBJECTS["profile"].optional
    assert "landlock" in policy_codec.OBJECTS["phase"].optional
    # the strategies draw them, so the round trip and schema tests see them
    find(profiles(), lambda p: any(ph.landlock for n in p.processes for ph in n.phases))
    find(profiles(), lambda p: p.paths_lost > 0)
    find(profiles(), lambda p: any(n.build_id for n in p.processes))
    find(profiles(), lambda p: p.fragment and len(p.processes) > 1)
    find(profiles(), lambda p: not p.fragment and any(n.from_fragment for n in p.processes))
    find(
        profiles(),
        lambda p: any(s.in_flight for n in p.processes for ph in n.phases
                      for s in ph.syscalls.values()),
    )  # fmt: skip


# --- the generated profiles -----------------------------------------------------------------


@settings(max_examples=60)
@given(profiles())
def test_encoded_profiles_match_the_shipped_schema(p: Profile) -> None:
    schema_validator("profile").validate(json.loads(profile_codec.encode(p)))


def test_schema_title_names_the_format() -> None:
    assert load_schema("profile")["title"] == FORMAT
    assert load_schema("profile")["properties"]["format"] == {"const": FORMAT}


def test_the_full_samples_round_trip() -> None:
    p = _full_profile()
    assert profile_codec.decode(profile_codec.encode(p), "p.json") == p
    policy = _full_policy()
    assert policy_codec.decode(policy_codec.encode(policy), "p.json") == policy
