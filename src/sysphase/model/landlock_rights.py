"""Landlock's vocabulary, and what each recorded access needs in it (:func:`needs_of`).

The rights are the kernel's ``LANDLOCK_ACCESS_FS_*`` (bits 0 to 15),
``LANDLOCK_ACCESS_NET_*`` and ``LANDLOCK_SCOPE_*`` flags, by their short
names (``read_file`` is ``LANDLOCK_ACCESS_FS_READ_FILE``), with the ABI
version that introduced each. A rule on a regular file (or any other
non-directory) may only hold :data:`FILE_RIGHTS`; a directory rule may hold
every file-system right and covers what is beneath it.

:func:`rights_of` maps one :class:`~sysphase.model.file_access.Access`
(docs/formats/profile.md, "Landlock: what a phase touched", has the table):

- ``open``, ``openat``, ``openat2``, ``creat``: ``read_dir`` on a directory
  opened; else ``read_file`` / ``write_file`` by the access mode on the file,
  ``truncate`` with ``O_TRUNC`` on a file that existed, ``make_reg`` on the
  parent when ``O_CREAT`` created it; ``O_TMPFILE``: the file rights on the
  directory; ``O_PATH``: nothing;
- ``execve``, ``execveat``: ``read_file`` and ``execute`` on the program (the
  kernel opens it for reading and execution);
- ``mkdir``, ``mknod``, ``symlink`` (and the ``*at`` forms): ``make_*`` of
  the type made, on the parent; ``unlink``, ``rmdir``: ``remove_file`` /
  ``remove_dir`` on the parent;
- ``rename``, ``link``: ``remove_*`` (rename) of the source's type on the old
  parent, ``make_*`` of the source's type on the new parent, ``remove_*`` of
  the replaced file's type on the new parent when the new name existed
  (``RENAME_EXCHANGE``: both ways; ``RENAME_WHITEOUT``: ``make_char`` on
  the old parent), and ``refer`` on both parents when the
  call moved something to another directory (:func:`needs_of` pairs the two
  names of a call);
- ``truncate``, ``ftruncate``: ``truncate``; ``ioctl`` on a device:
  ``ioctl_dev``;
- ``bind``, ``connect``: the TCP port (``tcp:`` and ``inet:``, whose type the
  core could not tell: Landlock restricts TCP only, so ``udp:`` needs
  nothing); ``bind`` of a named unix socket: ``make_sock`` on its parent;
  ``connect`` to an abstract unix socket: the phase used one (the
  ``abstract_unix_socket`` scope must stay off).

A failed call needs nothing when its errno is one the kernel finds before
Landlock's hooks run (:data:`NO_RIGHT_ERRNOS`: the path does not exist, is
not a directory, exists already, a read-only file system, a DAC refusal,
...): under a ruleset it fails the same way. Any other failure (``ENOSPC``,
``ENOTEMPTY``, ``ETXTBSY``, ``ECONNREFUSED``, ``EINPROGRESS``, ...) comes
after the hook, so the right is needed, or the call would fail with
``EACCES`` instead. Relative paths (the core could not resolve them) and
names that are not paths (``/memfd:``, ``anon_inode:``) need nothing; a
``" (deleted)"`` suffix is dropped. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from sysphase.model import syscalls
from sysphase.model.file_access import Access

__all__ = [
    "DIR_RIGHTS",
    "FILE_RIGHTS",
    "FS_ABI",
    "FS_BIT",
    "FS_RIGHTS",
    "HIGHEST_ABI",
    "NET_ABI",
    "NET_BIT",
    "NET_RIGHTS",
    "NO_RIGHT_ERRNOS",
    "SCOPES",
    "SCOPE_ABI",
    "SCOPE_BIT",
    "Needs",
    "canonical",
    "exec_needs",
    "mask",
    "needs_of",
    "normal_path",
    "parent",
    "rights_of",
]

#: The file-system rights in bit order: right ``FS_RIGHTS[i]`` is ``1 << i``.
FS_RIGHTS: Final = (
    "execute",
    "write_file",
    "read_file",
    "read_dir",
    "remove_dir",
    "remove_file",
    "make_char",
    "make_dir",
    "make_reg",
    "make_sock",
    "make_fifo",
    "make_block",
    "make_sym",
    "refer",
    "truncate",
    "ioctl_dev",
)
FS_BIT: Final = {name: 1 << i for i, name in enumerate(FS_RIGHTS)}
#: The ABI version that introduced each file-system right.
FS_ABI: Final = {**dict.fromkeys(FS_RIGHTS, 1), "refer": 2, "truncate": 3, "ioctl_dev": 5}
#: The rights a rule on a non-directory may hold.
FILE_RIGHTS: Final = frozenset({"execute", "write_file", "read_file", "truncate", "ioctl_dev"})
#: The rights only a directory rule may hold (they apply to what is beneath it).
DIR_RIGHTS: Final = frozenset(FS_RIGHTS) - FILE_RIGHTS

NET_RIGHTS: Final = ("bind_tcp", "connect_tcp")
NET_BIT: Final = {name: 1 << i for i, name in enumerate(NET_RIGHTS)}
NET_ABI: Final = dict.fromkeys(NET_RIGHTS, 4)

SCOPES: Final = ("abstract_unix_socket", "signal")
SCOPE_BIT: Final = {name: 1 << i for i, name in enumerate(SCOPES)}
SCOPE_ABI: Final = dict.fromkeys(SCOPES, 6)

#: The newest Landlock ABI whose rights this sysphase knows (7 added only logging flags).
HIGHEST_ABI: Final = 7


def _errnos(*names: str) -> frozenset[int]:
    numbers = (syscalls.errno_number(n) for n in names)
    return frozenset(n for n in numbers if n is not None)


#: Failures the kernel finds before Landlock's hooks: such a call needs no right.
NO_RIGHT_ERRNOS: Final = _errnos(
    "ENOENT", "ENOTDIR", "ELOOP", "ENAMETOOLONG", "EEXIST", "EROFS", "EACCES", "EPERM",
    "EBADF", "EFAULT", "EINVAL", "EISDIR", "EXDEV", "EMFILE", "ENFILE", "ENOMEM",
    "ENOTSOCK", "EAFNOSUPPORT", "EOPNOTSUPP",
)  # fmt: skip
#: An abstract unix socket nobody listens on: refused before the scope is checked.
_NO_PEER: Final = _errnos("ECONNREFUSED", "ENOENT")

_O_ACCMODE, _O_WRONLY, _O_RDWR = 0o3, 0o1, 0o2
_O_CREAT, _O_TRUNC, _O_PATH, _O_TMPFILE = 0o100, 0o1000, 0o10000000, 0o20000000
_AT_REMOVEDIR, _RENAME_EXCHANGE, _RENAME_WHITEOUT = 0x200, 0x2, 0x4
_S_IFMT = 0o170000
#: mknod's file types (``mode & S_IFMT``) -> the right that makes one
_MAKE_BY_MODE: Final = {
    0: "make_reg",
    0o100000: "make_reg",
    0o020000: "make_char",
    0o060000: "make_block",
    0o010000: "make_fifo",
    0o140000: "make_sock",
}
#: the core's file types (model.file_access.FILE_TYPES) -> the right that makes one
_MAKE_BY_TYPE: Final = {
    "": "make_reg",
    "reg": "make_reg",
    "dir": "make_dir",
    "lnk": "make_sym",
    "chr": "make_char",
    "blk": "make_block",
    "fifo": "make_fifo",
    "sock": "make_sock",
}
_OPENS: Final = frozenset({"open", "openat", "openat2", "creat"})
_RENAMES: Final = frozenset({"rename", "renameat", "renameat2"})
_LINKS: Final = frozenset({"link", "linkat"})


def mask(names: Iterable[str], bits: Mapping[str, int]) -> int:
    """The kernel's bit mask of NAMES: ``mask(rule.rights, FS_BIT)``, NET_BIT, SCOPE_BIT."""
    out = 0
    for name in names:
        out |= bits[name]
    return out


def canonical(rights: Iterable[str]) -> tuple[str, ...]:
    """File-system rights in bit order, each once (ValueError for an unknown name)."""
    have = set(rights)
    unknown = have - set(FS_RIGHTS)
    if unknown:
        raise ValueError(f"unknown Landlock right {sorted(unknown)[0]!r}")
    return tuple(r for r in FS_RIGHTS if r in have)


def normal_path(path: str) -> str | None:
    """An absolute path without ``.``, ``..``, ``//`` or ``" (deleted)"``; None for no path."""
    if path.endswith(" (deleted)"):
        path = path[: -len(" (deleted)")]
    if not path.startswith("/") or path.startswith("/memfd:"):
        return None
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/" + "/".join(parts)


def parent(path: str) -> str:
    """The directory a normal path is in ("/" for "/" itself)."""
    head = path.rpartition("/")[0]
    return head or "/"


def _remove(ftype: str) -> str:
    return "remove_dir" if ftype == "dir" else "remove_file"


@dataclass(slots=True)
class Needs:
    """What one (node, phase) needed: rights per path, created directories, ports, scopes."""

    paths: dict[str, set[str]] = field(default_factory=dict)
    created_dirs: set[str] = field(default_factory=set)
    bind_tcp: set[int] = field(default_factory=set)
    connect_tcp: set[int] = field(default_factory=set)
    abstract_unix: bool = False

    def grant(self, path: str, *rights: str) -> None:
        if rights:
            self.paths.setdefault(path, set()).update(rights)

    def update(self, other: Needs) -> None:
        for path, rights in other.paths.items():
            self.grant(path, *rights)
        self.created_dirs |= other.created_dirs
        self.bind_tcp |= other.bind_tcp
        self.connect_tcp |= other.connect_tcp
        self.abstract_unix = self.abstract_unix or other.abstract_unix


def _open(a: Access, path: str, out: Needs) -> None:
    flags = a.flags | (_O_CREAT | _O_WRONLY | _O_TRUNC if a.syscall == "creat" else 0)
    if flags & _O_PATH:
        return
    mode = flags & _O_ACCMODE
    rights = ["read_file"] if mode != _O_WRONLY else []
    if mode in (_O_WRONLY, _O_RDWR, _O_ACCMODE):
        rights.append("write_file")
    if flags & _O_TMPFILE:  # an unnamed file in the directory: its rights on the directory
        out.grant(path if a.ftype == "dir" else parent(path), *rights)
        return
    if a.ftype == "dir":
        out.grant(path, "read_dir")
        return
    created = bool(flags & _O_CREAT) and a.existed is not True
    if created:
        out.grant(parent(path), "make_reg")
    elif flags & _O_TRUNC:
        rights.append("truncate")
    out.grant(path, *rights)


def _path_call(a: Access, path: str, out: Needs) -> None:
    """The calls on one path: exec, make, remove, truncate, ioctl, symlink's new name."""
    name = a.syscall
    if name in ("execve", "execveat"):
        out.grant(path, "read_file", "execute")
    elif name in ("mkdir", "mkdirat"):
        out.grant(parent(path), "make_dir")
        if a.errno == 0:
            out.created_dirs.add(path)
    elif name in ("mknod", "mknodat"):
        out.grant(parent(path), _MAKE_BY_MODE.get(a.flags & _S_IFMT, "make_reg"))
    elif name in ("symlink", "symlinkat"):
        out.grant(parent(path), "make_sym")
    elif name in ("unlink", "unlinkat"):
        out.grant(parent(path), "remove_dir" if a.flags & _AT_REMOVEDIR else "remove_file")
    elif name == "rmdir":
        out.grant(parent(path), "remove_dir")
    elif name in ("truncate", "ftruncate"):
        out.grant(path, "truncate")
    elif name == "ioctl":
        out.grant(path, "ioctl_dev")


def _socket(a: Access, out: Needs) -> None:
    kind, _, where = a.path.partition(":")
    if kind in ("tcp", "inet") and where.isdigit() and int(where) <= 0xFFFF:
        (out.bind_tcp if a.syscall == "bind" else out.connect_tcp).add(int(where))
    elif kind == "unix" and a.syscall == "bind":
        path = normal_path(where)
        if path is not None:
            out.grant(parent(path), "make_sock")
    elif kind == "unix-abstract" and a.syscall == "connect" and a.errno not in _NO_PEER:
        out.abstract_unix = True


def _needed(a: Access) -> bool:
    return a.errno == 0 or a.errno not in NO_RIGHT_ERRNOS


def rights_of(a: Access) -> Needs:
    """What one access needs on its own (a rename's or link's two names: :func:`needs_of`)."""
    out = Needs()
    if not _needed(a):
        return out
    if a.syscall in ("bind", "connect"):
        _socket(a, out)
        return out
    path = normal_path(a.path)
    if path is None:
        return out
    if a.syscall in _OPENS:
        _open(a, path, out)
    elif a.syscall in _RENAMES or a.syscall in _LINKS:
        _move(a.syscall, [a], out)
    else:
        _path_call(a, path, out)
    return out


def _move(syscall: str, group: list[Access], out: Needs) -> None:
    """The names of the renames (or links) of one (node, phase, call, flags, errno)."""
    olds = [(p, a) for a in group if a.which == 0 and (p := normal_path(a.path)) is not None]
    news = [(p, a) for a in group if a.which == 1 and (p := normal_path(a.path)) is not None]
    rename = syscall in _RENAMES
    exchange = rename and bool(group[0].flags & _RENAME_EXCHANGE)
    whiteout = rename and bool(group[0].flags & _RENAME_WHITEOUT)
    moved = {_MAKE_BY_TYPE.get(a.ftype, "make_reg") for _, a in olds} or {"make_reg"}
    replaced = {a.ftype for _, a in news if a.existed}
    for path, a in olds:
        if rename:
            out.grant(parent(path), _remove(a.ftype))
        if exchange:
            out.grant(parent(path), *(_MAKE_BY_TYPE.get(t, "make_reg") for t in replaced))
        if whiteout:  # a whiteout (a character device) takes the old name's place
            out.grant(parent(path), "make_char")
    for path, _ in news:
        out.grant(parent(path), *moved)
        if rename and replaced:
            out.grant(parent(path), *(_remove(t) for t in replaced))
    parents = {parent(p) for p, _ in olds} | {parent(p) for p, _ in news}
    if len(parents) > 1:  # something may have moved to another directory
        for directory in parents:
            out.grant(directory, "refer")


def needs_of(accesses: Iterable[Access]) -> dict[tuple[int, int], Needs]:
    """What each (node, phase id) needed, from its accesses.

    A rename's or link's two names are recorded apart; the names of one
    (node, phase, call, flags, errno) are taken together: the new parents get
    ``make_*`` of the sources' types, and when they are not all one
    directory, every parent of the group gets ``refer``.
    """
    out: dict[tuple[int, int], Needs] = {}
    moves: dict[tuple[int, int, str, int, int], list[Access]] = {}
    for a in accesses:
        if a.syscall in _RENAMES or a.syscall in _LINKS:
            if _needed(a):
                moves.setdefault((a.node, a.phase, a.syscall, a.flags, a.errno), []).append(a)
            continue
        out.setdefault((a.node, a.phase), Needs()).update(rights_of(a))
    for (node, phase, syscall, _, _), group in moves.items():
        _move(syscall, sorted(group), out.setdefault((node, phase), Needs()))
    return out


def exec_needs(executable: str) -> Mapping[str, set[str]]:
    """What starting EXECUTABLE needs (read and execute), or nothing for no absolute path."""
    path = normal_path(executable)
    return {} if path is None else {path: {"read_file", "execute"}}
