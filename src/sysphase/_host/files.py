"""File I/O for sysphase's inputs and outputs: writes that never destroy, reads that are bounded.

Outputs (:func:`write_atomic`, :func:`write_bytes_atomic`): a regular file or
a new path is replaced atomically (a temporary file in the same directory,
then a rename), keeping the old file's permission bits (and, as root, its
owner); a symlink to a regular file keeps being a symlink (its target is
replaced). Anything else -- a character or block device (``/dev/null``), a
FIFO, a socket, or a file reached through a /proc "magic link"
(``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N``) -- is written into
directly: renaming over it would replace the device node or the file the
shell opened. ``-`` is standard output. Every error names the output, never
the temporary file, which is removed on any failure.
:func:`refuse_overwriting_inputs` refuses an output that is one of a
command's inputs (the same file, by device and inode) before anything is
written.

Inputs (:func:`read_bytes_bounded`, :func:`read_text_bounded`,
:func:`read_profile`, :func:`read_policy`): only regular files are read
(stat first, open with O_NONBLOCK so a FIFO cannot hang, fstat the opened
file), and at most a limit (:data:`TEXT_LIMIT` for profiles, policies and
scenario files, :data:`BINARY_LIMIT` for programs): a bigger file is
refused in one sentence naming it and the limit.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import sys
from collections.abc import Iterable
from typing import Final

from sysphase.errors import PolicyInvalid, ProfileInvalid, UsageError
from sysphase.model import profile as prof
from sysphase.model import profile_codec
from sysphase.policy import codec
from sysphase.policy.ir import Policy

__all__ = [
    "BINARY_LIMIT",
    "TEXT_LIMIT",
    "read_bytes_bounded",
    "read_policy",
    "read_profile",
    "read_text_bounded",
    "refuse_overwriting_inputs",
    "write_atomic",
    "write_bytes_atomic",
]

#: The largest profile, policy or scenario file read: 64 MiB (docs/formats/profile.md).
TEXT_LIMIT: Final = 64 * 1024 * 1024
#: The largest program read (by ``patch``, and for a ``symbol:`` trigger): 1 GiB.
BINARY_LIMIT: Final = 1024 * 1024 * 1024

_CHUNK: Final = 1 << 20
_MAX_SYMLINKS: Final = 40


# --- inputs ---------------------------------------------------------------------------------


def _kind(mode: int) -> str:
    """What a non-regular file is, for a message."""
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _size(limit: int) -> str:
    """A limit as a message shows it: 64 MiB, 1 GiB, 1000 bytes."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= scale and limit % scale == 0:
            return f"{limit // scale} {unit}"
    return f"{limit} bytes"


def read_bytes_bounded(
    path: str, limit: int, what: str, error: type[Exception] = UsageError
) -> bytes:
    """The bytes of the regular file PATH, at most LIMIT of them.

    ERROR (one sentence naming PATH) when it is missing, unreadable, not a
    regular file (``/dev/zero``, a FIFO, a directory: "PATH is a FIFO, not
    WHAT"), or larger than LIMIT. Never blocks on a FIFO and never reads
    more than LIMIT + 1 bytes.
    """
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path} is a {_kind(st.st_mode)}, not {what}")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)  # the file opened, not the one stat() saw
            if not stat.S_ISREG(st.st_mode):
                raise error(f"{path} is a {_kind(st.st_mode)}, not {what}")
            if st.st_size > limit:
                raise error(f"{path} is larger than {_size(limit)}, the limit for {what}")
            # st_size + 1 bytes in one read (0 for /proc files), then chunks to EOF
            chunks = [os.read(fd, st.st_size + 1)]
            total = len(chunks[0])
            while chunks[-1] and total <= limit:
                chunks.append(os.read(fd, min(_CHUNK, limit + 1 - total)))
                total += len(chunks[-1])
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as err:
        raise error(f"{path}: cannot read it ({err.strerror})") from None
    if total > limit:
        raise error(f"{path} is larger than {_size(limit)}, the limit for {what}")
    # one read and the empty one of EOF: no copy (a program can be large)
    return chunks[0] if len(chunks) <= 2 else b"".join(chunks)


def read_text_bounded(path: str, limit: int, what: str, error: type[Exception] = UsageError) -> str:
    """The UTF-8 text of the regular file PATH (see :func:`read_bytes_bounded`)."""
    raw = read_bytes_bounded(path, limit, what, error)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: not a text file (expected {what})") from None


def read_profile(path: str) -> prof.Profile:
    """Decode a profile file; a missing, unreadable, special or too big file is one sentence."""
    text = read_text_bounded(path, TEXT_LIMIT, "a JSON profile", ProfileInvalid)
    return profile_codec.decode(text, path)


def read_policy(path: str) -> tuple[Policy, bytes]:
    """Decode a policy file, and its raw bytes; a bad file is one sentence naming it."""
    raw = read_bytes_bounded(path, TEXT_LIMIT, "a JSON policy", PolicyInvalid)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyInvalid(f"{path}: not a text file (expected a JSON policy)") from None
    return codec.decode(text, path), raw


# --- outputs --------------------------------------------------------------------------------


def refuse_overwriting_inputs(output: str, inputs: Iterable[str], what: str) -> None:
    """UsageError (naming WHAT, the output) when OUTPUT is the same file as one of INPUTS.

    Same file means same device and inode (``os.stat``, symlinks followed), not
    the same string. An output that does not exist yet, or ``-``, is fine.
    Call it before anything is written.
    """
    if output == "-":
        return
    try:
        out = os.stat(output)
    except OSError:
        return
    for path in inputs:
        if path == "-":
            continue
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (out.st_dev, out.st_ino):
            same = "" if os.path.abspath(path) == os.path.abspath(output) else " (the same file)"
            raise UsageError(
                f"{what} is the input {path}{same}: sysphase writes a new file and never "
                "modifies the original"
            )


def _resolve(path: str) -> tuple[str, bool]:
    """PATH with every symlink resolved, and whether its last one lives in /proc.

    A /proc "magic link" (``/proc/PID/fd/N``, reached from ``/dev/stdout`` or
    ``/dev/fd/N``) stands for an open file: its target text is no path to
    replace. The components after the first missing one are kept as they are.
    """
    # not os.path.abspath: "link/.." is the link's parent (as for open), not "."
    full = path if path.startswith("/") else os.path.join(os.getcwd(), path)
    pending = [p for p in reversed(full.split("/")) if p]
    resolved = "/"
    links = 0
    while pending:
        name = pending.pop()
        if name == ".":
            continue
        if name == "..":
            resolved = os.path.dirname(resolved)
            continue
        candidate = os.path.join(resolved, name)
        try:
            st = os.lstat(candidate)
        except OSError:
            return os.path.join(candidate, *reversed(pending)), False
        if not stat.S_ISLNK(st.st_mode):
            resolved = candidate
            continue
        links += 1
        if links > _MAX_SYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP))
        if not pending and candidate.startswith("/proc/"):
            return candidate, True
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = "/"
        pending.extend(p for p in reversed(target.split("/")) if p)
    return resolved, False


def write_atomic(path: str, text: str) -> None:
    """Write text (ending in a newline) to path, or to stdout for '-' (see the module)."""
    if path == "-":
        print(text, end="" if text.endswith("\n") else "\n")
        return
    write_bytes_atomic(path, (text if text.endswith("\n") else text + "\n").encode())


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write bytes to path (or stdout for '-'): atomically over a regular file or new path.

    A device, FIFO, socket or /proc magic link is written into directly
    (see the module). UsageError names PATH on any failure.
    """
    if path == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        real, magic = _resolve(path)
        try:
            st: os.stat_result | None = os.stat(real)
        except FileNotFoundError:
            st = None
        if magic or (st is not None and not stat.S_ISREG(st.st_mode)):
            _write_into(path, data, append=st is not None and stat.S_ISREG(st.st_mode))
        else:
            _replace(real, data, st)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror or err}") from None


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of DATA to the open file FD (os.write may write less)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_into(path: str, data: bytes, append: bool) -> None:
    """Write into an existing file as it is: no temporary file, no rename, no truncation.

    A regular file reached through a magic link is the file the shell opened
    for us (``> out``, ``>> log``): append, as the shell's own offset would.
    """
    flags = os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC | (os.O_APPEND if append else 0)
    fd = os.open(path, flags)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def _replace(real: str, data: bytes, old: os.stat_result | None) -> None:
    """Write REAL (a regular file, or a new path) through a temporary file and a rename.

    The new file gets the old file's permission bits (less set-user-ID and
    set-group-ID) and, as root, its owner; a new path gets 0666 less the
    umask, as any created file.
    """
    directory = os.path.dirname(real)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    # a new file's mode comes from the kernel (0666 less the umask, or a default ACL);
    # a replacement is private until its mode is set
    create_mode = 0o666 if old is None else 0o600
    for _ in range(100):
        tmp = os.path.join(directory, f".sysphase-{secrets.token_hex(6)}")
        try:
            fd = os.open(tmp, flags, create_mode)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary file name")
    try:
        try:
            if old is not None:
                if os.geteuid() == 0 and (old.st_uid, old.st_gid) != (os.getuid(), os.getgid()):
                    # keeping the owner is a courtesy (NFS's root squash refuses it)
                    with contextlib.suppress(OSError):
                        os.fchown(fd, old.st_uid, old.st_gid)
                os.fchmod(fd, stat.S_IMODE(old.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
