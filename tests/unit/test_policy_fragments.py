"""Policies of profiles with fragments: a program only complain-mode reports saw gets no policy.

tar was recorded running gzip; a complain-mode report of a later run saw it
run xz too (two pwritev outside the policy). Merged, the report widens tar's
filters, but xz, known only by the calls the policy refused it, is refused a
policy of its own unless --allow-fragments (the report's calls as its whole
policy) or --omit-fragments (none: it runs under tar's filters).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from sysphase.errors import PolicyError, UsageError
from sysphase.model.profile import Profile
from sysphase.model.profile_build import from_tree
from sysphase.model.profile_fragment import fragment_only_programs, to_fragment
from sysphase.model.profile_merge import merge
from sysphase.model.tree import NodeEnd, NodeKind, ProcessTree
from sysphase.policy import decode, encode, generate
from sysphase.policy.generate import root_program
from sysphase.policy.manual_calls import parse_spec
from tests.unit.profile_samples import X86_64, count, mergeable, node
from tests.unit.test_profile_fragment import TAR, TAR_ARGV, XZ, complain_run, recorded_tar

GZIP = "/usr/bin/gzip"


def learned() -> Profile:
    return merge(recorded_tar(), to_fragment(complain_run(), {"serve (xz)": "serve"}))


def test_a_program_only_a_report_saw_is_refused_in_one_sentence() -> None:
    with pytest.raises(PolicyError) as err:
        generate(learned())
    assert str(err.value) == (
        f"program {XZ} was only seen in complain-mode reports (which hold only the calls a "
        "policy refused, not all a program makes): record a run in which it runs (sysphase "
        "record -o more.json -- tar cJf a.tar.xz d) and merge that in, or pass "
        "--allow-fragments to take the reports' calls as its whole policy, or "
        f"--omit-fragments to leave it under the filters of the program that starts it"
    )


def test_several_are_named_together_and_a_reported_root_cannot_be_omitted() -> None:
    report = to_fragment(complain_run())
    with pytest.raises(PolicyError, match=f"^program {TAR} was only seen .* record it "):
        generate(report, fragments="omit")
    tree = ProcessTree(
        [
            node(0, 10, None, NodeKind.SPAWN, TAR, TAR_ARGV),
            node(1, 12, 0, NodeKind.FORK, TAR, TAR_ARGV, NodeEnd.EXEC),
            node(2, 12, 1, NodeKind.EXEC, "/usr/bin/lz", ("lz",), phases=(1,)),
            node(3, 13, 0, NodeKind.FORK, TAR, TAR_ARGV, NodeEnd.EXEC),
            node(4, 13, 3, NodeKind.EXEC, XZ, ("xz",), phases=(2,)),
        ],
        [count(2, 1, "pwritev", 1), count(4, 2, "pwritev", 1)],
        [("start", "start"), ("lz", "exec"), ("xz", "exec")],
    )
    two = merge(recorded_tar(), to_fragment(from_tree(tree, TAR_ARGV, X86_64)))
    with pytest.raises(PolicyError) as err:
        generate(two)
    assert str(err.value).startswith(
        f"programs /usr/bin/lz, {XZ} were only seen in complain-mode reports"
    )
    assert str(err.value).endswith(
        "or --omit-fragments to leave them under the filters of the program that starts them"
    )


def test_omitted_it_runs_under_the_filters_its_calls_widen() -> None:
    policy = generate(learned(), fragments="omit")
    assert [p.executable for p in policy.programs] == [TAR, GZIP]
    (start,) = policy.root_program.phases
    pwritev = start.get("pwritev")
    assert pwritev is not None and [p.program for p in pwritev.provenance] == [XZ]
    # xz never switches phases under sysphase (it has no phases of its own): no seccomp
    assert start.get("seccomp") is None
    assert decode(encode(policy), "p.json") == policy


def test_allowed_it_gets_the_reports_calls_as_its_policy() -> None:
    policy = generate(learned(), fragments="allow")
    assert [p.executable for p in policy.programs] == [TAR, GZIP, XZ]
    xz = policy.program(XZ)
    assert xz is not None and [p.name for p in xz.phases] == ["xz", "serve"]
    assert "pwritev" in xz.phases[1].syscall_names()
    assert "seccomp" in policy.root_program.phases[0].syscall_names()


def test_a_report_that_only_adds_calls_to_recorded_programs_needs_nothing() -> None:
    tree = ProcessTree(
        [node(0, 10, None, NodeKind.SPAWN, TAR, TAR_ARGV)], [count(0, 0, "fsync", 1)]
    )
    report = to_fragment(from_tree(tree, TAR_ARGV, X86_64))
    merged = merge(recorded_tar(), report)
    assert not any(n.from_fragment for n in merged.processes)
    policy = generate(merged)
    assert [p.executable for p in policy.programs] == [TAR, GZIP]
    fsync = policy.root_program.phases[0].get("fsync")
    assert fsync is not None and [p.program for p in fsync.provenance] == [TAR]


def test_allow_and_deny_with_fragments() -> None:
    policy = generate(
        learned(), fragments="omit", manual=[parse_spec("allow", "fsync@xz")]
    )  # an omitted program's allowed calls still reach its parent's filters
    assert "fsync" in policy.root_program.phases[0].syscall_names()
    with pytest.raises(UsageError, match=f"--deny fsync@xz: {XZ} gets no policy of its own"):
        generate(learned(), fragments="omit", manual=[parse_spec("deny", "fsync@xz")])
    with pytest.raises(UsageError, match="unknown fragments choice 'keep'"):
        generate(learned(), fragments="keep")


@settings(max_examples=100)
@given(mergeable, mergeable)
def test_fragment_choices_on_any_merge(a: Profile, b: Profile) -> None:
    m = merge(a, to_fragment(b))
    if not m.processes:
        return
    only = fragment_only_programs(m)
    # programs are the executables of processes (a thread belongs to its process's)
    exes = {p.executable for p in generate(m, fragments="allow").programs}
    if not only:
        assert generate(m) == generate(m, fragments="omit") == generate(m, fragments="allow")
        return
    with pytest.raises(PolicyError, match="only seen in complain-mode reports"):
        generate(m)
    if root_program(m) in only:
        with pytest.raises(PolicyError):
            generate(m, fragments="omit")
        return
    kept = {p.executable for p in generate(m, fragments="omit").programs}
    assert kept == exes - set(only)


def test_a_reports_unmatched_root_never_becomes_the_root_program() -> None:
    # a complain run started as /usr/bin/aaa (sorting before tar): a root of its own
    tree = ProcessTree(
        [node(0, 10, None, NodeKind.SPAWN, "/usr/bin/aaa", ("aaa",))],
        [count(0, 0, "pwritev", 1)],
        [("start", "start")],
    )
    m = merge(recorded_tar(), to_fragment(from_tree(tree, ("aaa",), X86_64)))
    assert m.processes[0].executable == "/usr/bin/aaa"
    policy = generate(m, fragments="allow")
    assert [p.executable for p in policy.programs] == [TAR, "/usr/bin/aaa", GZIP]
    assert "prctl" not in policy.programs[1].phases[0].syscall_names()
    assert [p.executable for p in generate(m, fragments="omit").programs] == [TAR, GZIP]
