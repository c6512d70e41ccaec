"""The `sysphase-policy/1` JSON: round trip, determinism, the shipped schema, strict decoding."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sysphase.errors import PolicyInvalid
from sysphase.model import syscalls
from sysphase.model.frozen import FrozenMap
from sysphase.policy.codec import FORMAT, decode, encode, to_dict
from sysphase.policy.ir import (
    ARG_MAX,
    AllowedCall,
    ArgCondition,
    Policy,
    PolicyPhase,
    ProgramPolicy,
    Provenance,
    RefusedCall,
    Rule,
)

STORED = Path(__file__).resolve().parent / "snapshots" / "policy" / "server.sysphase.json"

# --- policies from Hypothesis ---------------------------------------------------------------

NAMES = sorted(syscalls.names("x86_64"))
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
u64 = st.integers(0, ARG_MAX)


@st.composite
def conditions(draw: st.DrawFn) -> ArgCondition:
    index = draw(st.integers(0, 5))
    op = draw(st.sampled_from(["eq", "ne", "masked_eq"]))
    if op == "masked_eq":
        mask = draw(u64)
        return ArgCondition(index, "masked_eq", draw(u64) & mask, mask)
    return ArgCondition(index, "eq" if op == "eq" else "ne", draw(u64))


provenances = st.lists(
    st.builds(Provenance, text, text.filter(bool), st.integers(0, 10**9)), max_size=3
).map(tuple)
alternatives = st.lists(st.lists(conditions(), min_size=1, max_size=3).map(tuple), max_size=3).map(
    tuple
)
refused = st.builds(
    RefusedCall,
    st.sampled_from(["i386:open", "x32:read", "i386:getpid"]),
    provenances,
    text,
)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    programs = []
    for exe in draw(st.lists(text, min_size=1, max_size=3, unique=True)):
        pool = sorted(draw(st.lists(st.sampled_from(NAMES), max_size=6, unique=True)))
        phases = []
        for i in range(draw(st.integers(1, 3))):
            allowed = tuple(
                AllowedCall(
                    Rule(name, draw(alternatives)),
                    draw(provenances),
                    draw(st.none() | text),
                    draw(st.none() | text),
                )
                for name in pool
            )
            name = f"p{i}" + draw(text)
            trigger = draw(st.sampled_from(["start", "syscall:epoll_wait", "marker", "é"]))
            phases.append(
                PolicyPhase(name, trigger, allowed, tuple(draw(st.lists(refused, max_size=2))))
            )
            pool = sorted(draw(st.lists(st.sampled_from(pool), unique=True))) if pool else []
        build_id = draw(st.sampled_from(["", "00", "3f5c1ab2d9e07c44"]))
        programs.append(ProgramPolicy(exe, tuple(phases), build_id))
    return Policy(
        "x86_64",
        draw(st.sampled_from(["kill", "errno", "trap", "log"])),
        tuple(programs),
        tuple(draw(st.lists(text, max_size=3))),
        FrozenMap({"args": draw(st.booleans()), "portable": draw(st.booleans())}),
    )


@settings(max_examples=100)
@given(policies())
def test_round_trip(policy: Policy) -> None:
    encoded = encode(policy)
    assert decode(encoded, "p.json") == policy
    assert encode(decode(encoded, "p.json")) == encoded
    assert encoded.isascii() and encoded.endswith("}\n")


def test_the_stored_policy_round_trips_and_is_laid_out_by_line() -> None:
    stored = STORED.read_text()
    policy = decode(stored, str(STORED))
    assert encode(policy) == stored
    data = json.loads(stored)
    assert list(data) == ["format", "command", "arch", "default_action", "options", "programs"]
    assert data["format"] == FORMAT == "sysphase-policy/1"
    # one line per allowed syscall
    lines = stored.splitlines()
    allowed = sum(len(p.allowed) for prog in policy.programs for p in prog.phases)
    assert sum(1 for line in lines if line.lstrip().startswith('{"syscall": ')) == allowed + 2


def test_optional_fields_default() -> None:
    data = to_dict(decode(STORED.read_text(), "x"))
    phase = data["programs"][0]["phases"][1]  # type: ignore[index]
    del phase["refused"]
    call = phase["allowed"][0]
    for key in ("when", "provenance", "reason", "note"):
        del call[key]
    policy = decode(json.dumps(data), "x")
    serve = policy.programs[0].phases[1]
    assert serve.refused == ()
    assert serve.allowed[0] == AllowedCall(Rule("accept4"))


# --- schema ---------------------------------------------------------------------------------


def _schema() -> dict[str, Any]:
    ref = resources.files("sysphase") / "schemas" / "policy.schema.json"
    data: dict[str, Any] = json.loads(ref.read_text())
    return data


def _validator() -> Any:
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema is not installed (pip install -e .[test] installs it)"
    )
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@settings(max_examples=40)
@given(policies())
def test_encoded_policies_match_the_shipped_schema(policy: Policy) -> None:
    _validator().validate(json.loads(encode(policy)))


def test_the_stored_policy_matches_the_schema() -> None:
    _validator().validate(json.loads(STORED.read_text()))
    assert _schema()["title"] == FORMAT
    assert _schema()["properties"]["format"] == {"const": FORMAT}


# --- strict decoding ------------------------------------------------------------------------

Mutation = tuple[str, Callable[[dict[str, Any]], object], str, str, bool]


def _set(path: list[Any], value: object) -> Callable[[dict[str, Any]], object]:
    def go(d: dict[str, Any]) -> None:
        for key in path[:-1]:
            d = d[key]
        d[path[-1]] = value

    return go


def _del(path: list[Any]) -> Callable[[dict[str, Any]], object]:
    def go(d: dict[str, Any]) -> None:
        for key in path[:-1]:
            d = d[key]
        del d[path[-1]]

    return go


START = ["programs", 0, "phases", 0]
SERVE = ["programs", 0, "phases", 1]
CALL = [*START, "allowed", 0]
MMAP_COND = [*START, "allowed", 11, "when", 0, 0]

# (case, mutation, JSON path, message fragment, the schema rejects it too)
MUTATIONS: list[Mutation] = [
    ("format missing", _del(["format"]), "$", 'missing field "format"', True),
    (
        "newer format",
        _set(["format"], "sysphase-policy/2"),
        "$.format",
        "is newer than this sysphase understands",
        True,
    ),
    (
        "a profile",
        _set(["format"], "sysphase-profile/1"),
        "$.format",
        "is not a sysphase policy format",
        True,
    ),
    ("unknown field", _set(["color"], 1), "$.color", 'unknown field "color"', True),
    ("bad arch", _set(["arch"], "mips"), "$.arch", 'unknown architecture "mips"', True),
    (
        "bad action",
        _set(["default_action"], "allow"),
        "$.default_action",
        'unknown default action "allow"',
        True,
    ),
    ("option missing", _del(["options", "args"]), "$.options", 'missing field "args"', True),
    ("option type", _set(["options", "args"], 1), "$.options.args", "expected true or false", True),
    ("no programs", _set(["programs"], []), "$.programs", "must not be empty", True),
    ("no phases", _set(["programs", 1, "phases"], []), "$.programs[1].phases", "empty", True),
    (
        "empty phase name",
        _set([*START, "name"], ""),
        "$.programs[0].phases[0].name",
        "must not be empty",
        True,
    ),
    (
        "unknown syscall",
        _set([*CALL, "syscall"], "acept4"),
        "$.programs[0].phases[0].allowed[0].syscall",
        'unknown syscall "acept4" for x86_64',
        False,
    ),
    (
        "other ABI allowed",
        _set([*CALL, "syscall"], "i386:open"),
        "$.programs[0].phases[0].allowed[0].syscall",
        'unknown syscall "i386:open"',
        True,
    ),
    (
        "index too big",
        _set([*MMAP_COND, "index"], 6),
        "$.programs[0].phases[0].allowed[11].when[0][0].index",
        "6 is above 5",
        True,
    ),
    (
        "unknown op",
        _set([*MMAP_COND, "op"], "gt"),
        "$.programs[0].phases[0].allowed[11].when[0][0].op",
        'unknown comparison "gt"',
        True,
    ),
    (
        "masked_eq without mask",
        _del([*MMAP_COND, "mask"]),
        "$.programs[0].phases[0].allowed[11].when[0][0]",
        'missing field "mask"',
        True,
    ),
    (
        "mask with eq",
        _set([*MMAP_COND, "op"], "eq"),
        "$.programs[0].phases[0].allowed[11].when[0][0].mask",
        'a mask only goes with "masked_eq"',
        True,
    ),
    (
        "value outside mask",
        _set([*MMAP_COND, "value"], 8),
        "$.programs[0].phases[0].allowed[11].when[0][0].value",
        "0x8 has bits outside the mask 0x4",
        False,
    ),
    (
        "value too big",
        _set([*MMAP_COND, "value"], 2**64),
        "$.programs[0].phases[0].allowed[11].when[0][0].value",
        "is above 18446744073709551615",
        True,
    ),
    (
        "empty alternative",
        _set([*CALL, "when"], [[]]),
        "$.programs[0].phases[0].allowed[0].when[0]",
        "must not be empty",
        True,
    ),
    (
        "negative calls",
        _set([*CALL, "provenance", 0, "calls"], -1),
        "$.programs[0].phases[0].allowed[0].provenance[0].calls",
        "-1 is negative",
        True,
    ),
    (
        "boolean calls",
        _set([*CALL, "provenance", 0, "calls"], True),
        "$.programs[0].phases[0].allowed[0].provenance[0].calls",
        "expected an integer, got true",
        True,
    ),
    (
        "reason type",
        _set([*CALL, "reason"], 3),
        "$.programs[0].phases[0].allowed[0].reason",
        "expected a string, got 3",
        True,
    ),
    (
        "refused unknown",
        _set([*START, "refused", 0, "syscall"], "i386:nope"),
        "$.programs[0].phases[0].refused[0].syscall",
        'unknown syscall "nope" for i386',
        False,
    ),
    (
        "later phase wider",
        _set([*SERVE, "allowed", 0, "syscall"], "kexec_load"),
        "$.programs[0].phases[1].allowed[0].syscall",
        '"kexec_load" is not allowed by the earlier phase "start", and filters only narrow',
        False,
    ),
    (
        "duplicate syscall",
        _set([*START, "allowed", 1, "syscall"], "accept4"),
        "$.programs[0].phases[0].allowed[1].syscall",
        '"accept4" appears more than once',
        False,
    ),
    (
        "duplicate phase",
        _set([*SERVE, "name"], "start"),
        "$.programs[0].phases[1].name",
        'phase "start" appears more than once',
        False,
    ),
    (
        "duplicate program",
        _set(["programs", 1, "executable"], "/usr/bin/server"),
        "$.programs[1].executable",
        'program "/usr/bin/server" appears more than once',
        False,
    ),
]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_strict_decoding_names_the_path(mutation: Mutation) -> None:
    _, mutate, path, fragment, _ = mutation
    data = json.loads(STORED.read_text())
    mutate(data)
    with pytest.raises(PolicyInvalid) as err:
        decode(json.dumps(data), "policy.json")
    message = str(err.value)
    assert message.startswith(f"policy.json: {path}: "), message
    assert fragment in message, message
    assert "\n" not in message


@pytest.mark.parametrize(
    "mutation", [m for m in MUTATIONS if m[4]], ids=[m[0] for m in MUTATIONS if m[4]]
)
def test_the_schema_rejects_what_it_can_express(mutation: Mutation) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    data = json.loads(STORED.read_text())
    mutation[1](data)
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(data)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{", "not valid JSON (line 1, column 2"),
        ("[]", "$: expected an object, got an array"),
        ('{"format": NaN}', "not valid JSON (NaN is not allowed)"),
    ],
)
def test_not_json(text: str, fragment: str) -> None:
    with pytest.raises(PolicyInvalid, match=r"^p\.json: ") as err:
        decode(text, "p.json")
    assert fragment in str(err.value)


def test_duplicate_keys_are_refused() -> None:
    stored = STORED.read_text()
    doubled = stored.replace('"arch": "x86_64",', '"arch": "x86_64", "arch": "x86_64",', 1)
    with pytest.raises(PolicyInvalid, match=r'\$\.arch: field "arch" appears more than once'):
        decode(doubled, "p.json")


def test_conditions_check_themselves() -> None:
    with pytest.raises(ValueError, match="outside its mask"):
        ArgCondition(1, "masked_eq", 3, 1)
    with pytest.raises(ValueError, match="only goes with masked_eq"):
        ArgCondition(1, "eq", 3, 1)
    with pytest.raises(ValueError, match="not 0 to 5"):
        ArgCondition(6, "eq", 3)
    with pytest.raises(ValueError, match="without conditions"):
        Rule("read", ((),))
    cond = ArgCondition(1, "masked_eq", 1, 0xFF)
    assert cond.matches([0, 0x101, 0, 0, 0, 0]) and not cond.matches([0, 2, 0, 0, 0, 0])
    assert ArgCondition(0, "ne", 5).matches([4, 0, 0, 0, 0, 0])
    assert cond.as_tuple() == (1, "masked_eq", 1, 0xFF)


def test_mutations_leave_the_stored_file_alone() -> None:
    data = json.loads(STORED.read_text())
    before = copy.deepcopy(data)
    decode(json.dumps(data), "x")
    assert data == before
