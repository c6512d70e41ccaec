"""Policy generation against the policies kept in files: the stored one and the documented one.

tests/unit/snapshots/policy/server.sysphase.json is what test_policy_formats.py
renders every format from; docs/formats/policy.md shows a greeter's policy.
Both must be exactly what `generate` makes of their synthetic profiles.
"""

from __future__ import annotations

import os
from pathlib import Path

from sysphase.model.profile import Profile
from sysphase.model.tree import NodeKind
from sysphase.policy import encode, generate
from tests.unit.policy_samples import SOCK_CLOEXEC, phase, proc, server_profile

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots" / "policy"
STORED = SNAPSHOTS / "server.sysphase.json"


def test_the_stored_policy_is_what_generate_makes() -> None:
    """tests/unit/snapshots/policy/server.sysphase.json: the format tests render it.

    SYSPHASE_UPDATE_SNAPSHOTS=1 rewrites it.
    """
    text = encode(generate(server_profile(), args=True))
    if os.environ.get("SYSPHASE_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        STORED.write_text(text)
    assert STORED.read_text() == text


DOC = Path(__file__).resolve().parents[2] / "docs" / "formats" / "policy.md"


def greeter_profile() -> Profile:
    """docs/formats/policy.md's example: a server that forks a child that execs date."""
    greeter = "/usr/bin/greeter"
    return Profile(
        ("greeter",),
        "x86_64",
        1,
        True,
        (
            proc(
                0,
                None,
                NodeKind.SPAWN,
                greeter,
                phase(
                    0,
                    "start",
                    "start",
                    {"openat": 2, "read": 2, "socket": 1},
                    {"socket": {"0": [10], "1": [1 | SOCK_CLOEXEC]}},
                ),
                phase(1, "serve", "syscall:accept4", {"accept4": 3, "write": 3, "close": 3}),
            ),
            proc(1, 0, NodeKind.FORK, greeter, phase(0, "serve", "syscall:accept4", {"execve": 1})),
            proc(
                2,
                1,
                NodeKind.EXEC,
                "/usr/bin/date",
                phase(0, "date", "exec", {"write": 1, "exit_group": 1}),
            ),
        ),
    )


def test_the_documented_example_is_what_generate_makes() -> None:
    text = DOC.read_text()
    block = text.split("```json\n", 1)[1].split("```", 1)[0]
    assert block == encode(generate(greeter_profile(), args=True))
