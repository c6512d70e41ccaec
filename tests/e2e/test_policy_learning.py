"""The learning loop on the command line: --allow and --deny by hand, complain reports merged.

A policy recorded from `markers 2 0` kills `markers 2 1` (one fchdir it never
saw): `--allow fchdir@markers` lets it run, `--deny getppid` kills the
recorded run, and --explain says which calls were added or removed by hand. A
complain-mode report merged into the profile widens the policy; a program
that only a report (a fragment) has is refused a policy of its own unless
asked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from sysphase.model import profile_codec
from sysphase.model.profile_fragment import to_fragment
from tests.conftest import TRACEE_ENV, sysphase_cmd


def sysphase(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*map(str, args)), capture_output=True, text=True, timeout=120, env=TRACEE_ENV
    )


def ok(*args: str | Path) -> subprocess.CompletedProcess[str]:
    p = sysphase(*args)
    assert p.returncode == 0, p.stderr
    return p


@pytest.fixture(scope="module")
def recorded(fx, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("learn") / "markers.json"
    ok("record", "-o", out, "--", fx["markers"], "2", "0")
    return out


def test_allowed_by_hand_runs_and_says_so(recorded, fx, tmp_path):
    pol = tmp_path / "p.pol"
    p = ok("policy", recorded, "--allow", "fchdir@markers", "--explain", "-o", pol)
    assert f"allowed by hand: --allow fchdir@{fx['markers']}" in p.stderr
    (start,) = json.loads(pol.read_text())["programs"][0]["phases"]
    (fchdir,) = [c for c in start["allowed"] if c["syscall"] == "fchdir"]
    assert fchdir["reason"] == f"allowed by hand: --allow fchdir@{fx['markers']}"
    run = sysphase("run", "--policy", pol, "--", fx["markers"], "2", "1")
    assert run.returncode == 0, run.stderr


def test_denied_by_hand_is_killed_and_listed(recorded, fx, tmp_path):
    pol = tmp_path / "p.pol"
    p = ok("policy", recorded, "--deny", "getppid", "--explain", "-o", pol)
    assert "denied by hand: --deny getppid" in p.stderr
    (start,) = json.loads(pol.read_text())["programs"][0]["phases"]
    assert "getppid" not in {c["syscall"] for c in start["allowed"]}
    (refused,) = [r for r in start["refused"] if r["syscall"] == "getppid"]
    assert refused["reason"] == "denied by hand: --deny getppid"
    assert refused["provenance"] == [{"program": fx["markers"], "phase": "start", "calls": 2}]
    run = sysphase("run", "--policy", pol, "--", fx["markers"], "2", "0")
    assert run.returncode != 0 and "killed by seccomp: getppid" in run.stderr


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--allow", "fchdirr"], "--allow fchdirr: unknown syscall fchdirr for x86_64"),
        (["--allow", "fchdir@nosuch"], "--allow fchdir@nosuch: the profile has no program nosuch"),
        (["--allow", "fchdir@markers:serve"], "has no phase serve (its phases: start)"),
        (["--deny", "exit_group"], "--deny exit_group: exit_group cannot be denied"),
        (["--deny", "prctl"], "--deny prctl: sysphase needs prctl in"),
        (["--allow", "fchdir@markers", "--deny", "fchdir@markers"], "contradict each other"),
        (["--allow", "fchdir@"], "--allow fchdir@: no program after @"),
        (["--allow-fragments", "--omit-fragments"], "not allowed with argument"),
    ],
)
def test_bad_specs_are_one_sentence(recorded, tmp_path, extra, needle):
    p = sysphase("policy", recorded, *extra, "-o", tmp_path / "p.pol")
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and needle in p.stderr, p.stderr
    assert not (tmp_path / "p.pol").exists()


def test_a_merged_complain_report_widens_the_policy(recorded, fx, tmp_path):
    pol, report, merged = tmp_path / "p.pol", tmp_path / "report.json", tmp_path / "m.json"
    ok("policy", recorded, "-o", pol)
    ok("run", "--policy", pol, "--complain", "--report", report, "--", fx["markers"], "2", "3")
    ok("merge", "-o", merged, recorded, report)
    ok("policy", merged, "-o", tmp_path / "m.pol")
    run = sysphase("run", "--policy", tmp_path / "m.pol", "--", fx["markers"], "2", "3")
    assert run.returncode == 0, run.stderr


def test_a_program_only_a_report_has_gets_no_policy_unless_asked(fx, tmp_path):
    sh = shutil.which("sh")
    assert sh is not None
    prof, pol = tmp_path / "sh.json", tmp_path / "sh.pol"
    ok("record", "-o", prof, "--", sh, "-c", f"{fx['markers']} 2 0")
    ok("policy", prof, "-o", pol)
    report = tmp_path / "report.json"
    command = f"{fx['markers']} 2 0; /bin/ls / >/dev/null"
    ok("run", "--policy", pol, "--complain", "--report", report, "--", sh, "-c", command)
    # what run writes as its report: the run's calls outside the policy, as a fragment
    fragment = to_fragment(profile_codec.decode(report.read_text(), str(report)))
    report.write_text(profile_codec.encode(fragment))
    merged = tmp_path / "m.json"
    ok("merge", "-o", merged, prof, report)
    ls = next(n.executable for n in fragment.processes if n.executable.endswith("/ls"))
    refused = sysphase("policy", merged, "-o", tmp_path / "m.pol")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert f"program {ls} was only seen in complain-mode reports" in refused.stderr
    assert "--allow-fragments" in refused.stderr and "sysphase record" in refused.stderr
    ok("policy", merged, "--omit-fragments", "-o", tmp_path / "omit.pol")
    omitted = json.loads((tmp_path / "omit.pol").read_text())
    assert ls not in [p["executable"] for p in omitted["programs"]]
    first = {c["syscall"] for c in omitted["programs"][0]["phases"][0]["allowed"]}
    ls_calls = {k for n in fragment.processes if n.executable == ls for ph in n.phases
                for k in ph.syscalls}  # fmt: skip
    assert ls_calls <= first  # the report's calls widen the filter ls runs under
    run = sysphase("run", "--policy", tmp_path / "omit.pol", "--", sh, "-c", command)
    assert run.returncode == 0, run.stderr
    ok("policy", merged, "--allow-fragments", "-o", tmp_path / "all.pol")
    allowed = json.loads((tmp_path / "all.pol").read_text())
    assert ls in [p["executable"] for p in allowed["programs"]]
