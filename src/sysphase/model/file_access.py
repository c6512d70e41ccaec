"""What a call touched: the paths and ports the core saw (``record --paths``).

Pure. With path capture on, the core notes, for every file and socket call
Landlock can restrict, one :class:`Access` per distinct (node, phase, call,
flags, argument, result, path): the path resolved as the kernel resolved it
(an opened file's ``/proc/TID/fd`` link; a relative path joined to the
working directory or the dirfd's path), its file type, whether it existed
before the call, and the errno. Sockets are written as ``tcp:PORT``,
``udp:PORT``, ``inet:PORT`` (type unknown), ``unix:/PATH`` and
``unix-abstract:@NAME``. :mod:`sysphase.model.landlock_rights` turns them
into Landlock access rights.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FILE_TYPES", "Access"]

#: the core's file-type codes (``st_mode >> 12``) by name; "" unknown
FILE_TYPES = {0: "", 1: "fifo", 2: "chr", 4: "dir", 6: "blk", 8: "reg", 10: "lnk", 12: "sock"}


@dataclass(frozen=True, slots=True, order=True)
class Access:
    """One distinct path or port a call of ``node`` in ``phase`` touched.

    ``which`` is 0 for a call's first path, 1 for its second (rename, link,
    symlink's new name); ``flags`` what the call was given (open flags,
    ``AT_*`` flags, a mknod mode, renameat2 flags), ``existed`` whether the
    path existed at the call's entry (None: not checked), ``errno`` 0 for
    success.
    """

    node: int
    phase: int
    syscall: str
    which: int
    flags: int
    ftype: str
    existed: bool | None
    errno: int
    path: str
