"""`sysphase trace` end to end: output formats, exit statuses, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.conftest import TRACEE_ENV, sysphase_cmd


def sysphase(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=timeout, env=TRACEE_ENV
    )


def test_live_lines_decode_arguments_and_errors(fx):
    p = sysphase("trace", "--color", "never", "--", fx["markers"], "2", "1")
    assert p.returncode == 0
    lines = p.stderr.splitlines()
    assert lines[0].startswith(f'execve("{fx["markers"]}", ["{fx["markers"]}", "2", "1"]')
    assert lines.count(f"getppid() = {os.getpid()}") == 0  # the parent is the tracer's child
    assert sum(1 for line in lines if re.fullmatch(r"getppid\(\) = \d+", line)) == 2
    assert "fchdir(-1) = -1 EBADF (Bad file descriptor)" in lines
    assert any(
        re.match(r'openat\(AT_FDCWD, "[^"]+", O_RDONLY\|O_CLOEXEC\) = \d+', line) for line in lines
    )
    assert lines[-1] == "exit_group(0) = ?"


def test_pids_shown_once_there_are_several_processes(fx):
    p = sysphase("trace", "--color", "never", "--", fx["forks"], "fork", "1", "1")
    assert p.returncode == 0
    assert re.search(r"^\[pid +\d+\] getppid\(\) = \d+$", p.stderr, re.M)


def test_json_lines(fx, tmp_path):
    out = tmp_path / "trace.jsonl"
    p = sysphase("trace", "--json", "-o", str(out), "--", fx["int80"])
    assert p.returncode == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    i386 = [e for e in events if e["arch"] == "i386"]
    assert [e["syscall"] for e in i386] == ["getpid", "getppid", "fchdir"]
    assert i386[2]["error"] == "EBADF"
    assert events[-1]["syscall"] == "exit_group" and events[-1]["retval"] is None


def test_color_always_uses_ansi(fx):
    p = sysphase("trace", "--color", "always", "--", fx["markers"], "1", "0")
    assert "\x1b[" in p.stderr
    p = sysphase("trace", "--color", "auto", "--", fx["markers"], "1", "0")
    assert "\x1b[" not in p.stderr  # stderr is a pipe here


def test_summary_and_tree(fx):
    p = sysphase("trace", "-c", "--tree", "--", fx["forks"], "fork", "2", "5")
    assert p.returncode == 0
    rows = {
        line.split()[-1]: line.split()
        for line in p.stderr.splitlines()
        if re.match(r"^\s*\d+\.\d+ ", line)
    }
    assert rows["getppid"][3] == "15"
    assert rows["clone"][3] == "2"
    tree = [line for line in p.stderr.splitlines() if "(spawn," in line or "(fork," in line]
    assert len(tree) == 3
    assert "5 calls" not in tree[0]


def test_filter_selects_syscalls_and_classes(fx):
    p = sysphase(
        "trace",
        "--color",
        "never",
        "-e",
        "trace=getppid,%process",
        "--",
        fx["forks"],
        "fork",
        "1",
        "1",
    )
    names = {re.sub(r"^\[pid +\d+\] ", "", line).split("(")[0] for line in p.stderr.splitlines()}
    assert names == {"execve", "getppid", "clone", "wait4", "exit_group"}
    p = sysphase("trace", "-c", "-e", "trace=!getppid", "--", fx["markers"], "3", "0")
    assert "getppid" not in p.stderr and "execve" in p.stderr


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["exit_signal", "code", "42"], 42),
        (["exit_signal", "15"], 128 + 15),
        (["exit_signal", "9"], 128 + 9),
    ],
)
def test_exit_status_is_the_programs(fx, argv, status):
    p = sysphase("trace", "-c", "--", fx[argv[0]], *argv[1:])
    assert p.returncode == status


def test_missing_program_is_127():
    p = sysphase("trace", "--", "no-such-program-sysphase")
    assert p.returncode == 127
    assert p.stderr == "sysphase: no-such-program-sysphase: command not found\n"


def test_not_executable_is_126(tmp_path):
    f = tmp_path / "data"
    f.write_text("hello")
    p = sysphase("trace", "--", str(f))
    assert p.returncode == 126
    assert p.stderr.count("\n") == 1 and str(f) in p.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["trace", "-e", "trace=nosuchcall", "--", "true"],
        ["trace", "-e", "trace=%nosuchclass", "--", "true"],
        ["trace"],
        ["trace", "--color", "sometimes", "--", "true"],
        ["trace", "-o", "/nonexistent/dir/file", "--", "true"],
        ["nosuchcommand"],
    ],
)
def test_bad_input_is_one_sentence(args):
    p = sysphase(*args)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("sysphase")
    assert "Traceback" not in p.stderr


def test_python_m_and_console_script_agree(fx):
    p = subprocess.run(
        ["sysphase", "trace", "-c", "--", fx["markers"], "4", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=TRACEE_ENV,
    )
    assert p.returncode == 0 and re.search(r"\s4\s+getppid", p.stderr)
