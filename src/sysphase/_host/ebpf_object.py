"""The eBPF backend's BPF object: built by clang once per source, kept in a checked cache.

``counts.bpf.c`` is compiled with ``clang -target bpf`` (through
:mod:`sysphase._host.toolchain`) into ``$XDG_CACHE_HOME/sysphase`` or
``~/.cache/sysphase``, created 0700, one file per source and flags. Whoever
can write the object decides what root loads into the kernel, so it is used
only while it is checked:

- the cache directory is opened without following a symbolic link
  (O_NOFOLLOW) and checked on the open descriptor: owned by the effective
  uid, writable by no one else (:func:`object_path`);
- the object is opened relative to that descriptor, again O_NOFOLLOW (and
  O_NONBLOCK: no FIFO blocks the run), checked on its descriptor (a
  regular file, same owner and mode checks) and read from that descriptor:
  what is checked is what is loaded (:func:`read_object`, whose bytes the
  loader hands libbpf).

An untrusted cache is left as it is (a warning says why) and the object
built into a new private directory (0700) for this run; an untrusted object
in a trusted cache is rebuilt over.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Final

from sysphase.errors import BackendUnavailable, TracerError
from sysphase.report.escape import terminal_safe

from . import files, toolchain

__all__ = ["HEADER", "INSTALL_HINT", "SOURCE", "compile_flags", "object_path", "read_object"]

SOURCE: Final = Path(__file__).resolve().parent.parent / "bpf" / "counts.bpf.c"
HEADER: Final = "/usr/include/bpf/bpf_helpers.h"
INSTALL_HINT: Final = "apt-get install clang libbpf-dev"

#: "the eBPF backend needs clang to build its BPF program (apt-get install clang libbpf-dev)"
_BUILD: Final = toolchain.Build(
    "the eBPF backend", "build its BPF program", BackendUnavailable, INSTALL_HINT
)


def compile_flags() -> list[str]:
    """clang's flags for counts.bpf.c."""
    return ["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-D__TARGET_ARCH_x86", "-Wall", "-Werror"]


def _build() -> bytes:
    """counts.bpf.c compiled by clang: the object's bytes (clang writes them to a pipe)."""
    clang = _BUILD.tool("clang")
    _BUILD.header(HEADER, "libbpf's headers")
    data = _BUILD.run([clang, *compile_flags(), "-c", str(SOURCE), "-o", "-"])
    if not data:
        raise _BUILD.failed("clang", f"no output for {SOURCE.name}")
    return data


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sysphase"


def _object_name() -> str:
    """The object's file name: one per source and compiler flags."""
    key = SOURCE.read_bytes() + " ".join(compile_flags()).encode()
    return f"counts-{zlib.crc32(key):08x}-{len(key)}.bpf.o"


# --- the checks -----------------------------------------------------------------------------


class _Untrusted(Exception):
    """A cache directory or object that someone other than this user could have written.

    The message says what it is, to follow a path: ``owned by uid 1000, not 0``.
    """


_WRITERS: Final = {0o020: "its group", 0o002: "others", 0o022: "its group and others"}


def _check_owner_and_mode(st: os.stat_result) -> None:
    """_Untrusted unless owned by the effective uid and writable by no one else."""
    euid = os.geteuid()
    if st.st_uid != euid:
        raise _Untrusted(f"owned by uid {st.st_uid}, not {euid}")
    if st.st_mode & 0o022:
        who = _WRITERS[st.st_mode & 0o022]
        raise _Untrusted(f"writable by {who} (mode {stat.S_IMODE(st.st_mode):04o})")


def _not_followed(err: OSError, path: str | Path) -> _Untrusted | None:
    """Why an O_NOFOLLOW open of a directory failed, if a symbolic link or a file was met."""
    if err.errno not in (errno.ELOOP, errno.ENOTDIR):
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return _Untrusted(os.strerror(err.errno))
    return _Untrusted("a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a directory")


def _open_dir(path: str | Path) -> int:
    """A descriptor of the directory ``path`` once it is checked: _Untrusted if it is not.

    Opened without following a symbolic link (O_NOFOLLOW) and checked on the open
    descriptor (owned by the effective uid, writable by no one else), so
    nothing swapped in between the check and the use can pass.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        why = _not_followed(err, path)
        if why is None:
            raise
        raise why from None
    try:
        _check_owner_and_mode(os.fstat(fd))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_object(dir_fd: int, name: str) -> bytes:
    """The bytes of object ``name`` in a checked directory, once the object is checked.

    Opened relative to the directory's descriptor without following a symbolic
    link (and without blocking on a FIFO), checked on the open descriptor (a
    regular file, owned by the effective uid, writable by no one else), and read
    from that descriptor: what is checked is what is loaded.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, dir_fd=dir_fd)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise _Untrusted("a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Untrusted("not a regular file")
        _check_owner_and_mode(st)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_object(path: Path) -> bytes:
    """The compiled object at ``path``, checked with its directory; one sentence if not.

    What the loader loads: only an object that only this user (root, for a
    root run) could have written, in a directory that only this user can
    write, neither reached through a symbolic link.
    """
    refused = f"refusing to load the eBPF object {terminal_safe(str(path))}"
    try:
        try:
            dir_fd = _open_dir(path.parent)
        except _Untrusted as why:
            raise TracerError(f"{refused}: its directory is {why}") from None
        try:
            return _read_object(dir_fd, path.name)
        except _Untrusted as why:
            raise TracerError(f"{refused}: {why}") from None
        finally:
            os.close(dir_fd)
    except OSError as err:
        raise TracerError(f"cannot read the eBPF object {path}: {err.strerror}") from None


# --- the cache ------------------------------------------------------------------------------


def _warn(text: str) -> None:
    print(f"sysphase: warning: {terminal_safe(text)}", file=sys.stderr)


def object_path() -> Path:
    """The compiled BPF object, in the checked cache, built there once per source and flags.

    The cache directory is created 0700. It is used only when it is a
    directory (not a symbolic link) owned by the effective uid and writable by
    no one else, and an object in it only when it is a regular file (not a
    symbolic link) with the same owner and mode checks: whoever can write the
    object decides what root loads into the kernel. An untrusted cache is left
    as it is (a warning says why) and the object is built into a new private
    directory (0700) for this run; an untrusted object in a trusted cache is
    rebuilt over. Where the cache cannot be created, a private directory too.
    """
    name = _object_name()
    cache = _cache_dir()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(cache, 0o700)
        dir_fd = _open_dir(cache)
    except _Untrusted as why:
        _warn(f"not using the eBPF object cache {cache}: {why}; building a private copy")
        return _build_private(name)
    except OSError:  # a read-only home, say
        return _build_private(name)
    try:
        return _cached(dir_fd, cache, name)
    finally:
        os.close(dir_fd)


def _cached(dir_fd: int, cache: Path, name: str) -> Path:
    """The object ``name`` in the checked cache ``dir_fd``: kept if checked, else built there."""
    try:
        _read_object(dir_fd, name)
        return cache / name
    except FileNotFoundError:
        pass
    except _Untrusted as why:
        _warn(f"not loading {cache / name}: {why}; rebuilding it")
    except OSError:  # there but unreadable
        return _build_private(name)
    data = _build()
    try:
        _store(dir_fd, name, data)
    except OSError:
        return _build_private(name, data)
    return cache / name


def _build_private(name: str, data: bytes | None = None) -> Path:
    """The object built into a new private directory (0700), for one run only."""
    data = _build() if data is None else data
    where = tempfile.mkdtemp(prefix="sysphase-bpf-")
    try:
        dir_fd = _open_dir(where)
        try:
            _store(dir_fd, name, data)
        finally:
            os.close(dir_fd)
    except (_Untrusted, OSError) as err:
        shutil.rmtree(where, ignore_errors=True)
        raise TracerError(f"cannot write the eBPF object into {where}: {err}") from None
    return Path(where) / name


def _store(dir_fd: int, name: str, data: bytes) -> None:
    """Write ``data`` as ``name`` (0600) into a checked directory: a new file, renamed over."""
    tmp = f".{name}.{os.getpid()}.{os.urandom(4).hex()}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600, dir_fd=dir_fd)
    try:
        try:
            files.write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
