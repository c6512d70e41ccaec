"""`trace -c --tree` on a real terminal: rich tables and trees; the same run piped: plain text.

stderr is a pseudo-terminal here, as when someone runs sysphase by hand;
COLUMNS fixes the width rich lays out for.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess

from tests.conftest import TRACEE_ENV, sysphase_cmd

SGR = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_a_terminal(*args: str) -> tuple[int, str]:
    """Run sysphase with stderr on a pseudo-terminal; (exit status, what it printed there)."""
    master, slave = pty.openpty()
    env = {**TRACEE_ENV, "COLUMNS": "120", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        sysphase_cmd(*args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    status = proc.wait(timeout=120)
    return status, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def test_summary_and_tree_are_rich_on_a_terminal(fx):
    status, raw = on_a_terminal("trace", "-c", "--tree", "--", fx["forks"], "fork", "2", "5")
    assert status == 0
    text = SGR.sub("", raw)
    assert re.search(r"^% time +seconds +usecs/call +calls +errors +syscall *$", text, re.M)
    assert re.search(r"^─{40,} *$", text, re.M)  # rich's rules, not strace's dashes
    assert re.search(r"^ *\d+\.\d+ +\d+\.\d+ +\d+ +15 +getppid *$", text, re.M)
    tree = [line for line in text.splitlines() if "(spawn," in line or "(fork," in line]
    assert len(tree) == 3  # a chain: forks fork 2 5
    assert tree[1].startswith("└── ") and tree[2].startswith("    └── ")
    assert "\x1b[" in raw  # colored: the terminal is a color terminal


def test_color_never_draws_the_same_without_colors(fx):
    status, raw = on_a_terminal(
        "trace", "-c", "--color", "never", "--", fx["forks"], "fork", "1", "1"
    )
    assert status == 0
    assert "\x1b[" not in raw
    assert re.search(r"^─{40,} *$", raw, re.M)


def test_piped_output_stays_plain(fx):
    p = subprocess.run(
        sysphase_cmd("trace", "-c", "--tree", "--", fx["forks"], "fork", "2", "5"),
        capture_output=True, text=True, timeout=120, env=TRACEE_ENV,
    )  # fmt: skip
    assert p.returncode == 0
    assert "------ ----------- ----------- --------- --------- ----------------" in p.stderr
    assert "─" not in p.stderr.replace("├─", "").replace("└─", "")
    tree = [line for line in p.stderr.splitlines() if "(spawn," in line or "(fork," in line]
    assert tree[1].startswith("└─ ") and tree[2].startswith("   └─ ")


def test_record_shows_one_updating_line_on_a_terminal(tmp_path):
    """Runs that found nothing new update a status line; the others, and the result, stay."""
    prof = tmp_path / "p.json"
    status, raw = on_a_terminal("record", "--runs", "4", "-o", str(prof), "--", "true")
    assert status == 0
    kept = [line for line in raw.split("\n") if line and "\x1b[2K" not in line]
    assert kept[0].startswith("run 1 of 4: ") and "new syscalls (" in kept[0]
    for run in (2, 3, 4):  # shown in place, then erased
        assert f"\r\x1b[2Krun {run} of 4: 0 new syscalls" in raw
    assert raw.rstrip("\n").endswith(f"\r\x1b[2Kwrote {prof}: 4 run(s)")
    piped = subprocess.run(
        sysphase_cmd("record", "--runs", "4", "-o", str(prof), "--", "true"),
        capture_output=True,
        text=True,
        env=TRACEE_ENV,
        timeout=120,
    )
    assert "\x1b" not in piped.stderr
    assert [line.split(":")[0] for line in piped.stderr.splitlines()] == [
        "run 1 of 4",
        "run 2 of 4",
        "run 3 of 4",
        "run 4 of 4",
        f"wrote {prof}",
    ]
