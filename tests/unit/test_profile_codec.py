"""The `sysphase-profile/1` JSON: round trip, determinism, strict decoding, corrupt files."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sysphase.errors import ProfileInvalid
from sysphase.model.profile import FORMAT, Profile, SyscallStat
from sysphase.model.profile_codec import decode, encode, to_dict
from tests.unit.profile_samples import profiles, sample_profile
from tests.unit.shipped_schemas import schema_validator

# --- JSON round trip ------------------------------------------------------------------------


@settings(max_examples=150)
@given(profiles())
def test_round_trip(p: Profile) -> None:
    text = encode(p)
    assert decode(text, "p.json") == p
    assert encode(decode(text, "p.json")) == text
    assert text.isascii() and text.endswith("}\n")


def test_encoding_is_deterministic_with_hex_addresses() -> None:
    p = sample_profile()
    text = encode(p)
    assert text == encode(decode(text, "x"))
    data = json.loads(text)
    assert list(data) == ["format", "command", "arch", "runs", "complete", "processes"]
    sh = data["processes"][0]
    assert (sh["load_base"], sh["entry"]) == ("0x55d04a200000", "0x4760")
    assert list(sh["phases"][1]["syscalls"]) == ["epoll_wait", "i386:open", "x32:read"]
    assert data["format"] == FORMAT == "sysphase-profile/1"


def test_optional_fields_default() -> None:
    data = to_dict(sample_profile())
    proc = data["processes"][3]  # type: ignore[index]
    for key in ("load_base", "entry", "exit"):
        del proc[key]
    phase = proc["phases"][0]
    del phase["arg_values"]
    phase["syscalls"]["openat"] = {"calls": 4}
    p = decode(json.dumps(data), "x")
    ls = p.processes[3]
    assert (ls.load_base, ls.entry, ls.exit) == (None, None, None)
    assert ls.phases[0].syscalls["openat"] == SyscallStat(4, 0, 0, 0)
    assert ls.phases[0].arg_values == {}


# --- strict decoding ------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], object]


def _set(path: str, value: object) -> Mutation:
    """A mutation that sets data[...path...] = value (path like 'processes.0.phases')."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        target: Any = data
        for p in parents:
            target = target[p]
        target[last] = value

    return mutate


def _del(path: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        target: Any = data
        for p in parents:
            target = target[p]
        del target[last]

    return mutate


SC = "processes.0.phases.0.syscalls"
SCP = "$.processes[0].phases[0].syscalls"
BAD: list[tuple[str, Mutation, str, str, bool]] = [
    # (case, mutation, JSON path, message fragment, the schema rejects it too)
    ("newer", _set("format", "sysphase-profile/2"), "$.format",
     'format "sysphase-profile/2" is newer than this sysphase understands (sysphase-profile/1)',
     True),
    ("older", _set("format", "sysphase-profile/0"), "$.format", "no longer supported", True),
    ("foreign", _set("format", "sysphase-policy/1"), "$.format",
     "not a sysphase profile format", True),
    ("no format", _del("format"), "$", 'missing field "format"', True),
    ("unknown top", _set("foo", 1), "$.foo", 'unknown field "foo"', True),
    ("unknown in node", _set("processes.1.color", "red"), "$.processes[1].color",
     'unknown field "color"', True),
    ("unknown in stat", _set(f"{SC}.read.max", 1), f"{SCP}.read.max", 'unknown field "max"',
     True),
    ("missing argv", _del("processes.2.argv"), "$.processes[2]", 'missing field "argv"', True),
    ("unknown syscall", _set(f"{SC}.opnat", {"calls": 1}), f"{SCP}.opnat",
     'unknown syscall "opnat" for x86_64', False),
    ("unknown i386 syscall", _set(f"{SC}.i386:opnat", {"calls": 1}),
     f'{SCP}["i386:opnat"]', 'unknown syscall "opnat" for i386', False),
    ("unknown abi", _set(f"{SC}.mips:read", {"calls": 1}), f'{SCP}["mips:read"]',
     'unknown architecture "mips"', True),
    ("own abi prefix", _set(f"{SC}.x86_64:read", {"calls": 1}), f'{SCP}["x86_64:read"]',
     'write "read"', False),
    ("negative calls", _set(f"{SC}.openat.calls", -3), f"{SCP}.openat.calls", "-3 is negative",
     True),
    ("negative time", _set(f"{SC}.read.time_ns", -1), f"{SCP}.read.time_ns", "-1 is negative",
     True),
    ("errors above calls", _set(f"{SC}.openat.errors", 9), f"{SCP}.openat.errors",
     "9 is more than the calls (2)", False),
    ("bool count", _set(f"{SC}.read.calls", True), f"{SCP}.read.calls",
     "expected an integer, got true", True),
    ("float count", _set(f"{SC}.read.calls", 1.5), f"{SCP}.read.calls",
     "expected an integer, got 1.5", True),
    ("string count", _set(f"{SC}.read.calls", "3"), f"{SCP}.read.calls",
     'expected an integer, got "3"', True),
    ("id", _set("processes.1.id", 7), "$.processes[1].id", "7 is not the process's position (1)",
     False),
    ("parent later", _set("processes.1.parent", 1), "$.processes[1].parent",
     "1 does not refer to an earlier process", False),
    ("created", _set("processes.1.created", "spork"), "$.processes[1].created",
     'unknown creation "spork"', True),
    ("address", _set("processes.0.load_base", 1234), "$.processes[0].load_base",
     "expected null or a hex string", True),
    ("arch", _set("arch", "mips"), "$.arch", 'unknown architecture "mips"', True),
    ("runs", _set("runs", 0), "$.runs", "0 is below 1", True),
    ("complete", _set("complete", "yes"), "$.complete", 'expected true or false, got "yes"',
     True),
    ("argv item", _set("processes.3.argv", ["ls", 3]), "$.processes[3].argv[1]",
     "expected a string, got 3", True),
    ("processes", _set("processes", {}), "$.processes", "expected an array, got an object", True),
    ("phase name", _set("processes.0.phases.1.name", ""), "$.processes[0].phases[1].name",
     "must not be empty", True),
    ("duplicate phase", lambda d: d["processes"][0]["phases"].append(d["processes"][0]["phases"][0]),  # noqa: E501
     "$.processes[0].phases[2]",
     'phase 0 "start" appears more than once', False),
    ("args of an absent syscall", _set("processes.0.phases.0.arg_values", {"write": {}}),
     '$.processes[0].phases[0].arg_values.write', "is not in the syscalls", False),
    ("arg index", _set("processes.0.phases.0.arg_values", {"read": {"6": [1]}}),
     '$.processes[0].phases[0].arg_values.read["6"]', "not an argument index", True),
    ("arg value range", _set("processes.0.phases.0.arg_values", {"read": {"0": [2**64]}}),
     '$.processes[0].phases[0].arg_values.read["0"][0]', "is above", True),
    ("arg value repeated", _set("processes.0.phases.0.arg_values", {"read": {"0": [1, 1]}}),
     '$.processes[0].phases[0].arg_values.read["0"]', "1 appears more than once", True),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "path", "fragment"), [b[1:4] for b in BAD],
                         ids=[b[0] for b in BAD])  # fmt: skip
def test_strict_decoding_names_file_and_path(mutate: Mutation, path: str, fragment: str) -> None:
    data = to_dict(sample_profile())
    mutate(data)
    with pytest.raises(ProfileInvalid) as info:
        decode(json.dumps(data), "profile.json")
    message = str(info.value)
    assert message.startswith(f"profile.json: {path}: "), message
    assert fragment in message
    assert "\n" not in message
    assert ProfileInvalid.exit_code == 1


@pytest.mark.parametrize("mutate", [b[1] for b in BAD if b[4]], ids=[b[0] for b in BAD if b[4]])
def test_the_schema_rejects_what_it_can_express(mutate: Mutation) -> None:
    validator = schema_validator("profile")
    data = to_dict(sample_profile())
    validator.validate(data)
    mutate(data)
    assert not validator.is_valid(data)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{\n  "format": "sysphase-profile/1"\n  "x": 1}', r"line 3, column 3: Expecting ','"),
        ("", r"line 1, column 1: Expecting value"),
        ('{"format": NaN}', r"NaN is not allowed"),
        ("[1, 2]", None),
    ],
)
def test_corrupt_files(text: str, expected: str | None) -> None:
    with pytest.raises(ProfileInvalid) as info:
        decode(text, "profile.json")
    message = str(info.value)
    assert "\n" not in message
    if expected is None:
        assert message == "profile.json: $: expected an object, got an array"
    else:
        assert message.startswith("profile.json: not valid JSON (")
        assert re.search(expected, message), message


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def _leaves(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(data, dict):
        items: Any = data.items()
    elif isinstance(data, list):
        items = enumerate(data)
    else:
        return [path]
    return [path] + [leaf for k, v in items for leaf in _leaves(v, (*path, k))]


@settings(max_examples=200)
@given(st.data())
def test_any_damage_is_one_sentence_or_a_profile(data: st.DataObject) -> None:
    doc: Any = to_dict(sample_profile())
    path = data.draw(st.sampled_from(_leaves(doc)[1:]))
    target = doc
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = data.draw(JSON_VALUES)
    try:
        p = decode(json.dumps(doc), "p.json")
    except ProfileInvalid as err:
        assert str(err).startswith("p.json: ") and "\n" not in str(err)
    else:
        assert decode(encode(p), "p.json") == p


@settings(max_examples=100)
@given(st.text(max_size=30) | JSON_VALUES.map(json.dumps))
def test_junk_is_refused_in_one_sentence(text: str) -> None:
    with pytest.raises(ProfileInvalid) as info:
        decode(text, "p.json")
    assert "\n" not in str(info.value)


def test_a_repeated_key_is_an_error() -> None:
    text = encode(sample_profile()).replace('"runs": 1,', '"runs": 1,\n  "runs": 2,')
    with pytest.raises(ProfileInvalid, match=r'^p\.json: \$\.runs: field "runs" appears more'):
        decode(text, "p.json")


def test_unsorted_phases_and_arg_values_are_put_in_order() -> None:
    data = to_dict(sample_profile())
    sh = data["processes"][0]  # type: ignore[index]
    sh["phases"].reverse()
    sh["phases"][1]["arg_values"] = {"read": {"0": [5, 3, 4]}}
    p = decode(json.dumps(data), "x")
    assert [ph.name for ph in p.processes[0].phases] == ["start", "serve"]
    assert p.processes[0].phases[0].arg_values["read"]["0"] == (3, 4, 5)
