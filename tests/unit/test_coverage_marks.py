"""Coverage's pure parts in `policy` and `stats`: marks, --allow-reachable specs, ratios.

On policy_samples' server (start and serve, a child that execs /bin/sh) and
test_coverage_report's one-program profile: --explain's marks (seen in the
phase or where the provenance says, reachable, added), the targeting and
origins of --allow-reachable specs, and stats --coverage's counts.
"""

from __future__ import annotations

import dataclasses

import pytest

from sysphase.coverage import report
from sysphase.coverage.marks import LEGEND, call_marks
from sysphase.coverage.ratio import ratio_json, render_ratios
from sysphase.errors import UsageError
from sysphase.policy import explain, generate
from sysphase.policy.manual_calls import parse_reachable, targets
from tests.unit.policy_samples import SERVER, SH, server_profile, the_phase
from tests.unit.test_coverage_report import EXE, _profile, _reach


def _server_reach(*names: str) -> report.ProgramReach:
    return report.ProgramReach(SERVER, {"f@libc": frozenset(names)}, {}, (), 1)


def test_marks_seen_reachable_added() -> None:
    profile = server_profile()
    policy = generate(profile)
    marks = call_marks(profile, {SERVER: _server_reach("connect", "clock_gettime", "openat")})
    start = the_phase(policy, SERVER, "start")
    for name, want in (("openat", "seen"), ("clock_gettime", "reachable"), ("prctl", "added")):
        call = start.get(name)
        assert call is not None and marks(SERVER, "start", call) == want, name
    # a recorded call is seen where its provenance says, even only in the child /bin/sh
    recorded = [c for c in start.allowed if c.provenance and not c.reason]
    assert any({p.program for p in c.provenance} == {SH} for c in recorded)
    assert {marks(SERVER, "start", c) for c in recorded} == {"seen"}


def test_explain_with_marks_and_an_unknown_program() -> None:
    profile = server_profile()
    policy = generate(profile)
    plain = explain(policy)
    text = explain(policy, call_marks(profile, {}), LEGEND, {SH: "/bin/sh: no such file"})
    assert LEGEND in text and LEGEND not in plain
    assert text.count("reachability unknown") == 1
    assert "  reachability unknown (marks seen or added only): /bin/sh: no such file" in text
    assert any(line.split()[:2] == ["prctl", "added"] for line in text.splitlines())


def test_allow_reachable_specs_target_like_allow() -> None:
    one, two = parse_reachable("getpwnam, getgrgid@server:serve")
    assert (one.function, two.function, one.where) == ("getpwnam", "getgrgid", "server:serve")
    assert one.option == "--allow-reachable getpwnam, getgrgid@server:serve"
    assert targets(one, [SERVER, SH]) == (SERVER,)
    assert targets(parse_reachable("x")[0], [SERVER, SH]) == (SERVER, SH)
    assert targets(parse_reachable("x@nothing")[0], [SERVER, SH]) == ()
    with pytest.raises(UsageError, match="a function name is empty"):
        parse_reachable(",x")
    spec = dataclasses.replace(one, reached={SERVER: ("connect", "socket")})
    policy = generate(server_profile(), manual=[spec])
    serve = the_phase(policy, SERVER, "serve").get("connect")
    assert serve is not None
    assert serve.reason == (
        f"allowed by hand: reachable from getpwnam (--allow-reachable getpwnam@{SERVER}:serve)"
    )
    assert "connect" not in the_phase(policy, SH, "sh").syscall_names()


def test_ratios() -> None:
    covered = report.cover(_profile(), {EXE: _reach()})
    doc = ratio_json(covered, {"/bin/other": "/bin/other: no such file"})
    start = doc[EXE]["phases"]["start"]  # type: ignore[index]
    # seen read, write, execve, i386:open; 7 reachable, of them read and write seen
    assert start == {
        "seen": 4,
        "seen_reachable": 2,
        "seen_not_reachable": 2,
        "reachable": 7,
        "ratio": 0.286,
    }
    assert doc["/bin/other"] == {"unknown": "/bin/other: no such file"}
    text = render_ratios(covered, {"/bin/other": "gone"})
    assert "    phase start: 2 of 7 seen (29%); 2 more seen, not found reachable" in text
    assert "  /bin/other: reachability unknown: gone" in text
