"""--portable's equivalence groups: what widens to what, what never does, and the documented table.

Each group is one kernel service under several calling conventions
(sysphase/policy/added_calls.py, EQUIVALENTS); docs/formats/policy.md lists
them with the reason, and a test keeps the two equal.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sysphase.model import syscalls
from sysphase.model.profile import Profile
from sysphase.model.tree import NodeKind
from sysphase.policy import generate
from sysphase.policy.added_calls import EQUIVALENTS, GROUP_OF
from sysphase.policy.ir import PolicyPhase, Provenance
from tests.unit.policy_samples import ALWAYS, names, phase, proc

DOC = Path(__file__).resolve().parents[2] / "docs" / "formats" / "policy.md"


def portable(calls: dict[str, int], arch: str = "x86_64") -> PolicyPhase:
    profile = Profile(
        ("a",),
        arch,
        1,
        True,
        (proc(0, None, NodeKind.SPAWN, "/a", phase(0, "start", "start", calls)),),
    )
    (p,) = generate(profile, portable=True).root_program.phases
    return p


@pytest.mark.parametrize(
    ("seen", "widened"),
    [
        ("pwrite64", {"write", "writev", "pwritev", "pwritev2"}),
        ("read", {"readv", "pread64", "preadv", "preadv2"}),
        ("sendto", {"sendmsg", "sendmmsg"}),
        ("recvmmsg", {"recvfrom", "recvmsg"}),
        ("statx", {"stat", "lstat", "fstat", "newfstatat"}),
        ("unlinkat", {"unlink"}),
        ("renameat2", {"rename", "renameat"}),
        ("fchownat", {"chown", "lchown"}),
        ("readlink", {"readlinkat"}),
        ("faccessat2", {"access", "faccessat"}),
        ("utimensat", {"utime", "utimes", "futimesat"}),
        ("wait4", {"waitid"}),
        ("mkdir", {"mkdirat"}),
        ("symlinkat", {"symlink"}),
    ],
)
def test_a_seen_call_widens_to_its_group(seen: str, widened: set[str]) -> None:
    p = portable({seen: 2})
    assert names(p) - ALWAYS - {"prctl"} == {seen} | widened
    for call in widened:
        added = p.get(call)
        assert added is not None
        assert added.reason == f"portable: equivalent of {seen}"
        assert added.provenance == (Provenance("/a", "start", 2),)


@pytest.mark.parametrize(
    ("seen", "never"),
    [
        ("read", {"recvfrom", "recvmsg", "write"}),
        ("recvfrom", {"read", "readv"}),
        ("write", {"sendto", "read"}),
        ("open", {"creat"}),
        ("rmdir", {"unlink", "unlinkat"}),
        ("dup", {"dup2", "dup3"}),
        ("stat", {"statfs", "fstatfs"}),
    ],
)
def test_calls_with_another_access_are_never_widened_to(seen: str, never: set[str]) -> None:
    assert not names(portable({seen: 1})) & never


def test_several_members_seen_name_all_of_them() -> None:
    p = portable({"write": 1, "pwrite64": 3})
    added = p.get("pwritev")
    assert (
        added is not None and added.reason == "portable: equivalent of write, pwrite64"
    )  # group order
    assert added.provenance == (Provenance("/a", "start", 4),)


def test_groups_are_disjoint_and_named_in_some_architecture() -> None:
    members = [name for group in EQUIVALENTS for name in group]
    assert len(members) == len(set(members)) == len(GROUP_OF)
    every = frozenset().union(*(syscalls.names(a) for a in syscalls.ARCHES))
    assert set(members) <= every
    # x86_64 has every member of every group
    assert set(members) <= syscalls.names("x86_64")


def test_the_documented_table_is_the_code() -> None:
    text = DOC.read_text().split("### `--portable`: equivalent calls", 1)[1]
    table = text.split("| group | members | why they are one |", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    documented = tuple(tuple(re.findall(r"`([a-z0-9_]+)`", row.split("|")[2])) for row in rows)
    assert documented == EQUIVALENTS
