"""`sysphase trace -c --backend ebpf` and `record --backend ebpf` end to end."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.conftest import TRACEE_ENV, alive, need_ebpf, sysphase_cmd


@pytest.fixture(scope="module", autouse=True)
def _ebpf_available() -> None:
    need_ebpf()


def sysphase(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=timeout, env=TRACEE_ENV
    )


def rows(table: str) -> dict[str, tuple[int, int]]:
    """{syscall: (calls, errors)} from a -c table whose time columns are '-'."""
    out = {}
    for line in table.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[:3] == ["-", "-", "-"]:
            calls = int(parts[3])
            errors = int(parts[4]) if len(parts) == 6 else 0
            out[parts[-1]] = (calls, errors)
    return out


def test_trace_summary(fx):
    p = sysphase("trace", "-c", "--backend", "ebpf", "--", fx["markers"], "5", "3")
    assert p.returncode == 0, p.stderr
    table = rows(p.stderr)
    assert table["getppid"] == (5, 0)
    assert table["fchdir"] == (3, 3)
    assert "times not measured" in p.stderr
    assert "did not return (not counted above, as in strace): exit_group 1" in p.stderr


def test_trace_summary_json_and_exit_status(fx):
    p = sysphase(
        "trace", "-c", "--json", "--backend", "ebpf", "--", fx["exit_signal"], "code", "42"
    )
    assert p.returncode == 42
    totals = json.loads(p.stderr.splitlines()[-1])["totals"]
    assert totals["exit_group"] == {"calls": 0, "errors": 0, "time_ns": None, "unfinished": 1}
    assert all(t["time_ns"] is None for t in totals.values())
    assert totals["execve"]["calls"] == 1


def test_trace_tree(fx):
    p = sysphase("trace", "-c", "--tree", "--backend", "ebpf", "--", fx["forks"], "fork", "2", "1")
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("(fork, exit 0)") == 2


@pytest.mark.parametrize(
    "args",
    [
        ("trace", "--backend", "ebpf", "--", "true"),
        ("trace", "-c", "--backend", "ebpf", "-p", "1"),
        (
            "record",
            "-o",
            "/dev/null",
            "--backend",
            "ebpf",
            "--phase",
            "a=syscall:read",
            "--",
            "true",
        ),
        ("record", "-o", "/dev/null", "--backend", "ebpf", "--workload", "ls"),
    ],
)
def test_usage_errors(args):
    p = sysphase(*args)
    assert p.returncode == 2
    assert p.stderr.startswith("sysphase: ") and "ebpf" in p.stderr
    assert "Traceback" not in p.stderr


def test_missing_program_exits_127():
    p = sysphase("trace", "-c", "--backend", "ebpf", "--", "/nonexistent/prog")
    assert p.returncode == 127
    assert p.stderr.strip() == "sysphase: /nonexistent/prog: command not found"


def test_record_profile_phases_at_exec(fx, tmp_path):
    m = fx["markers"]
    out = tmp_path / "p.json"
    p = sysphase(
        "record", "--backend", "ebpf", "-o", str(out), "--", "sh", "-c", f"{m} 2 1; {m} 3 0"
    )
    assert p.returncode == 0, p.stderr
    s = sysphase("stats", "--json", str(out))
    assert s.returncode == 0, s.stderr
    stats = json.loads(s.stdout)
    assert stats["totals"]["fchdir"]["calls"] == stats["totals"]["fchdir"]["errors"] == 1
    marker_phases = stats["programs"][os.path.realpath(m)]["phases"]
    assert list(marker_phases) == ["markers"]
    assert marker_phases["markers"]["getppid"]["calls"] == 5
    profile = json.loads(out.read_text())
    kinds = [n["created"] for n in profile["processes"]]
    assert kinds.count("exec") == 2 and kinds[0] == "spawn"
    # the profile makes a policy like any other
    pol = sysphase("policy", str(out), "--format", "oci")
    assert pol.returncode == 0, pol.stderr
    assert "getppid" in pol.stdout


def test_unprivileged_gets_one_sentence_naming_the_capabilities(fx):
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    p = subprocess.run(
        [
            setpriv,
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            *sysphase_cmd("trace", "-c", "--backend", "ebpf", "--", fx["markers"], "1", "0"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=TRACEE_ENV,
    )
    assert p.returncode == 1
    assert p.stderr == (
        "sysphase: the eBPF backend is not permitted here: it needs root or the "
        "CAP_BPF and CAP_PERFMON capabilities\n"
    )


def test_sigterm_kills_the_tree_and_prints_the_counts(fx):
    proc = subprocess.Popen(
        sysphase_cmd("trace", "-c", "--backend", "ebpf", "--", fx["ignore_term"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=TRACEE_ENV,
    )
    assert proc.stdout is not None
    pids = [int(proc.stdout.readline()), int(proc.stdout.readline())]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "interrupted by SIGTERM; killed every traced process" in err
    assert rows(err)["rt_sigaction"][0] >= 3
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in pids)
