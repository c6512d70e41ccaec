"""What each recorded access needs in Landlock's rights (model/landlock_rights.py), table-driven."""

from __future__ import annotations

import pytest

from sysphase.model import syscalls
from sysphase.model.file_access import Access
from sysphase.model.landlock_rights import (
    DIR_RIGHTS,
    FILE_RIGHTS,
    FS_ABI,
    FS_BIT,
    FS_RIGHTS,
    NET_BIT,
    NET_RIGHTS,
    SCOPE_BIT,
    SCOPES,
    Needs,
    canonical,
    mask,
    needs_of,
    normal_path,
    rights_of,
)

O_RDONLY, O_WRONLY, O_RDWR = 0, 0o1, 0o2
O_CREAT, O_TRUNC, O_DIRECTORY, O_PATH, O_TMPFILE = 0o100, 0o1000, 0o200000, 0o10000000, 0o20200000
ENOENT = syscalls.errno_number("ENOENT") or 0
ENOSPC = syscalls.errno_number("ENOSPC") or 0
ENOTEMPTY = syscalls.errno_number("ENOTEMPTY") or 0
ECONNREFUSED = syscalls.errno_number("ECONNREFUSED") or 0
EINPROGRESS = syscalls.errno_number("EINPROGRESS") or 0


def acc(
    syscall: str,
    path: str,
    flags: int = 0,
    ftype: str = "reg",
    existed: bool | None = None,
    errno: int = 0,
    which: int = 0,
) -> Access:
    return Access(0, 0, syscall, which, flags, ftype, existed, errno, path)


def paths(needs: Needs) -> dict[str, tuple[str, ...]]:
    return {p: canonical(r) for p, r in needs.paths.items()}


def test_the_vocabulary_is_the_kernels() -> None:
    assert FS_BIT["execute"] == 1 << 0 and FS_BIT["refer"] == 1 << 13
    assert FS_BIT["truncate"] == 1 << 14 and FS_BIT["ioctl_dev"] == 1 << 15
    assert len(FS_RIGHTS) == 16
    assert mask(["read_file", "execute"], FS_BIT) == 0b101
    assert mask(SCOPES, SCOPE_BIT) == 3 and mask(NET_RIGHTS, NET_BIT) == 3
    assert (FS_ABI["refer"], FS_ABI["truncate"], FS_ABI["ioctl_dev"]) == (2, 3, 5)
    assert set(FS_RIGHTS) == FILE_RIGHTS | DIR_RIGHTS and not FILE_RIGHTS & DIR_RIGHTS


FILE = "/srv/data/f.txt"
DIR = "/srv/data"

TABLE: list[tuple[str, Access, dict[str, tuple[str, ...]]]] = [
    ("read a file", acc("openat", FILE, O_RDONLY), {FILE: ("read_file",)}),
    ("write a file", acc("openat", FILE, O_WRONLY), {FILE: ("write_file",)}),
    ("read and write", acc("open", FILE, O_RDWR), {FILE: ("write_file", "read_file")}),
    (
        "truncate an existing file",
        acc("openat", FILE, O_WRONLY | O_TRUNC),
        {FILE: ("write_file", "truncate")},
    ),
    (
        "create a file (O_TRUNC needs nothing then)",
        acc("openat", FILE, O_WRONLY | O_CREAT | O_TRUNC, existed=False),
        {FILE: ("write_file",), DIR: ("make_reg",)},
    ),
    (
        "O_CREAT on an existing file",
        acc("openat", FILE, O_WRONLY | O_CREAT, existed=True),
        {FILE: ("write_file",)},
    ),
    ("creat", acc("creat", FILE, 0, existed=False), {FILE: ("write_file",), DIR: ("make_reg",)}),
    ("open a directory", acc("openat", DIR, O_DIRECTORY, ftype="dir"), {DIR: ("read_dir",)}),
    ("O_PATH needs nothing", acc("openat", FILE, O_PATH), {}),
    (
        "O_TMPFILE: the directory",
        acc("openat", DIR, O_TMPFILE | O_RDWR, ftype="dir"),
        {DIR: ("write_file", "read_file")},
    ),
    ("execve", acc("execve", "/usr/bin/env"), {"/usr/bin/env": ("execute", "read_file")}),
    ("mkdir", acc("mkdir", DIR + "/new", 0o755, ftype=""), {DIR: ("make_dir",)}),
    ("mknod a fifo", acc("mknodat", FILE, 0o010644), {DIR: ("make_fifo",)}),
    ("mknod a regular file", acc("mknod", FILE, 0o644), {DIR: ("make_reg",)}),
    ("mknod a char device", acc("mknod", FILE, 0o020600), {DIR: ("make_char",)}),
    ("unlink", acc("unlink", FILE), {DIR: ("remove_file",)}),
    ("unlinkat a directory", acc("unlinkat", DIR + "/d", 0x200, "dir"), {DIR: ("remove_dir",)}),
    ("rmdir", acc("rmdir", DIR + "/d", ftype=""), {DIR: ("remove_dir",)}),
    ("symlink", acc("symlinkat", FILE, which=1, ftype=""), {DIR: ("make_sym",)}),
    ("truncate", acc("truncate", FILE), {FILE: ("truncate",)}),
    ("ftruncate", acc("ftruncate", FILE), {FILE: ("truncate",)}),
    ("ioctl on a device", acc("ioctl", "/dev/ttyS0", ftype="chr"), {"/dev/ttyS0": ("ioctl_dev",)}),
    ("bind a unix socket", acc("bind", "unix:/run/app.sock", ftype=""), {"/run": ("make_sock",)}),
    ("connect a unix socket needs nothing", acc("connect", "unix:/run/a.sock", ftype=""), {}),
    # failures
    ("ENOENT needs nothing", acc("openat", FILE, O_RDONLY, errno=ENOENT), {}),
    (
        "ENOENT with O_CREAT needs nothing (no parent)",
        acc("openat", FILE, O_WRONLY | O_CREAT, existed=False, errno=ENOENT),
        {},
    ),
    (
        "ENOSPC: Landlock would say EACCES first",
        acc("openat", FILE, O_WRONLY | O_CREAT, existed=False, errno=ENOSPC),
        {FILE: ("write_file",), DIR: ("make_reg",)},
    ),
    (
        "ENOTEMPTY: rmdir's hook comes first",
        acc("rmdir", DIR + "/d", errno=ENOTEMPTY),
        {DIR: ("remove_dir",)},
    ),
    # paths
    ("relative paths are skipped", acc("openat", "data/f", O_RDONLY), {}),
    ("memfd is skipped", acc("openat", "/memfd:x (deleted)", O_RDWR), {}),
    (
        "(deleted) is dropped",
        acc("openat", "/tmp/t (deleted)", O_RDWR),
        {"/tmp/t": ("write_file", "read_file")},
    ),
    ("dots are resolved", acc("unlink", "/srv/./x/../data/f"), {DIR: ("remove_file",)}),
]


@pytest.mark.parametrize(("what", "access", "expected"), TABLE, ids=[t[0] for t in TABLE])
def test_rights_of_each_call(
    what: str, access: Access, expected: dict[str, tuple[str, ...]]
) -> None:
    assert paths(rights_of(access)) == expected, what


PORTS = [
    ("bind tcp", acc("bind", "tcp:8080", ftype=""), ({8080}, set(), False)),
    ("bind of unknown type counts as tcp", acc("bind", "inet:53", ftype=""), ({53}, set(), False)),
    ("connect tcp", acc("connect", "tcp:443", ftype=""), (set(), {443}, False)),
    (
        "a refused tcp connect still needs its port",
        acc("connect", "tcp:5432", ftype="", errno=ECONNREFUSED),
        (set(), {5432}, False),
    ),
    (
        "a non-blocking connect (EINPROGRESS) too",
        acc("connect", "tcp:80", ftype="", errno=EINPROGRESS),
        (set(), {80}, False),
    ),
    ("udp is not restricted", acc("connect", "udp:53", ftype=""), (set(), set(), False)),
    ("abstract unix", acc("connect", "unix-abstract:@x", ftype=""), (set(), set(), True)),
    (
        "an abstract socket nobody listens on",
        acc("connect", "unix-abstract:@x", ftype="", errno=ECONNREFUSED),
        (set(), set(), False),
    ),
    ("binding one is not scoped", acc("bind", "unix-abstract:@x", ftype=""), (set(), set(), False)),
]


@pytest.mark.parametrize(("what", "access", "expected"), PORTS, ids=[t[0] for t in PORTS])
def test_ports_and_scopes(
    what: str, access: Access, expected: tuple[set[int], set[int], bool]
) -> None:
    needs = rights_of(access)
    assert (needs.bind_tcp, needs.connect_tcp, needs.abstract_unix) == expected, what
    assert not needs.paths


def test_mkdir_notes_the_created_directory() -> None:
    assert rights_of(acc("mkdirat", "/srv/new", ftype="")).created_dirs == {"/srv/new"}
    assert rights_of(acc("mkdir", "/srv/new", errno=ENOSPC)).created_dirs == set()


def _move(syscall: str, old: str, new: str, **kw: object) -> list[Access]:
    flags = int(kw.get("flags", 0))  # type: ignore[call-overload]
    return [
        Access(0, 0, syscall, 0, flags, str(kw.get("src", "reg")), True, 0, old),
        Access(0, 0, syscall, 1, flags, str(kw.get("dst", "")), bool(kw.get("existed")), 0, new),
    ]


MOVES = [
    (
        "rename in one directory",
        _move("rename", "/d/a.tmp", "/d/a"),
        {"/d": ("remove_file", "make_reg")},
    ),
    (
        "rename replacing a file: remove_file on the new parent too",
        _move("renameat", "/d/a.tmp", "/d/a", dst="reg", existed=True),
        {"/d": ("remove_file", "make_reg")},
    ),
    (
        "rename to another directory: refer on both",
        _move("renameat2", "/in/x", "/out/x"),
        {"/in": ("remove_file", "refer"), "/out": ("make_reg", "refer")},
    ),
    (
        "rename a directory",
        _move("rename", "/in/d", "/out/d", src="dir"),
        {"/in": ("remove_dir", "refer"), "/out": ("make_dir", "refer")},
    ),
    (
        "replace a directory",
        _move("rename", "/d/new", "/d/old", src="dir", dst="dir", existed=True),
        {"/d": ("remove_dir", "make_dir")},
    ),
    (
        "RENAME_EXCHANGE: both ways",
        _move("renameat2", "/a/x", "/b/y", flags=2, src="reg", dst="dir", existed=True),
        {"/a": ("remove_file", "make_dir", "refer"), "/b": ("remove_dir", "make_reg", "refer")},
    ),
    (
        "RENAME_WHITEOUT makes a character device",
        _move("renameat2", "/a/x", "/a/y", flags=4),
        {"/a": ("remove_file", "make_char", "make_reg")},
    ),
    ("link in one directory", _move("link", "/d/a", "/d/b"), {"/d": ("make_reg",)}),
    (
        "link to another directory",
        _move("linkat", "/d/a", "/e/b", src="fifo"),
        {"/d": ("refer",), "/e": ("make_fifo", "refer")},
    ),
]


@pytest.mark.parametrize(("what", "accesses", "expected"), MOVES, ids=[t[0] for t in MOVES])
def test_renames_and_links_pair_their_names(
    what: str, accesses: list[Access], expected: dict[str, tuple[str, ...]]
) -> None:
    assert {k: paths(v) for k, v in needs_of(accesses).items()} == {(0, 0): expected}, what


def test_needs_are_per_node_and_phase() -> None:
    accesses = [
        Access(0, 0, "openat", 0, 0, "reg", None, 0, "/a"),
        Access(0, 1, "openat", 0, 1, "reg", None, 0, "/a"),
        Access(2, 1, "connect", 0, 0, "", None, 0, "tcp:80"),
    ]
    got = needs_of(accesses)
    assert paths(got[(0, 0)]) == {"/a": ("read_file",)}
    assert paths(got[(0, 1)]) == {"/a": ("write_file",)}
    assert got[(2, 1)].connect_tcp == {80}


def test_normal_paths() -> None:
    assert normal_path("/") == "/"
    assert normal_path("//a/./b/../c/") == "/a/c"
    assert normal_path("/..") == "/"
    assert normal_path("a/b") is None
    assert normal_path("anon_inode:[eventfd]") is None
    with pytest.raises(ValueError, match="unknown Landlock right"):
        canonical(["read_file", "fly"])
