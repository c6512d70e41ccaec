"""The seccomp fast paths from the command line: `record --sets-only`, `record --baseline`,
`record --runs N` (later runs use the profile so far), and `trace -e` through a filter,
checked against full tracing and against `strace -f -c`."""

from __future__ import annotations

import json
import subprocess

import pytest

from sysphase.model import syscalls
from tests.conftest import TRACEE_ENV, strace_counts, sysphase_cmd


def sysphase(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=timeout, env=TRACEE_ENV
    )


def phase_sets(path) -> set[tuple[str, str, str]]:
    data = json.loads(path.read_text())
    return {
        (n["executable"], ph["name"], k)
        for n in data["processes"]
        for ph in n["phases"]
        for k in ph["syscalls"]
    }


def record(tmp_path, name: str, *args: str) -> tuple[set[tuple[str, str, str]], str]:
    out = tmp_path / f"{name}.json"
    p = sysphase("record", "-o", str(out), *args)
    assert p.returncode == 0, p.stderr
    return phase_sets(out), p.stderr


PHASED = ("--phase", "serve=syscall:getpid")


def test_sets_only_records_the_sets_of_full_recording(fx, tmp_path):
    cmd = ("--", "sh", "-c", f"{fx['phases']} syscall; {fx['markers']} 3 1")
    full, _ = record(tmp_path, "full", "--full", *PHASED, *cmd)
    fast, _ = record(tmp_path, "fast", "--sets-only", *PHASED, *cmd)
    assert fast == full and any(ph == "serve" for _, ph, _ in full)


def test_later_runs_use_the_profile_so_far_and_stay_exact(fx, tmp_path):
    cmd = ("--", fx["phases"], "syscall")
    full, _ = record(tmp_path, "full", "--full", *PHASED, *cmd)
    runs, err = record(tmp_path, "runs", "--runs", "3", *PHASED, *cmd)
    assert runs == full
    assert "run 2 of 3: 0 new syscalls" in err and "run 3 of 3: 0 new syscalls" in err


def test_baseline_profile_is_extended_exactly(fx, tmp_path):
    small = ("--", "sh", "-c", f"{fx['markers']} 0 0")
    big = ("--", "sh", "-c", f"{fx['markers']} 3 1; {fx['forks']} fork 1 1")
    base, _ = record(tmp_path, "base", *small)
    full, _ = record(tmp_path, "full", *big)
    grown, err = record(tmp_path, "grown", "--baseline", str(tmp_path / "base.json"), *big)
    assert grown == base | full
    assert "getppid" in err and "fchdir" in err  # reported as new
    assert json.loads((tmp_path / "grown.json").read_text())["runs"] == 2


def test_bad_combinations_and_files_are_one_sentence(fx, tmp_path):
    p = sysphase("record", "-o", str(tmp_path / "x"), "--full", "--sets-only", "--", "true")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "--full" in p.stderr
    missing = tmp_path / "missing.json"
    p = sysphase("record", "-o", str(tmp_path / "x"), "--baseline", str(missing), "--", "true")
    assert p.returncode == 1 and str(missing) in p.stderr and p.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "expr"),
    [
        (["forks", "vfork", "3", "2"], "trace=%process,getppid"),
        (["markers", "50", "7"], "trace=fchdir,getppid"),
        (["int80"], "trace=getppid,fchdir,getpid"),
        (["signals", "20"], "trace=%signal"),
    ],
    ids=["process", "markers", "int80", "signal"],
)
def test_filtered_trace_counts_equal_strace(fx, argv, expr):
    cmd = [fx[argv[0]], *argv[1:]]
    names, _ = parse(expr)
    theirs = {k: v for k, v in strace_counts(cmd).items() if k[1] in names}
    for flags in ((), ("--no-seccomp-filter",)):
        p = sysphase("trace", "-c", "--json", *flags, "-e", expr, "--", *cmd)
        assert p.returncode == 0, p.stderr
        rows = json.loads(p.stderr.strip().splitlines()[-1])["totals"]
        ours = {
            ((k.split(":")[0] if ":" in k else "x86_64"), k.split(":")[-1]): (
                v["calls"],
                v["errors"],
            )
            for k, v in rows.items()
            if v["calls"]
        }
        assert ours == theirs, flags
        assert set(theirs)


def parse(expr: str) -> tuple[frozenset[str], bool]:
    from sysphase.cli.trace_cmd import parse_selection

    return parse_selection(expr)


def test_filtered_trace_prints_only_selected_lines_with_results(fx):
    p = sysphase("trace", "--color", "never", "-e", "trace=fchdir", "--", fx["markers"], "2", "2")
    assert p.returncode == 0
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert lines == ["fchdir(-1) = -1 EBADF (Bad file descriptor)"] * 2
    assert syscalls.number("x86_64", "fchdir") is not None
