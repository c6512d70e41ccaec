"""Profiles: from_tree, the JSON round trip, strict decoding, merge properties, diff, stats."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sysphase.errors import ProfileInvalid, UsageError
from sysphase.model import syscalls
from sysphase.model.profile import (
    ARG_INDEXES,
    ARG_MAX,
    FORMAT,
    FrozenMap,
    Phase,
    PhaseDiff,
    ProcessNode,
    Profile,
    ProgramDiff,
    SyscallStat,
    decode,
    diff,
    distinct_syscalls,
    encode,
    from_tree,
    merge,
    merge_all,
    stats_json,
    to_dict,
)
from sysphase.model.tree import Count, Node, NodeEnd, NodeKind, ProcessTree
from sysphase.report.profile_view import render_diff, render_process_tree, render_stats

ROOT = Path(__file__).resolve().parents[2]
X86_64 = "x86_64"


# --- a synthetic traced tree --------------------------------------------------------------


def node(
    index: int,
    pid: int,
    parent: int | None,
    kind: NodeKind,
    exe: str,
    argv: tuple[str, ...],
    end: NodeEnd = NodeEnd.EXITED,
    end_value: int = 0,
    phases: tuple[int, ...] = (0,),
    load_base: int = 0,
    entry: int = 0,
) -> Node:
    return Node(
        index,
        pid,
        pid,
        parent,
        kind,
        exe,
        argv,
        end,
        end_value,
        0,
        0,
        phases=list(phases),
        load_base=load_base,
        entry=entry,
    )


def count(
    node_: int,
    phase: int,
    name: str,
    calls: int,
    errors: int = 0,
    arch: str = X86_64,
    time_ns: int | None = None,
    unfinished: int = 0,
) -> Count:
    """A counter; time defaults to 1 µs per call."""
    nr = syscalls.number(arch, name)
    assert nr is not None, name
    time = 1000 * calls if time_ns is None else time_ns
    return Count(node_, phase, arch, nr, calls, errors, time, unfinished)


def sample_tree() -> ProcessTree:
    """A shell that enters a serve phase, has a thread, forks, and the child execs ls."""
    base = 0x55D0_4A20_0000
    nodes = [
        node(
            0,
            100,
            None,
            NodeKind.SPAWN,
            "/bin/sh",
            ("sh", "-c", "ls /"),
            phases=(0, 1),
            load_base=base,
            entry=base + 0x4760,
        ),
        node(
            1,
            101,
            0,
            NodeKind.THREAD,
            "/bin/sh",
            ("sh", "-c", "ls /"),
            NodeEnd.SIGNALED,
            9,
            phases=(1,),
            load_base=base,
            entry=base + 0x4760,
        ),
        node(
            2,
            102,
            0,
            NodeKind.FORK,
            "/bin/sh",
            ("sh", "-c", "ls /"),
            NodeEnd.EXEC,
            phases=(1,),
            load_base=base,
            entry=base + 0x4760,
        ),
        node(3, 102, 2, NodeKind.EXEC, "/usr/bin/ls", ("ls", "/"), phases=(2,)),
    ]
    counts = [
        count(0, 0, "read", 3),
        count(0, 0, "openat", 2, 1),
        count(0, 1, "epoll_wait", 5, time_ns=7000),
        count(0, 1, "open", 1, arch="i386"),
        count(0, 1, "read", 1, arch="x32"),
        count(2, 1, "execve", 1),
        count(3, 2, "openat", 4, 2),
        count(3, 2, "exit_group", 0, unfinished=1),
    ]
    names = [("start", "start"), ("serve", "syscall:epoll_wait"), ("ls", "exec")]
    return ProcessTree(nodes, counts, names)


def sample_profile() -> Profile:
    return from_tree(sample_tree(), ("sh", "-c", "ls /"), X86_64)


def test_from_tree_nodes_phases_and_counts() -> None:
    p = sample_profile()
    assert (p.command, p.arch, p.runs, p.complete) == (("sh", "-c", "ls /"), X86_64, 1, True)
    assert [(n.id, n.parent, n.created, n.executable) for n in p.processes] == [
        (0, None, NodeKind.SPAWN, "/bin/sh"),
        (1, 0, NodeKind.THREAD, "/bin/sh"),
        (2, 0, NodeKind.FORK, "/bin/sh"),
        (3, 2, NodeKind.EXEC, "/usr/bin/ls"),
    ]
    assert [n.exit for n in p.processes] == ["exit 0", "killed by SIGKILL", "exec", "exit 0"]
    sh, thread, fork, ls = p.processes
    assert (sh.load_base, sh.entry) == (0x55D0_4A20_0000, 0x4760)
    assert (ls.load_base, ls.entry) == (None, None)
    assert [(ph.index, ph.name, ph.trigger) for ph in sh.phases] == [
        (0, "start", "start"),
        (1, "serve", "syscall:epoll_wait"),
    ]
    assert dict(sh.phases[0].syscalls) == {
        "openat": SyscallStat(2, 1, 2000, 0),
        "read": SyscallStat(3, 0, 3000, 0),
    }
    assert dict(sh.phases[1].syscalls) == {
        "epoll_wait": SyscallStat(5, 0, 7000, 0),
        "i386:open": SyscallStat(1, 0, 1000, 0),
        "x32:read": SyscallStat(1, 0, 1000, 0),
    }
    # a thread that started in its parent's phase and made no call keeps the phase
    assert thread.phases == (Phase(0, "serve", "syscall:epoll_wait"),)
    assert [ph.name for ph in fork.phases] == ["serve"]
    assert ls.phases[0].name == "ls" and ls.phases[0].trigger == "exec"
    assert ls.phases[0].syscalls["exit_group"] == SyscallStat(0, 0, 0, 1)


def test_from_tree_interrupted_and_stray_phase_counters() -> None:
    tree = ProcessTree(
        [node(0, 1, None, NodeKind.ATTACH, "/bin/x", ("x",), NodeEnd.RUNNING)],
        [count(0, 1, "read", 1)],
        [("start", "start"), ("late", "signal:SIGUSR2")],
    )
    p = from_tree(tree, (), X86_64, complete=False)
    assert not p.complete and p.command == ()
    assert [(ph.index, ph.name, len(ph.syscalls)) for ph in p.processes[0].phases] == [
        (0, "start", 0),
        (1, "late", 1),
    ]
    assert p.processes[0].exit == "running"


def test_from_tree_rejects_an_unknown_arch() -> None:
    with pytest.raises(ValueError, match="mips"):
        from_tree(sample_tree(), (), "mips")


# --- Hypothesis strategies ------------------------------------------------------------------

EXES = ["/bin/sh", "/usr/bin/ls", "/usr/bin/true"]
PHASE_NAMES = ["start", "serve", "ls"]
TRIGGERS = [
    "start", "exec", "inherited", "syscall:epoll_wait", "symbol:aeMain", "addr:0x1a2b0",
    "signal:SIGUSR2", "marker",
]  # fmt: skip


def syscall_keys(arch: str) -> list[str]:
    # a number the tables have no name for, in the arch's range (x32's carry the x32 bit)
    unnamed = f"syscall_{999 | (syscalls.X32_SYSCALL_BIT if arch == 'x32' else 0):#x}"
    native = ["read", "write", "openat", "execve", unnamed]
    foreign = [f"{other}:read" for other in syscalls.ARCHES if other != arch]
    return native + foreign + (["i386:open"] if arch != "i386" else [])


@st.composite
def stats(draw: st.DrawFn) -> SyscallStat:
    calls = draw(st.integers(0, 10**12))
    return SyscallStat(
        calls,
        draw(st.integers(0, calls)),
        draw(st.integers(0, 10**15)),
        draw(st.integers(0, 3)),
    )


@st.composite
def phases(draw: st.DrawFn, arch: str) -> tuple[Phase, ...]:
    ids = draw(st.sets(st.tuples(st.integers(0, 3), st.sampled_from(PHASE_NAMES)), max_size=3))
    out = []
    for index, name in sorted(ids):
        keys = draw(st.lists(st.sampled_from(syscall_keys(arch)), unique=True, max_size=4))
        with_args = draw(st.lists(st.sampled_from(keys), unique=True)) if keys else []
        args = {
            k: FrozenMap(
                {
                    ix: tuple(sorted(draw(st.sets(st.integers(0, ARG_MAX), max_size=3))))
                    for ix in draw(st.sets(st.sampled_from(ARG_INDEXES), max_size=2))
                }
            )
            for k in with_args
        }
        out.append(
            Phase(
                index,
                name,
                # a syscall trigger names a syscall of the arch (aarch64 has no epoll_wait)
                draw(st.sampled_from(TRIGGERS)).replace(
                    "epoll_wait", "epoll_pwait" if arch == "aarch64" else "epoll_wait"
                ),
                FrozenMap({k: draw(stats()) for k in keys}),
                FrozenMap(args),
            )
        )
    return tuple(out)


ANY_ARCH = st.sampled_from(syscalls.ARCHES)


@st.composite
def profiles(
    draw: st.DrawFn,
    arch: st.SearchStrategy[str] = ANY_ARCH,
    max_nodes: int = 6,
    wild_text: bool = True,
) -> Profile:
    arch_ = draw(arch)
    text = st.sampled_from(["ls", "-l", "x"])
    if wild_text:
        # any text, and the lone surrogates os.fsdecode makes of undecodable bytes
        text = text | st.text(max_size=6) | st.just("caf\udce9")
    exes = st.sampled_from(EXES) | text if wild_text else st.sampled_from(EXES)
    n = draw(st.integers(0, max_nodes))
    nodes = []
    for i in range(n):
        parent = draw(st.none() | st.integers(0, i - 1)) if i else None
        nodes.append(
            ProcessNode(
                id=i,
                parent=parent,
                created=draw(
                    st.sampled_from(list(NodeKind))
                    if wild_text
                    else st.sampled_from([NodeKind.FORK, NodeKind.THREAD, NodeKind.EXEC])
                ),
                executable=draw(exes),
                argv=tuple(draw(st.lists(text, max_size=2))),
                load_base=draw(st.none() | st.sampled_from([0x1000, 0x55D04A200000])),
                entry=draw(st.none() | st.sampled_from([0x0, 0x4760])),
                exit=draw(st.none() | st.sampled_from(["exit 0", "exit 1", "killed by SIGKILL"])),
                phases=draw(phases(arch_)),
            )
        )
    return Profile(
        command=tuple(draw(st.lists(text, max_size=3))),
        arch=arch_,
        runs=draw(st.integers(1, 5)),
        complete=draw(st.booleans()),
        processes=tuple(nodes),
    )


# profiles that share executables and shapes, so that merging matches nodes
mergeable = profiles(arch=st.just(X86_64), max_nodes=5, wild_text=False)


# --- JSON round trip and schema -------------------------------------------------------------


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


def _schema() -> dict[str, Any]:
    ref = resources.files("sysphase") / "schemas" / "profile.schema.json"
    return json.loads(ref.read_text())  # type: ignore[no-any-return]


def _validator() -> Any:
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema is not installed (pip install -e .[test] installs it)"
    )
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@settings(max_examples=60)
@given(profiles())
def test_encoded_profiles_match_the_shipped_schema(p: Profile) -> None:
    _validator().validate(json.loads(encode(p)))


def test_schema_title_names_the_format() -> None:
    assert _schema()["title"] == FORMAT
    assert _schema()["properties"]["format"] == {"const": FORMAT}


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
    validator = _validator()
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


# --- merge ----------------------------------------------------------------------------------


def _total_calls(p: Profile) -> dict[str, int]:
    totals = stats_json(p)["totals"]
    assert isinstance(totals, dict)
    return {k: v["calls"] for k, v in totals.items()}


@settings(max_examples=150)
@given(mergeable, mergeable)
def test_merge_is_commutative(a: Profile, b: Profile) -> None:
    assert merge(a, b) == merge(b, a)


@settings(max_examples=150)
@given(mergeable, mergeable, mergeable)
def test_merge_is_associative(a: Profile, b: Profile, c: Profile) -> None:
    assert merge(merge(a, b), c) == merge(a, merge(b, c)) == merge_all([a, b, c])


@settings(max_examples=100)
@given(mergeable, mergeable)
def test_merge_adds_counts_and_runs_and_stays_valid(a: Profile, b: Profile) -> None:
    m = merge(a, b)
    assert m.runs == a.runs + b.runs
    assert m.complete == (a.complete and b.complete)
    calls_a, calls_b = _total_calls(a), _total_calls(b)
    assert _total_calls(m) == {
        k: calls_a.get(k, 0) + calls_b.get(k, 0) for k in calls_a.keys() | calls_b.keys()
    }
    assert len(m.processes) <= len(a.processes) + len(b.processes)
    assert len(m.processes) >= max(len(a.processes), len(b.processes))
    assert decode(encode(m), "m.json") == m
    # canonical order: merging a merged profile with nothing changes nothing
    assert merge_all([m]) == m


def test_merge_never_matches_by_pid() -> None:
    sh = ("sh", "-c", "ls &")
    tree_a = ProcessTree(
        [
            node(0, 100, None, NodeKind.SPAWN, "/bin/sh", sh),
            node(1, 101, 0, NodeKind.FORK, "/bin/sh", sh, NodeEnd.EXEC),
            node(2, 101, 1, NodeKind.EXEC, "/usr/bin/ls", ("ls",)),
            node(3, 102, 0, NodeKind.THREAD, "/bin/sh", sh),
        ],
        [count(2, 0, "openat", 3), count(3, 0, "futex", 1)],
    )
    # the other run: other pids, the thread first, and the thread has ls's old pid
    tree_b = ProcessTree(
        [
            node(0, 500, None, NodeKind.SPAWN, "/bin/sh", sh),
            node(1, 101, 0, NodeKind.THREAD, "/bin/sh", sh),
            node(2, 502, 0, NodeKind.FORK, "/bin/sh", sh, NodeEnd.EXEC),
            node(3, 502, 2, NodeKind.EXEC, "/usr/bin/ls", ("ls",)),
        ],
        [count(3, 0, "openat", 4), count(3, 0, "write", 1), count(1, 0, "futex", 2)],
    )
    a = from_tree(tree_a, sh, X86_64)
    b = from_tree(tree_b, sh, X86_64)
    m = merge(a, b)
    assert [(n.id, n.parent, n.created.value, n.executable) for n in m.processes] == [
        (0, None, "spawn", "/bin/sh"),
        (1, 0, "fork", "/bin/sh"),
        (2, 1, "exec", "/usr/bin/ls"),
        (3, 0, "thread", "/bin/sh"),
    ]
    assert dict(m.processes[2].phases[0].syscalls) == {
        "openat": SyscallStat(7, 0, 7000, 0),
        "write": SyscallStat(1, 0, 1000, 0),
    }
    assert dict(m.processes[3].phases[0].syscalls) == {"futex": SyscallStat(3, 0, 3000, 0)}
    assert m.runs == 2


def test_merge_node_fields() -> None:
    def one(argv: tuple[str, ...], base: int | None, exit_: str | None, trigger: str) -> Profile:
        phase = Phase(0, "start", trigger, FrozenMap({"read": SyscallStat(1, 0, 5, 0)}),
                      FrozenMap({"read": FrozenMap({"0": (3,)})}))  # fmt: skip
        n = ProcessNode(0, None, NodeKind.SPAWN, "/bin/x", argv, base, 0x10, exit_, (phase,))
        return Profile(argv, X86_64, 1, True, (n,))

    a = one(("x", "-b"), 0x1000, "exit 0", "start")
    b = one(("x", "-a"), 0x2000, "exit 0", "marker")
    m = merge(a, b)
    (n,) = m.processes
    assert (n.argv, n.load_base, n.entry, n.exit) == (("x", "-a"), None, 0x10, "exit 0")
    assert m.command == ("x", "-a")
    assert n.phases[0].trigger == "marker"
    assert n.phases[0].syscalls["read"] == SyscallStat(2, 0, 10, 0)
    c = Profile((), X86_64, 1, False, (
        ProcessNode(0, None, NodeKind.SPAWN, "/bin/x", ("x",), None, 0x10, "exit 1", (
            Phase(0, "start", "start", FrozenMap({"write": SyscallStat(1)}),
                  FrozenMap({"write": FrozenMap({"0": (1,)})})),
            Phase(1, "serve", "marker"),
        )),
    ))  # fmt: skip
    m3 = merge(m, c)
    (n,) = m3.processes
    assert (n.load_base, n.entry, n.exit, m3.complete) == (None, 0x10, None, False)
    assert [(p.index, p.name) for p in n.phases] == [(0, "start"), (1, "serve")]
    assert n.phases[0].arg_values == {"read": {"0": (3,)}, "write": {"0": (1,)}}


def test_merging_different_architectures_is_an_error() -> None:
    a = sample_profile()
    b = Profile(("x",), "aarch64", 1, True, ())
    with pytest.raises(UsageError, match=r"different architectures \(x86_64 and aarch64\)"):
        merge(a, b)
    with pytest.raises(UsageError, match="nothing to merge"):
        merge_all([])


def test_phase_indexes_can_repeat_after_a_merge() -> None:
    def one(name: str) -> Profile:
        ph = (Phase(0, "start", "start"), Phase(1, name, "marker"))
        n = ProcessNode(0, None, NodeKind.SPAWN, "/bin/x", ("x",), None, None, None, ph)
        return Profile(("x",), X86_64, 1, True, (n,))

    m = merge(one("serve"), one("idle"))
    assert [(p.index, p.name) for p in m.processes[0].phases] == [
        (0, "start"),
        (1, "idle"),
        (1, "serve"),
    ]
    assert decode(encode(m), "m") == m


# --- stats, distinct, diff, views -----------------------------------------------------------


def test_stats_json_shape() -> None:
    doc = stats_json(sample_profile())
    assert list(doc)[:2] == ["totals", "programs"]
    json.dumps(doc)
    totals: Any = doc["totals"]
    assert totals["openat"] == {"calls": 6, "errors": 3, "time_ns": 6000, "unfinished": 0}
    assert totals["i386:open"]["calls"] == 1
    programs: Any = doc["programs"]
    assert sorted(programs) == ["/bin/sh", "/usr/bin/ls"]
    sh = programs["/bin/sh"]
    assert sh["processes"] == 3
    assert sorted(sh["phases"]) == ["serve", "start"]
    assert sh["phases"]["serve"]["execve"] == {
        "calls": 1, "errors": 0, "time_ns": 1000, "unfinished": 0
    }  # fmt: skip
    assert programs["/usr/bin/ls"]["phases"]["ls"]["openat"]["errors"] == 2
    for program in programs.values():
        for phase in program["phases"].values():
            for stat in phase.values():
                assert {"calls", "errors"} <= set(stat)
    assert distinct_syscalls(sample_profile()) == {
        "/bin/sh": {"serve": 4, "start": 2},
        "/usr/bin/ls": {"ls": 2},
    }


def test_diff() -> None:
    a = sample_profile()
    tree = sample_tree()
    tree.counts[:] = [c for c in tree.counts if c.name != "epoll_wait"]
    tree.counts.append(count(0, 1, "accept4", 1))
    tree.nodes.append(node(4, 103, 0, NodeKind.FORK, "/bin/cat", ("cat",), phases=(1,)))
    tree.counts.append(count(4, 1, "read", 1))
    b = from_tree(tree, ("sh",), X86_64)
    d = diff(a, b)
    assert d.programs == (
        ProgramDiff("/bin/cat", False, True, (PhaseDiff("serve", ("read",), ()),)),
        ProgramDiff("/bin/sh", True, True, (PhaseDiff("serve", ("accept4",), ("epoll_wait",)),)),
    )
    assert render_diff(d) == (
        "/bin/cat (only in B)\n"
        "  phase serve\n"
        "    + read\n"
        "/bin/sh\n"
        "  phase serve\n"
        "    + accept4\n"
        "    - epoll_wait\n"
    )
    assert diff(a, a).empty
    assert render_diff(diff(a, a)) == "no differences in system calls per program and phase\n"


def test_render_process_tree() -> None:
    assert render_process_tree(sample_profile()) == (
        "0 /bin/sh (spawn, exit 0): start 2, serve 3\n"
        "└─ 1 /bin/sh (thread, killed by SIGKILL): serve 0\n"
        "└─ 2 /bin/sh (fork, exec): serve 1\n"
        "  └─ 3 /usr/bin/ls (exec, exit 0): ls 2\n"
    )


def test_render_stats() -> None:
    assert render_stats(sample_profile()) == (
        "profile of sh -c 'ls /'\n"
        "x86_64, 1 run, complete\n"
        "\n"
        "/bin/sh (3 processes)\n"
        "  phase start\n"
        "    syscall        calls    errors     seconds\n"
        "    read               3              0.000003\n"
        "    openat             2         1    0.000002\n"
        "    total              5         1    0.000005\n"
        "  phase serve\n"
        "    syscall        calls    errors     seconds\n"
        "    epoll_wait         5              0.000007\n"
        "    execve             1              0.000001\n"
        "    i386:open          1              0.000001\n"
        "    x32:read           1              0.000001\n"
        "    total              8              0.000010\n"
        "\n"
        "/usr/bin/ls (1 process)\n"
        "  phase ls\n"
        "    syscall        calls    errors     seconds\n"
        "    openat             4         2    0.000004\n"
        "    total              4         2    0.000004\n"
        "    did not return (not counted above): exit_group 1\n"
    )
    empty = Profile((), X86_64, 2, False, ())
    assert render_stats(empty) == (
        "profile of (attached)\n"
        "x86_64, 2 runs, incomplete: a recording was interrupted\n"
        "\n"
        "no processes\n"
    )
    assert render_process_tree(empty) == "no processes\n"


# --- the documented example ------------------------------------------------------------------


def test_the_documented_example_is_the_sample_profile() -> None:
    doc = (ROOT / "docs/formats/profile.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", doc, re.S)
    assert blocks, "docs/formats/profile.md has no json example"
    assert blocks[0] == encode(sample_profile())
    assert decode(blocks[0], "profile.md") == sample_profile()
