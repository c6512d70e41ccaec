"""Fragments: complain-mode reports marked as such, pruned, merged without inventing programs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings

from sysphase.errors import ProfileInvalid
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Phase, ProcessNode, Profile, SyscallStat
from sysphase.model.profile_build import from_tree
from sysphase.model.profile_codec import decode, encode, to_dict
from sysphase.model.profile_fragment import fragment_only_programs, to_fragment
from sysphase.model.profile_merge import merge, merge_all
from sysphase.model.tree import NodeEnd, NodeKind, ProcessTree
from tests.unit.profile_samples import X86_64, count, mergeable, node, sample_profile
from tests.unit.shipped_schemas import schema_validator

ROOT = Path(__file__).resolve().parents[2]

TAR, XZ = "/usr/bin/tar", "/usr/bin/xz"
TAR_ARGV = ("tar", "cJf", "a.tar.xz", "d")


def complain_run(with_xz_call: bool = True) -> Profile:
    """A complain run of tar that forks twice: one child execs xz, the other gzip.

    Only xz leaves the policy (two calls of pwritev); gzip and tar's thread make none.
    """
    tree = ProcessTree(
        [
            node(0, 10, None, NodeKind.SPAWN, TAR, TAR_ARGV),
            node(1, 11, 0, NodeKind.THREAD, TAR, TAR_ARGV),
            node(2, 12, 0, NodeKind.FORK, TAR, TAR_ARGV, NodeEnd.EXEC),
            node(3, 12, 2, NodeKind.EXEC, "/usr/bin/gzip", ("gzip",), phases=(1,)),
            node(4, 13, 0, NodeKind.FORK, TAR, TAR_ARGV, NodeEnd.EXEC),
            node(5, 13, 4, NodeKind.EXEC, XZ, ("xz", "-9"), phases=(2, 3)),
        ],
        [count(5, 3, "pwritev", 2)] if with_xz_call else [],
        [("start", "start"), ("gzip", "exec"), ("xz", "exec"), ("serve (xz)", "marker")],
    )
    return from_tree(tree, TAR_ARGV, X86_64)


def test_a_fragment_keeps_only_the_processes_on_the_way_to_calls_and_marks_them() -> None:
    f = to_fragment(complain_run(), {"serve (xz)": "serve"})
    assert f.fragment and all(n.from_fragment for n in f.processes)
    assert [(n.id, n.parent, n.created, n.executable) for n in f.processes] == [
        (0, None, NodeKind.SPAWN, TAR),
        (1, 0, NodeKind.FORK, TAR),
        (2, 1, NodeKind.EXEC, XZ),
    ]
    xz = f.processes[2]
    assert [(p.index, p.name) for p in xz.phases] == [(0, "xz"), (1, "serve")]
    assert dict(xz.phases[1].syscalls) == {"pwritev": SyscallStat(2, 0, 2000, 0)}
    assert decode(encode(f), "f.json") == f
    # nothing outside the policy: a fragment without processes, still a fragment
    empty = to_fragment(complain_run(with_xz_call=False))
    assert empty.fragment and empty.processes == ()
    assert decode(encode(empty), "f.json") == empty


def test_renamed_phases_that_meet_are_summed() -> None:
    stat = SyscallStat(1, 0, 1, 0)
    p = Profile(
        ("x",),
        X86_64,
        1,
        True,
        (
            ProcessNode(
                0, None, NodeKind.SPAWN, "/x", ("x",), None, None, None,
                (
                    Phase(1, "serve", "marker", FrozenMap({"read": stat}),
                          FrozenMap({"read": FrozenMap({"0": (1,)})})),
                    Phase(1, "serve (x)", "marker", FrozenMap({"read": stat, "write": stat}),
                          FrozenMap({"read": FrozenMap({"0": (2,)})})),
                ),
            ),
        ),
    )  # fmt: skip
    (n,) = to_fragment(p, {"serve (x)": "serve"}).processes
    (ph,) = n.phases
    assert dict(ph.syscalls) == {"read": stat + stat, "write": stat}
    assert ph.arg_values == {"read": {"0": (1, 2)}}


def test_the_written_fragment_says_so_and_a_profile_without_fragments_is_unchanged() -> None:
    doc = to_dict(to_fragment(complain_run()))
    assert doc["fragment"] is True
    assert list(doc)[:6] == ["format", "command", "arch", "runs", "complete", "fragment"]
    assert all(p["from_fragment"] is True for p in doc["processes"])  # type: ignore[attr-defined]
    plain = to_dict(sample_profile())
    assert "fragment" not in plain
    assert all("from_fragment" not in p for p in plain["processes"])  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, '$.processes[1]: missing field "from_fragment" (every process of a fragment'),
        (False, "$.processes[1].from_fragment: must be true: every process of a fragment"),
        ("yes", '$.processes[1].from_fragment: expected true or false, got "yes"'),
    ],
)
def test_a_fragment_with_a_process_not_from_it_is_refused(value: object, message: str) -> None:
    doc = to_dict(to_fragment(complain_run()))
    process = doc["processes"][1]  # type: ignore[index]
    if value is None:
        del process["from_fragment"]
    else:
        process["from_fragment"] = value
    with pytest.raises(ProfileInvalid) as err:
        decode(json.dumps(doc), "f.json")
    assert str(err.value).startswith(f"f.json: {message}")
    assert not schema_validator("profile").is_valid(doc)


def recorded_tar() -> Profile:
    """tar recorded: it forked one child that ran gzip (never xz)."""
    tree = ProcessTree(
        [
            node(0, 10, None, NodeKind.SPAWN, TAR, TAR_ARGV),
            node(1, 12, 0, NodeKind.FORK, TAR, TAR_ARGV, NodeEnd.EXEC),
            node(2, 12, 1, NodeKind.EXEC, "/usr/bin/gzip", ("gzip",), phases=(1,)),
        ],
        [count(0, 0, "openat", 3), count(1, 0, "execve", 1), count(2, 1, "write", 4)],
        [("start", "start"), ("gzip", "exec")],
    )
    return from_tree(tree, TAR_ARGV, X86_64)


def test_merging_a_fragment_adds_its_calls_and_flags_what_only_it_has() -> None:
    report = to_fragment(complain_run(), {"serve (xz)": "serve"})
    m = merge(recorded_tar(), report)
    assert not m.fragment
    # tar's root and its first fork were recorded; the fork that ran xz, and xz, were not
    assert [(n.executable, n.created.value, n.from_fragment) for n in m.processes] == [
        (TAR, "spawn", False),
        (TAR, "fork", False),
        ("/usr/bin/gzip", "exec", False),
        (XZ, "exec", True),
    ]
    assert fragment_only_programs(m) == [XZ]
    assert fragment_only_programs(recorded_tar()) == []
    assert fragment_only_programs(report) == [TAR, XZ]
    # recording xz later clears the flag wherever it is matched
    assert fragment_only_programs(merge(m, m)) == [XZ]
    assert merge(report, report).fragment


# --- properties -----------------------------------------------------------------------------


def _recorded(p: Profile) -> set[str]:
    return {n.executable for n in p.processes} - set(fragment_only_programs(p))


@settings(max_examples=150)
@given(mergeable, mergeable)
def test_a_program_is_recorded_after_a_merge_exactly_when_an_input_recorded_it(
    a: Profile, b: Profile
) -> None:
    m = merge(a, b)
    assert _recorded(m) == _recorded(a) | _recorded(b)
    assert m.fragment == (a.fragment and b.fragment)
    if m.fragment:
        assert all(n.from_fragment for n in m.processes)


@settings(max_examples=100)
@given(mergeable, mergeable, mergeable)
def test_merging_with_fragments_stays_associative_and_commutative(
    a: Profile, b: Profile, c: Profile
) -> None:
    fb, fc = to_fragment(b), to_fragment(c)
    assert merge(a, fb) == merge(fb, a)
    assert merge(merge(a, fb), fc) == merge(a, merge(fb, fc)) == merge_all([fc, a, fb])
    assert decode(encode(merge(a, fb)), "m.json") == merge(a, fb)


@settings(max_examples=100)
@given(mergeable)
def test_a_fragment_is_a_fragment_of_itself_and_has_only_calls_on_its_paths(p: Profile) -> None:
    f = to_fragment(p)
    assert to_fragment(f) == f
    assert fragment_only_programs(f) == list(dict.fromkeys(n.executable for n in f.processes))
    has_calls = {n.id for n in f.processes if any(ph.syscalls for ph in n.phases)}
    parents = {n.parent for n in f.processes}
    # every kept process has calls or a kept child
    assert all(n.id in has_calls or n.id in parents for n in f.processes)
    total = sum(sum(s.calls for s in ph.syscalls.values()) for n in p.processes for ph in n.phases)
    kept = sum(sum(s.calls for s in ph.syscalls.values()) for n in f.processes for ph in n.phases)
    assert kept == total


def test_the_documented_fragment_is_what_to_fragment_makes() -> None:
    """docs/formats/profile.md's fragment: tar ran xz, which wrote with pwritev twice."""
    tree = ProcessTree(
        [
            node(0, 10, None, NodeKind.SPAWN, TAR, TAR_ARGV),
            node(1, 11, 0, NodeKind.THREAD, TAR, TAR_ARGV),
            node(2, 12, 0, NodeKind.FORK, TAR, TAR_ARGV, NodeEnd.EXEC),
            node(3, 12, 2, NodeKind.EXEC, XZ, ("xz", "-9"), phases=(1,)),
        ],
        [count(3, 1, "pwritev", 2)],
        [("start", "start"), ("xz", "exec")],
    )
    text = (ROOT / "docs" / "formats" / "profile.md").read_text()
    block = text.split("## Fragments: complain-mode reports", 1)[1].split("```json\n", 1)[1]
    documented = json.loads(block.split("```", 1)[0])
    assert documented == to_dict(to_fragment(from_tree(tree, TAR_ARGV, X86_64)))
    schema_validator("profile").validate(documented)
