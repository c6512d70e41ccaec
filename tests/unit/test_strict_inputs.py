"""Decoding that cannot be abused (issue 11, 7): bounded numbers, exact formats, real syscalls.

Pure: profile and policy texts in memory. Every refusal is one sentence
naming the source and the JSON path; no ValueError about int digits, no
version accepted in a non-canonical spelling, no syscall key or trigger that
names no syscall of the file's architecture.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from sysphase.errors import PolicyInvalid, ProfileInvalid, UsageError
from sysphase.model import profile_codec, strict_json, syscalls
from sysphase.model.phases import trigger_problem
from sysphase.policy import codec
from sysphase.workloads.scenario import parse as parse_scenario

STORED_POLICY = Path(__file__).resolve().parent / "snapshots" / "policy" / "server.sysphase.json"
HUGE = "9" * 5000


def short(value: object) -> str:
    """A test id: long parameters by their length."""
    text = str(value)
    return text if len(text) <= 30 else f"{text[:12]}...({len(text)} characters)"


def profile_data(arch: str = "x86_64") -> dict[str, Any]:
    """A small valid profile as JSON data: one process, a start and a serve phase."""
    serve = "epoll_pwait" if arch == "aarch64" else "epoll_wait"
    return {
        "format": "sysphase-profile/1",
        "command": ["/bin/server"],
        "arch": arch,
        "runs": 1,
        "complete": True,
        "processes": [
            {
                "id": 0,
                "parent": None,
                "created": "spawn",
                "executable": "/bin/server",
                "argv": ["server"],
                "load_base": "0x55d04a200000",
                "entry": "0x4760",
                "exit": "exit 0",
                "phases": [
                    {
                        "index": 0,
                        "name": "start",
                        "trigger": "start",
                        "syscalls": {"read": {"calls": 3}},
                        "arg_values": {"read": {"0": [0, 3]}},
                    },
                    {
                        "index": 1,
                        "name": "serve",
                        "trigger": f"syscall:{serve}",
                        "syscalls": {serve: {"calls": 5}},
                    },
                ],
            }
        ],
    }


def profile_error(text: str) -> str:
    with pytest.raises(ProfileInvalid) as err:
        profile_codec.decode(text, "p.json")
    message = str(err.value)
    assert "\n" not in message and message.startswith("p.json: ")
    return message


def policy_error(text: str) -> str:
    with pytest.raises(PolicyInvalid) as err:
        codec.decode(text, "p.pol")
    message = str(err.value)
    assert "\n" not in message and message.startswith("p.pol: ")
    return message


def policy_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(STORED_POLICY.read_text())
    return data


def test_the_base_documents_decode() -> None:
    for arch in syscalls.ARCHES:
        assert profile_codec.decode(json.dumps(profile_data(arch)), "p.json").arch == arch
    assert codec.decode(json.dumps(policy_data()), "p.pol").arch == "x86_64"


# --- the format: one canonical spelling -----------------------------------------------------


@pytest.mark.parametrize(
    "version",
    ["01", "001", "+1", " 1", "1 ", "1.0", "1e0", "\u0661", "0x1", "", HUGE, "2" + HUGE],
    ids=short,
)
def test_only_the_canonical_version_is_read(version: str) -> None:
    data = profile_data()
    data["format"] = f"sysphase-profile/{version}"
    message = profile_error(json.dumps(data))
    assert message.startswith("p.json: $.format: ")
    assert "is not a sysphase profile format (expected sysphase-profile/1)" in message
    assert len(message) < 200  # a 5,000-digit version is shown shortened

    pol = policy_data()
    pol["format"] = f"sysphase-policy/{version}"
    message = policy_error(json.dumps(pol))
    assert message.startswith("p.pol: $.format: ")
    assert "is not a sysphase policy format (expected sysphase-policy/1)" in message


def test_other_versions_are_still_named() -> None:
    data = profile_data()
    data["format"] = "sysphase-profile/2"
    assert "is newer than this sysphase understands" in profile_error(json.dumps(data))
    data["format"] = "sysphase-profile/999999999"
    assert "is newer than this sysphase understands" in profile_error(json.dumps(data))
    data["format"] = "sysphase-profile/0"
    assert "is no longer supported" in profile_error(json.dumps(data))
    pol = policy_data()
    pol["format"] = "sysphase-policy/3"
    assert "is newer than this sysphase understands" in policy_error(json.dumps(pol))


# --- numbers: bounded ------------------------------------------------------------------------


def _with_number(data: dict[str, Any], path: list[Any], literal: str) -> str:
    """The JSON text of DATA with the value at PATH replaced by a raw number literal."""
    data = copy.deepcopy(data)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "@NUMBER@"
    return json.dumps(data).replace('"@NUMBER@"', literal)


PROFILE_NUMBERS = [
    (["runs"], "$.runs"),
    (["format"], "$.format"),
    (["processes", 0, "id"], "$.processes[0].id"),
    (["processes", 0, "parent"], "$.processes[0].parent"),
    (["processes", 0, "phases", 1, "index"], "$.processes[0].phases[1].index"),
    (["processes", 0, "phases", 0, "syscalls", "read", "calls"],
     "$.processes[0].phases[0].syscalls.read.calls"),
    (["processes", 0, "phases", 0, "arg_values", "read", "0", 1],
     '$.processes[0].phases[0].arg_values.read["0"][1]'),
    (["processes", 0, "argv", 0], "$.processes[0].argv[0]"),
    (["complete"], "$.complete"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "where"), PROFILE_NUMBERS)
@pytest.mark.parametrize(
    "literal",
    [HUGE, "-" + HUGE, "1." + HUGE, "1e" + HUGE],
    ids=["digits", "negative", "fraction", "exponent"],
)
def test_a_long_number_anywhere_in_a_profile_is_one_sentence(
    path: list[Any], where: str, literal: str
) -> None:
    message = profile_error(_with_number(profile_data(), path, literal))
    assert message.startswith(f"p.json: {where}: ")
    assert f"a number of {len(literal)} characters" in message
    assert len(message) < 200


def test_a_long_number_in_a_policy_is_one_sentence() -> None:
    pol = policy_data()
    phase = ["programs", 0, "phases", 0]
    allowed = pol["programs"][0]["phases"][0]["allowed"]
    i = next(i for i, a in enumerate(allowed) if a.get("provenance"))
    cases = [
        (["format"], "$.format"),
        ([*phase, "allowed", i, "provenance", 0, "calls"],
         f"$.programs[0].phases[0].allowed[{i}].provenance[0].calls"),
        ([*phase, "allowed", 0, "when"], "$.programs[0].phases[0].allowed[0].when"),
    ]  # fmt: skip
    for path, where in cases:
        message = policy_error(_with_number(pol, path, HUGE))
        assert message.startswith(f"p.pol: {where}: "), message
        assert "a number of 5000 characters" in message


def test_numbers_up_to_the_bound_still_parse() -> None:
    data = profile_data()
    data["processes"][0]["phases"][0]["arg_values"]["read"]["0"] = [0, 2**64 - 1]
    phase = profile_codec.decode(json.dumps(data), "p.json").processes[0].phases[0]
    assert phase.arg_values["read"]["0"] == (0, 2**64 - 1)
    longest = "1" + "0" * (strict_json.MAX_NUMBER_LENGTH - 1)
    runs = profile_codec.decode(_with_number(data, ["runs"], longest), "p.json").runs
    assert runs == int(longest)
    assert "is too long (at most 40)" in profile_error(_with_number(data, ["runs"], longest + "0"))


def test_long_hex_addresses_are_refused() -> None:
    data = profile_data()
    data["processes"][0]["load_base"] = "0x" + "f" * 5000
    message = profile_error(json.dumps(data))
    assert message.startswith("p.json: $.processes[0].load_base: expected null or a hex string")


def test_a_scenario_with_a_long_integer_is_one_sentence() -> None:
    text = 'workload = "w"\nprogram = "cat"\n[[scenario]]\nname = "s"\ntag = "train"\n'
    text += f'argv = ["cat"]\nexit = {HUGE}\n'
    with pytest.raises(UsageError) as err:
        parse_scenario(text, "w.toml")
    assert str(err.value) == "w.toml: not valid TOML (an integer with too many digits)"


# --- syscall keys: real syscall numbers of the arch -----------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "syscall_0x99999999",  # far beyond any table
        "syscall_0x10000",  # beyond the 16 bits the C core counts numbers in
        "syscall_0xffffffffffffffff",
        "syscall_0x" + "f" * 5000,
        "syscall_0x0",  # that is read: only the name is canonical
        "syscall_0x03e7",
        "syscall_0x3E7",
        "syscall_999",
        "i386:syscall_0x99999999",
        "x32:syscall_0x3e7",  # an x32 number carries the x32 bit
        "x32:syscall_0x40010000",
    ],
    ids=short,
)
def test_syscall_keys_beyond_the_tables_are_refused(key: str) -> None:
    data = profile_data()
    data["processes"][0]["phases"][0]["syscalls"][key] = {"calls": 1}
    message = profile_error(json.dumps(data))
    assert message.startswith("p.json: $.processes[0].phases[0].syscalls")
    assert "unknown syscall" in message

    pol = policy_data()
    if ":" not in key:
        pol["programs"][0]["phases"][0]["allowed"][0]["syscall"] = key
        message = policy_error(json.dumps(pol))
        assert "$.programs[0].phases[0].allowed[0].syscall: unknown syscall" in message
    pol = policy_data()
    pol["programs"][0]["phases"][0]["refused"] = [{"syscall": key, "reason": "r"}]
    assert "unknown syscall" in policy_error(json.dumps(pol))


@pytest.mark.parametrize(
    "key", ["syscall_0x3e7", "syscall_0x1c3", "syscall_0xffff", "x32:syscall_0x400003e7"]
)
def test_numbers_newer_than_the_tables_are_kept(key: str) -> None:
    data = profile_data()
    data["processes"][0]["phases"][0]["syscalls"][key] = {"calls": 1}
    decoded = profile_codec.decode(json.dumps(data), "p.json")
    assert key in decoded.processes[0].phases[0].syscalls
    assert profile_codec.decode(profile_codec.encode(decoded), "p.json") == decoded


def test_number_knows_the_real_syscall_range() -> None:
    assert syscalls.number("x86_64", "read") == 0
    assert syscalls.number("x86_64", syscalls.name("x86_64", 999)) == 999
    assert syscalls.number("x32", syscalls.name("x32", syscalls.X32_SYSCALL_BIT | 999)) == (
        syscalls.X32_SYSCALL_BIT | 999
    )
    for arch in syscalls.ARCHES:
        base = syscalls.X32_SYSCALL_BIT if arch == "x32" else 0
        top = base + syscalls.UNNAMED_LIMIT
        assert max(syscalls.number(arch, n) or 0 for n in syscalls.names(arch)) < top
        assert syscalls.number(arch, f"syscall_{top:#x}") is None
        assert syscalls.number(arch, f"syscall_{top - 1:#x}") in (top - 1, None)


# --- triggers: a syscall trigger names a syscall --------------------------------------------


@pytest.mark.parametrize(
    ("arch", "trigger"),
    [
        ("x86_64", "syscall:nosuchcall"),
        ("x86_64", "syscall:"),
        ("x86_64", "syscall:syscall_0x99999999"),
        ("x86_64", "syscall:i386:open"),
        ("aarch64", "syscall:epoll_wait"),  # aarch64 has only epoll_pwait
    ],
)
def test_a_trigger_on_a_syscall_that_does_not_exist_is_refused(arch: str, trigger: str) -> None:
    data = profile_data(arch)
    data["processes"][0]["phases"][1]["trigger"] = trigger
    message = profile_error(json.dumps(data))
    assert message.startswith(
        f"p.json: $.processes[0].phases[1].trigger: trigger {json.dumps(trigger)}"
    )
    assert "unknown syscall" in message and arch in message


def test_a_policy_trigger_on_a_syscall_that_does_not_exist_is_refused() -> None:
    pol = policy_data()
    assert pol["programs"][0]["phases"][1]["trigger"] == "syscall:epoll_wait"
    pol["programs"][0]["phases"][1]["trigger"] = "syscall:nosuchcall"
    assert policy_error(json.dumps(pol)) == (
        'p.pol: $.programs[0].phases[1].trigger: trigger "syscall:nosuchcall": unknown syscall '
        '"nosuchcall" for x86_64'
    )


@pytest.mark.parametrize(
    "trigger",
    ["start", "exec", "inherited", "marker", "symbol:aeMain", "addr:0x1a2b0", "signal:SIGUSR2",
     "syscall:epoll_wait", "syscall:syscall_0x1c3"],
)  # fmt: skip
def test_other_triggers_are_kept(trigger: str) -> None:
    assert trigger_problem(trigger, "x86_64") is None
    data = profile_data()
    data["processes"][0]["phases"][1]["trigger"] = trigger
    phase = profile_codec.decode(json.dumps(data), "p.json").processes[0].phases[1]
    assert phase.trigger == trigger
