"""What scenarios run against: the ``ls-tree`` fixture, a directory holding every file type.

OS layer. :func:`build_ls_tree` makes, under a given folder: regular files
(empty, small, large and sparse), directories, a symlink, a broken symlink, a
symlink to a directory, a FIFO, a UNIX socket (bound, left in place), hard
links, setuid, setgid and sticky modes, character and block devices (when
mknod is permitted, i.e. as root), files with extended attributes (where the
file system takes ``user.*`` attributes), a 200-character name, a name that is
not UTF-8, names with spaces, quotes and newlines, an unreadable directory
(mode 000; root reads it anyway) and a directory of 10,000 entries.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from pathlib import Path

__all__ = ["BIG_DIR_ENTRIES", "build_ls_tree"]

BIG_DIR_ENTRIES = 10_000


def _write(path: Path, data: bytes, mode: int | None = None) -> None:
    path.write_bytes(data)
    if mode is not None:
        os.chmod(path, mode)


def _special_files(tree: Path) -> None:
    """A FIFO, a socket, and (as root) a character and a block device."""
    os.mkfifo(tree / "fifo")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(os.fsencode(tree / "socket"))
    finally:
        sock.close()  # the socket file stays
    devices = tree / "devices"
    devices.mkdir()
    for name, kind, major, minor in (
        ("null-like", stat.S_IFCHR, 1, 3),
        ("loop-like", stat.S_IFBLK, 7, 0),
    ):
        with contextlib.suppress(PermissionError):  # not root: the tree has no devices
            os.mknod(devices / name, kind | 0o600, os.makedev(major, minor))


def build_ls_tree(root: Path) -> Path:
    """Make the tree under ``root/tree`` and return its path."""
    tree = root / "tree"
    tree.mkdir()
    _write(tree / "empty", b"")
    _write(tree / "small.txt", b"hello\n")
    _write(tree / "large.bin", os.urandom(256 * 1024))
    with open(tree / "sparse", "wb") as f:
        f.truncate(64 * 1024 * 1024)
    _write(tree / "script.sh", b"#!/bin/sh\necho hi\n", 0o755)
    _write(tree / "setuid", b"x", 0o4755)
    _write(tree / "setgid", b"x", 0o2755)
    sticky = tree / "sticky-dir"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    _write(sticky / "inside", b"x")
    os.link(tree / "small.txt", tree / "hardlink.txt")
    os.symlink("small.txt", tree / "link")
    os.symlink("does-not-exist", tree / "broken-link")
    os.symlink("sticky-dir", tree / "dir-link")
    _special_files(tree)
    _write(tree / "with-xattr", b"x")
    with contextlib.suppress(OSError):  # where the file system takes no user.* attributes
        os.setxattr(tree / "with-xattr", "user.comment", b"an extended attribute")
    _write(tree / ("n" * 200), b"long name\n")
    fd = os.open(os.fsencode(tree) + b"/latin1-\xe9t\xe9", os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(fd, b"not utf-8\n")
    os.close(fd)
    _write(tree / "with space", b"")
    _write(tree / "quote'and\"", b"")
    _write(tree / "new\nline", b"")
    _write(tree / "utf8-\u00e9\u4e2d", b"")
    for i, name in enumerate(["b.c", "a.txt", "c.tar.gz", "file10", "file9", "file1"]):
        _write(tree / name, b"x" * (i * 100))
        os.utime(tree / name, (1_600_000_000 + i * 86_400, 1_600_000_000 + i * 86_400))
    nested = tree / "nested" / "deeper" / "deepest"
    nested.mkdir(parents=True)
    _write(nested / "leaf", b"leaf\n")
    big = tree / "big"
    big.mkdir()
    for i in range(BIG_DIR_ENTRIES):
        fd = os.open(big / f"e{i:05d}", os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
    locked = tree / "unreadable"
    locked.mkdir()
    _write(locked / "secret", b"s")
    os.chmod(locked, 0)
    return tree


def unlock(root: Path) -> None:
    """Make every directory under root writable and readable again, so it can be removed."""
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, stat.S_IRWXU)
    if os.path.exists(root / "tree" / "unreadable"):
        os.chmod(root / "tree" / "unreadable", stat.S_IRWXU)
