"""Coverage in `policy` and `stats`: --explain's marks, --allow-reachable, stats --coverage.

On a recorded `ls /`: --explain marks getdents64 seen, restart_syscall added,
and never lists connect (`ls /` makes none); --allow-reachable
getpwnam@/usr/bin/ls adds connect and socket as "reachable from getpwnam";
an unknown function is one sentence; stats --coverage prints a ratio and
--json has it under "coverage"; a profile whose program file is gone or not
ELF still explains, saying once why reachability is unknown.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.test_coverage import _one_sentence, record, sysphase

LS = shutil.which("ls") or "/usr/bin/ls"


@pytest.fixture(scope="module")
def ls_profile(tmp_path_factory) -> Path:
    return record(tmp_path_factory.mktemp("ls") / "ls.json", LS, "/")


def explained(profile: Path, out: Path, *options: str) -> dict[str, tuple[str, str]]:
    """--explain's calls of the (only) phase: name -> (mark, description)."""
    p = sysphase("policy", str(profile), *options, "--explain", "-o", str(out))
    assert p.returncode == 0, p.stderr
    return calls_of(p.stderr)


def calls_of(text: str) -> dict[str, tuple[str, str]]:
    calls = {}
    for line in text.splitlines():
        if line.startswith("    ") and not line.startswith("     "):
            name, mark, why = line.split(None, 2)
            calls[name] = (mark, why)
    return calls


def test_explain_marks_seen_reachable_added(ls_profile, tmp_path):
    plain = tmp_path / "plain.json"
    p = sysphase("policy", str(ls_profile), "-o", str(plain))
    assert p.returncode == 0 and p.stderr == "", p.stderr
    calls = explained(ls_profile, tmp_path / "p.json")
    assert calls["getdents64"][0] == "seen"
    assert calls["restart_syscall"] == ("added", calls["restart_syscall"][1])
    assert "always added" in calls["restart_syscall"][1]
    assert "connect" not in calls
    assert {mark for mark, _ in calls.values()} <= {"seen", "reachable", "added"}
    assert (tmp_path / "p.json").read_bytes() == plain.read_bytes()  # the policy is unchanged


def test_allow_reachable_adds_what_a_function_reaches(ls_profile, tmp_path):
    out = tmp_path / "p.json"
    calls = explained(ls_profile, out, "--allow-reachable", f"getpwnam@{LS}")
    for name in ("connect", "socket"):
        mark, why = calls[name]
        assert mark == "reachable"
        assert f"allowed by hand: reachable from getpwnam (--allow-reachable getpwnam@{LS})" in why
    (program,) = json.loads(out.read_text())["programs"]
    allowed = {a["syscall"] for a in program["phases"][0]["allowed"]}
    assert {"connect", "socket"} <= allowed


def test_an_unknown_function_is_one_sentence(ls_profile, tmp_path):
    p = sysphase(
        "policy", str(ls_profile), "--allow-reachable", "no_such_fn@ls", "-o", str(tmp_path / "p")
    )
    _one_sentence(p, "no_such_fn", LS, "does not import")
    assert not (tmp_path / "p").exists()


def test_stats_coverage_text_and_json(ls_profile):
    p = sysphase("stats", str(ls_profile))
    assert p.returncode == 0 and "Coverage" not in p.stdout
    p = sysphase("stats", "--coverage", str(ls_profile))
    assert p.returncode == 0, p.stderr
    assert "Coverage (calls seen of those the program's code can reach):" in p.stdout
    assert any(" seen (" in line and "%)" in line for line in p.stdout.splitlines())
    p = sysphase("stats", "--json", "--coverage", str(ls_profile))
    assert p.returncode == 0, p.stderr
    start = json.loads(p.stdout)["coverage"][LS]["phases"]["start"]
    assert 0 < start["ratio"] < 1 and start["seen_reachable"] <= start["reachable"]
    assert "coverage" not in json.loads(sysphase("stats", "--json", str(ls_profile)).stdout)


@pytest.mark.parametrize("damage", ["missing", "not ELF"])
def test_explain_without_the_program_file(fx, tmp_path, damage):
    copy = tmp_path / "prog"
    shutil.copy(fx["coverage"], copy)
    profile = record(tmp_path / "p.json", str(copy))
    copy.unlink()
    if damage == "not ELF":
        copy.write_text("#!/bin/sh\n")
    p = sysphase("policy", str(profile), "--explain", "-o", str(tmp_path / "p.pol"))
    assert p.returncode == 0, p.stderr
    unknown = [line for line in p.stderr.splitlines() if "reachability unknown" in line]
    assert len(unknown) == 1 and str(copy) in unknown[0], p.stderr
    calls = calls_of(p.stderr)
    assert calls["exit_group"][0] == "seen" and calls["restart_syscall"][0] == "added"
    assert {mark for mark, _ in calls.values()} == {"seen", "added"}
