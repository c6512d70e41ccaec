"""`sysphase run`: a program under its recorded policy, killed on anything else, or --complain."""

from __future__ import annotations

import json
import re
import signal
import subprocess

import pytest

from tests.conftest import TRACEE_ENV, sysphase_cmd


def kill_line(p: subprocess.CompletedProcess[str], where: str) -> None:
    """One live kill line (pid, tid, time, arguments), then the summary counting it once."""
    lines = p.stderr.splitlines()
    assert len(lines) == 3, p.stderr
    pattern = (
        rf"killed by seccomp: {re.escape(where)}; pid \d+, tid \d+, "
        r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}, args \((0x[0-9a-f]+, ){5}0x[0-9a-f]+\)"
    )
    assert re.fullmatch(pattern, lines[0]), lines[0]
    assert lines[1] == "sysphase: 1 kill(s) by seccomp:"
    assert lines[2] == f"  {where.split(' in ', 1)[1]}  {where.split(' in ', 1)[0]}  1"


def sysphase(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=120, env=TRACEE_ENV
    )


@pytest.fixture(scope="module")
def policy(fx, tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("run")
    assert (
        sysphase("record", "-o", str(d / "p.json"), "--", fx["markers"], "2", "0").returncode == 0
    )
    assert sysphase("policy", str(d / "p.json"), "-o", str(d / "p.pol")).returncode == 0
    return str(d / "p.pol")


def test_harmless_run_exits_0_under_the_filter(policy, fx):
    p = sysphase("run", "--policy", policy, "--", fx["markers"], "2", "0")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""


def test_extra_call_is_killed_and_named(policy, fx):
    p = sysphase("run", "--policy", policy, "--", fx["markers"], "2", "1")
    assert p.returncode == -signal.SIGSYS
    kill_line(p, f"fchdir (81) in {fx['markers']}, phase start")


@pytest.mark.parametrize(
    ("fixture", "name"), [("int80", "getpid [i386] (20)"), ("x32", "getpid [x32] (1073741863)")]
)
def test_other_abis_are_killed(policy, fx, fixture, name):
    # another program of the same policy, chosen deliberately (--program)
    p = sysphase("run", "--policy", policy, "--program", fx["markers"], "--", fx[fixture])
    assert p.returncode == -signal.SIGSYS
    assert f"killed by seccomp: {name}" in p.stderr


def test_no_new_privs_and_filter_are_set(fx, tmp_path):
    prof, pol = tmp_path / "cat.json", tmp_path / "cat.pol"
    assert (
        sysphase("record", "-o", str(prof), "--", "/bin/cat", "/proc/self/status").returncode == 0
    )
    assert sysphase("policy", str(prof), "-o", str(pol)).returncode == 0
    p = sysphase("run", "--policy", str(pol), "--", "/bin/cat", "/proc/self/status")
    assert p.returncode == 0, p.stderr
    assert "NoNewPrivs:\t1" in p.stdout and "Seccomp:\t2" in p.stdout


def test_complain_runs_to_the_end_and_reports_exactly_the_extra_call(policy, fx, tmp_path):
    report = tmp_path / "report.json"
    p = sysphase(
        "run",
        "--policy",
        policy,
        "--complain",
        "--report",
        str(report),
        "--",
        fx["markers"],
        "2",
        "3",
    )
    assert p.returncode == 0, p.stderr
    assert "3 call(s) outside the policy" in p.stderr
    assert f"{fx['markers']}  phase start  fchdir  3" in p.stderr
    stats = json.loads(sysphase("stats", "--json", str(report)).stdout)
    assert {k: v["calls"] for k, v in stats["totals"].items() if v["calls"]} == {"fchdir": 3}
    # the report merges with a profile, widening it
    merged = tmp_path / "merged.json"
    assert sysphase("merge", "-o", str(merged), str(report), str(report)).returncode == 0


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--policy", "/nonexistent.pol", "--", "true"],
        ["run", "--policy", "@POLICY", "--report", "x.json", "--", "true"],
        ["run", "--policy", "@POLICY"],
    ],
)
def test_bad_input_is_one_sentence(policy, args, tmp_path):
    argv = [policy if a == "@POLICY" else a for a in args]
    p = subprocess.run(
        sysphase_cmd(*argv), capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert p.returncode != 0 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr


@pytest.fixture(scope="module")
def twophase_policy(fx, tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("twophase")
    rec = sysphase(
        "record",
        "-o",
        str(d / "p.json"),
        "--phase",
        "serve=syscall:getpid",
        "--",
        fx["twophase"],
        "before",
        "4",
    )
    assert rec.returncode == 0, rec.stderr
    assert sysphase("policy", str(d / "p.json"), "-o", str(d / "p.pol")).returncode == 0
    pol = json.loads((d / "p.pol").read_text())
    phases = {
        ph["name"]: {a["syscall"] for a in ph["allowed"]} for ph in pol["programs"][0]["phases"]
    }
    assert "socket" in phases["start"] and "socket" not in phases["serve"]
    return str(d / "p.pol")


def test_two_phases_socket_allowed_before_the_trigger(twophase_policy, fx):
    p = sysphase("run", "--policy", twophase_policy, "--", fx["twophase"], "before", "4")
    assert p.returncode == 0, p.stderr


def test_two_phases_every_thread_narrows_at_the_trigger(twophase_policy, fx):
    # the socket() after the switch comes from a thread that did not make the trigger call
    p = sysphase("run", "--policy", twophase_policy, "--", fx["twophase"], "after", "4")
    assert p.returncode == -signal.SIGSYS
    kill_line(p, f"socket (41) in {fx['twophase']}, phase serve")


def test_two_phases_complain_reports_the_serving_phase_call(twophase_policy, fx):
    p = sysphase(
        "run", "--policy", twophase_policy, "--complain", "--", fx["twophase"], "after", "4"
    )
    assert p.returncode == 0, p.stderr
    assert f"{fx['twophase']}  phase serve  socket  1" in p.stderr


def test_two_phases_switched_at_a_function_breakpoint(fx, tmp_path):
    prof, pol = tmp_path / "p.json", tmp_path / "p.pol"
    rec = sysphase(
        "record",
        "-o",
        str(prof),
        "--phase",
        "serve=symbol:twophase_serve",
        "--",
        fx["twophase"],
        "before",
        "3",
    )
    assert rec.returncode == 0, rec.stderr
    assert sysphase("policy", str(prof), "-o", str(pol)).returncode == 0
    ok = sysphase("run", "--policy", str(pol), "--", fx["twophase"], "before", "3")
    assert ok.returncode == 0, ok.stderr
    bad = sysphase("run", "--policy", str(pol), "--", fx["twophase"], "after", "3")
    assert bad.returncode == -signal.SIGSYS
    assert "killed by seccomp: socket (41)" in bad.stderr and "phase serve" in bad.stderr


def test_phases_switched_by_a_signal(fx, tmp_path):
    prof, pol = tmp_path / "p.json", tmp_path / "p.pol"
    rec = sysphase(
        "record", "-o", str(prof), "--phase-signal", "SIGUSR2", "--", fx["phases"], "signal"
    )
    assert rec.returncode == 0, rec.stderr
    assert sysphase("policy", str(prof), "-o", str(pol)).returncode == 0
    ok = sysphase("run", "--policy", str(pol), "--", fx["phases"], "signal")
    assert ok.returncode == 0, ok.stderr
    # getpid was only made in start-up (kill(getpid(), ...)): phase-2's filter lacks it
    bad = sysphase("run", "--policy", str(pol), "--", fx["phases"], "signal", "extra")
    assert bad.returncode == -signal.SIGSYS
    kill_line(bad, f"getpid (39) in {fx['phases']}, phase phase-2")


def test_marker_trigger_is_refused_clearly(fx, tmp_path):
    prof, pol = tmp_path / "p.json", tmp_path / "p.pol"
    assert sysphase("record", "-o", str(prof), "--", fx["phases"], "mark").returncode == 0
    assert sysphase("policy", str(prof), "-o", str(pol)).returncode == 0
    p = sysphase("run", "--policy", str(pol), "--", fx["phases"], "mark")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "'marker'" in p.stderr


def test_an_execd_program_switches_its_own_phases(fx, tmp_path):
    # sh execs twophase: the policy has sh's phase and twophase's start/serve phases
    prof, pol = tmp_path / "p.json", tmp_path / "p.pol"
    script = f'exec {fx["twophase"]} "$0" 3'
    rec = sysphase(
        "record",
        "-o",
        str(prof),
        "--phase",
        "serve=syscall:getpid",
        "--",
        "/bin/sh",
        "-c",
        script,
        "before",
    )
    assert rec.returncode == 0, rec.stderr
    assert sysphase("policy", str(prof), "-o", str(pol)).returncode == 0
    ok = sysphase("run", "--policy", str(pol), "--", "/bin/sh", "-c", script, "before")
    assert ok.returncode == 0, ok.stderr
    bad = sysphase("run", "--policy", str(pol), "--", "/bin/sh", "-c", script, "after")
    assert bad.returncode == -signal.SIGSYS, bad.stderr
    assert "killed by seccomp: socket (41)" in bad.stderr and "serve" in bad.stderr
