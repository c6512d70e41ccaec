"""A traced program that names itself and its phase with terminal escapes cannot reach the terminal.

The program's path holds ESC and a newline, its argv control bytes, and it
marks a phase whose name sets the terminal title (OSC ... BEL), closes a C
comment and starts a line with ``#include <evil>``. Recorded for real, then
shown by `stats`, `diff`, `policy --explain`, `run` (the kill line) and `run
--complain`: no control character (but the newlines between lines) is
printed, and each name shows escaped.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import sysphase
from tests.conftest import TRACEE_ENV, sysphase_cmd

PHASE = "x\x1b]0;pwn\x07*/\n#include <evil>"
PROGRAM = r"""
#define _GNU_SOURCE
#include <sysphase.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc > 1 && argv[1][0] == 'm')
        SYSPHASE_MARK("x\x1b]0;pwn\x07*/\n#include <evil>");
    syscall(SYS_getppid);
    if (argc > 1 && argv[1][0] == 'f')
        syscall(SYS_fchdir, -1);
    return 0;
}
"""

#: control characters but the newline, DEL, C1 controls, line/paragraph separators, and
#: bytes that are not UTF-8 (read back as lone surrogates)
_FORBIDDEN = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def sysphase_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args),
        capture_output=True,
        text=True,
        errors="surrogateescape",
        timeout=120,
        env=TRACEE_ENV,
    )


def clean(text: str) -> str:
    assert not _FORBIDDEN.search(text), repr(text)
    return text


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> str:
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the hostile program")
    d = tmp_path_factory.mktemp("hostile")
    (d / "hostile.c").write_text(PROGRAM)
    exe = d / "evil\x1b[31m\nname\u2028*"
    include = os.path.join(os.path.dirname(sysphase.__file__), "include")
    subprocess.run(
        ["gcc", "-O1", f"-I{include}", "-o", str(exe), str(d / "hostile.c")],
        check=True,
        timeout=60,
    )
    return str(exe)


ESCAPED_EXE = "evil\\x1b[31m\\nname\\u2028*"
ESCAPED_PHASE = "x\\x1b]0;pwn\\x07*/\\n#include <evil>"


def test_stats_diff_and_explain_escape_the_names(program: str, tmp_path: Path) -> None:
    marked, plain = tmp_path / "marked.json", tmp_path / "plain.json"
    rec = sysphase_run("record", "-o", str(marked), "--", program, "m\x1b[2J\x9b")
    assert rec.returncode == 0, rec.stderr
    clean(rec.stderr)
    assert sysphase_run("record", "-o", str(plain), "--", program).returncode == 0
    stats = sysphase_run("stats", str(marked))
    assert stats.returncode == 0, stats.stderr
    assert f"  phase {ESCAPED_PHASE}\n" in clean(stats.stdout)
    assert ESCAPED_EXE in stats.stdout and "m\\x1b[2J\\u009b" in stats.stdout
    diff = sysphase_run("diff", str(plain), str(marked))
    assert diff.returncode == 0, diff.stderr
    assert f"  phase {ESCAPED_PHASE}\n    + exit_group\n    + getppid\n" in clean(diff.stdout)
    explained = sysphase_run("policy", str(marked), "--explain", "-o", str(tmp_path / "p.pol"))
    assert explained.returncode == 0, explained.stderr
    assert f"  phase {ESCAPED_PHASE} (trigger: marker)" in clean(explained.stderr)


def test_run_kill_and_complain_lines_escape_the_names(program: str, tmp_path: Path) -> None:
    prof, pol = tmp_path / "p.json", tmp_path / "p.pol"
    assert sysphase_run("record", "-o", str(prof), "--", program).returncode == 0
    assert sysphase_run("policy", str(prof), "-o", str(pol)).returncode == 0
    killed = sysphase_run("run", "--policy", str(pol), "--", program, "f\x1b[2J")
    assert killed.returncode == -signal.SIGSYS, killed.stderr
    first = clean(killed.stderr).splitlines()[0]
    assert f"{ESCAPED_EXE}, phase start; pid " in first
    assert killed.stderr.startswith("killed by seccomp: fchdir (81) in ")
    complain = sysphase_run("run", "--complain", "--policy", str(pol), "--", program, "f")
    assert complain.returncode == 0, complain.stderr
    assert f"{ESCAPED_EXE}  phase start  fchdir  1" in clean(complain.stderr)
