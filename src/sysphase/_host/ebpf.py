"""The eBPF backend: per-process, per-syscall counts kept in the kernel, read at the end.

``trace_command`` spawns a program like :func:`sysphase._host.tracer.trace_command`
but never uses ptrace: the BPF program in ``sysphase/bpf/counts.bpf.c``
(tracepoint programs on ``raw_syscalls:sys_exit`` and the ``sched`` process
events, attached through BTF) counts the calls and errors of the spawned
program's tree in kernel maps; this module builds, loads and attaches it
through a small ctypes binding of libbpf (``libbpf.so.1``), follows nothing
itself, and turns the maps into the same :class:`~sysphase.model.tree.ProcessTree`
the ptrace path returns (times are not measured: every ``time_ns`` is 0).

How a run goes:

1. the BPF object is compiled once per source version with ``clang -target
   bpf`` into a cache (``$XDG_CACHE_HOME/sysphase`` or ``~/.cache/sysphase``,
   created 0700), used only while it is checked: no symbolic link, owned by
   the effective uid, writable by no one else (:func:`object_path`);
2. it is read from a descriptor checked the same way and loaded from those
   bytes (field offsets relocated against ``/sys/kernel/btf/vmlinux``), and
   its programs attached, before anything is spawned;
3. the child is forked and waits on a pipe; its pid goes into the ``tasks``
   map, armed (nothing is counted until its first exec); then it execs. The
   kernel adds every child and thread of a tracked task at fork;
4. the caller is a child subreaper for the run, so descendants that outlive
   the program are reparented to it; the run ends when every child is
   reaped. SIGINT, SIGTERM and SIGHUP kill every tracked task (the counts so
   far are kept); a SIGKILLed caller takes only the program itself along (its
   parent-death signal), not its descendants.

Errors: a missing capability, compiler, library or kernel BTF is one
:class:`~sysphase.errors.BackendUnavailable` sentence naming what is missing.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import signal
import stat
import sys
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import FrameType
from typing import Final

from sysphase.errors import BackendUnavailable, ProgramNotExecutable, ProgramNotFound, TracerError
from sysphase.model.events import I386, X32, X86_64
from sysphase.model.tree import END_BY_CODE, KIND_BY_CODE, Count, Node, ProcessTree
from sysphase.report.escape import terminal_safe

from . import files
from .tracer import X32_BIT, TraceResult, resolve_program

__all__ = [
    "EbpfResult",
    "check_available",
    "object_path",
    "read_object",
    "trace_command",
    "warn_lost",
]

SOURCE: Final = Path(__file__).resolve().parent.parent / "bpf" / "counts.bpf.c"
LIBRARY: Final = "libbpf.so.1"
BTF: Final = "/sys/kernel/btf/vmlinux"
HEADER: Final = "/usr/include/bpf/bpf_helpers.h"
INSTALL_HINT: Final = "apt-get install clang libbpf-dev"

# the BPF program's limits and codes (counts.bpf.c)
MAX_NODES: Final = 65536
STAT_NEXT_NODE, STAT_LOST_NODES, STAT_LOST_COUNTS, STAT_LOST_TASKS = range(4)
ARCH_BY_CODE: Final = {0: X86_64, 1: I386, 2: X32}
KIND_SPAWN: Final = 0
KIND_EXEC: Final = 6

# <linux/capability.h>, <linux/prctl.h>
CAP_SYS_ADMIN: Final = 21
CAP_PERFMON: Final = 38
CAP_BPF: Final = 39
_PR_SET_PDEATHSIG: Final = 1
_PR_SET_CHILD_SUBREAPER: Final = 36
_PR_GET_CHILD_SUBREAPER: Final = 37


class _TaskInfo(ctypes.Structure):
    _fields_ = (
        ("node", ctypes.c_uint32),
        ("exec_from", ctypes.c_uint32),
        ("armed", ctypes.c_uint32),
        ("pad", ctypes.c_uint32),
    )


class _NodeInfo(ctypes.Structure):
    _fields_ = (
        ("tid", ctypes.c_uint32),
        ("tgid", ctypes.c_uint32),
        ("parent", ctypes.c_int32),
        ("kind", ctypes.c_uint32),
        ("end", ctypes.c_uint32),
        ("end_value", ctypes.c_int32),
        ("start_ns", ctypes.c_uint64),
        ("end_ns", ctypes.c_uint64),
    )


class _CountKey(ctypes.Structure):
    _fields_ = (("node", ctypes.c_uint32), ("arch", ctypes.c_uint32), ("nr", ctypes.c_uint32))


class _CountVal(ctypes.Structure):
    _fields_ = (
        ("calls", ctypes.c_uint64),
        ("errors", ctypes.c_uint64),
        ("unfinished", ctypes.c_uint64),
    )


class _Image(ctypes.Structure):
    _fields_ = (
        ("exe", ctypes.c_char * 256),
        ("argv", ctypes.c_ubyte * 256),
        ("argv_len", ctypes.c_uint32),
        ("pad", ctypes.c_uint32),
    )


@dataclass(slots=True)
class EbpfResult(TraceResult):
    """A TraceResult from the eBPF backend; ``lost`` counts what did not fit the maps."""

    lost: dict[str, int] = field(default_factory=dict)


# --- checks ---------------------------------------------------------------------------------


def _effective_caps() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def _missing_caps() -> list[str]:
    """Names of the capabilities this process lacks to load tracing programs.

    The kernel's bpf_capable() and perfmon_capable() accept CAP_SYS_ADMIN for either.
    """
    caps = _effective_caps()
    if caps >> CAP_SYS_ADMIN & 1:
        return []
    return [
        name
        for cap, name in ((CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON"))
        if not caps >> cap & 1
    ]


def _denied(detail: str = "") -> BackendUnavailable:
    missing = _missing_caps() or ["CAP_BPF", "CAP_PERFMON"]
    return BackendUnavailable(
        "the eBPF backend is not permitted here: it needs root or the "
        + " and ".join(missing)
        + " capabilit"
        + ("ies" if len(missing) > 1 else "y")
        + (f" ({detail})" if detail else "")
    )


def check_available() -> None:
    """Raise BackendUnavailable naming the missing capability, kernel feature or tool."""
    if _missing_caps():
        raise _denied()
    if not os.path.exists(BTF):
        raise BackendUnavailable(
            f"the eBPF backend needs a kernel with BTF ({BTF} is missing: CONFIG_DEBUG_INFO_BTF)"
        )
    _libbpf()


# --- building the BPF object ----------------------------------------------------------------


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sysphase"


def _object_name() -> str:
    """The object's file name: one per source and compiler flags."""
    key = SOURCE.read_bytes() + " ".join(compile_flags()).encode()
    return f"counts-{zlib.crc32(key):08x}-{len(key)}.bpf.o"


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
    finally:
        os.close(dir_fd)


def _build_private(name: str, data: bytes | None = None) -> Path:
    """The object built into a new private directory (0700), for one run only."""
    import tempfile

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


def _build() -> bytes:
    """counts.bpf.c compiled by clang: the object's bytes (clang writes them to a pipe)."""
    import subprocess  # only to build: not on every run's start-up path

    clang = shutil.which("clang")
    if clang is None or not os.path.exists(HEADER):
        what = "clang" if clang is None else f"libbpf's headers ({HEADER})"
        raise BackendUnavailable(
            f"the eBPF backend needs {what} to build its BPF program ({INSTALL_HINT})"
        )
    proc = subprocess.run(
        [clang, *compile_flags(), "-c", str(SOURCE), "-o", "-"],
        capture_output=True,
        check=False,
        env=_clean_env(),
    )
    if proc.returncode != 0 or not proc.stdout:
        text = proc.stderr.decode(errors="replace").strip()
        first = (text.splitlines() or ["no output"])[0]
        raise BackendUnavailable(f"clang failed to build {SOURCE.name}: {first}")
    return proc.stdout


def _clean_env() -> dict[str, str]:
    """The environment for clang, less what a sanitizer build of the test suite preloads."""
    drop = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
    return {k: v for k, v in os.environ.items() if k not in drop}


def compile_flags() -> list[str]:
    """clang's flags for counts.bpf.c."""
    return ["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-D__TARGET_ARCH_x86", "-Wall", "-Werror"]


# --- libbpf ---------------------------------------------------------------------------------

_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_messages: list[str] = []


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _on_print(level: int, fmt: bytes | None, args: int | None) -> int:
    buf = ctypes.create_string_buffer(1024)
    _libc().vsnprintf(buf, len(buf), fmt, ctypes.c_void_p(args))
    text = buf.value.decode(errors="replace").strip()
    if text and level <= 1:  # LIBBPF_WARN, LIBBPF_INFO
        _messages.append(text)
        del _messages[:-20]
    return 0


_print_callback = _PRINT_FN(_on_print)


@cache
def _libbpf() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(LIBRARY, use_errno=True)
    except OSError as err:
        raise BackendUnavailable(
            f"the eBPF backend needs libbpf ({LIBRARY}: {err}; apt-get install libbpf1)"
        ) from None
    vp, cp, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    for name, res, args in (
        ("libbpf_set_print", vp, [vp]),
        ("bpf_object__open_mem", vp, [vp, ctypes.c_size_t, vp]),
        ("bpf_object__load", i, [vp]),
        ("bpf_object__close", None, [vp]),
        ("bpf_object__next_program", vp, [vp, vp]),
        ("bpf_object__find_map_fd_by_name", i, [vp, cp]),
        ("bpf_program__name", cp, [vp]),
        ("bpf_program__attach", vp, [vp]),
        ("bpf_link__destroy", i, [vp]),
        ("bpf_map_update_elem", i, [i, vp, vp, ctypes.c_uint64]),
        ("bpf_map_lookup_elem", i, [i, vp, vp]),
        ("bpf_map_get_next_key", i, [i, vp, vp]),
    ):
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    lib.libbpf_set_print(ctypes.cast(_print_callback, ctypes.c_void_p))
    return lib


def _libbpf_says() -> str:
    """The last relevant libbpf message, for an error sentence."""
    for text in reversed(_messages):
        if "failed" in text or "error" in text.lower():
            return text.removeprefix("libbpf: ")
    return _messages[-1].removeprefix("libbpf: ") if _messages else ""


class _OpenOpts(ctypes.Structure):
    """The start of libbpf's ``struct bpf_object_open_opts`` (``sz`` says how much is given)."""

    _fields_ = (("sz", ctypes.c_size_t), ("object_name", ctypes.c_char_p))


class _Programs:
    """The loaded and attached BPF object; map access by name.

    The object is loaded from memory (``bpf_object__open_mem``): the bytes
    :func:`read_object` read from the checked file, never the path again.
    """

    def __init__(self, path: Path) -> None:
        self.lib = _libbpf()
        self.links: list[int] = []
        data = read_object(path)
        # libbpf reads the image until the object is loaded: it lives as long as the object
        self.image = (ctypes.c_char * len(data)).from_buffer_copy(data)
        self.opts = _OpenOpts(ctypes.sizeof(_OpenOpts), b"counts")
        _messages.clear()
        obj = self.lib.bpf_object__open_mem(
            ctypes.addressof(self.image), len(data), ctypes.byref(self.opts)
        )
        if not obj:
            err = ctypes.get_errno()
            raise TracerError(f"libbpf could not open {path}: {os.strerror(err)}")
        self.obj: int = obj
        try:
            rc = self.lib.bpf_object__load(obj)
            if rc < 0:
                self._fail("load the BPF program", -rc)
            prog = self.lib.bpf_object__next_program(obj, None)
            while prog:
                link = self.lib.bpf_program__attach(prog)
                if not link:
                    name = os.fsdecode(self.lib.bpf_program__name(prog) or b"?")
                    self._fail(f"attach {name}", ctypes.get_errno())
                self.links.append(link)
                prog = self.lib.bpf_object__next_program(obj, prog)
            self.fds = {
                name: self.lib.bpf_object__find_map_fd_by_name(obj, name.encode())
                for name in ("tasks", "nodes", "counts", "images", "stats")
            }
        except BaseException:
            self.close()
            raise

    def _fail(self, what: str, err: int) -> None:
        said = _libbpf_says()
        if err in (errno.EPERM, errno.EACCES):
            raise _denied(f"the kernel refused to {what}: {os.strerror(err)}")
        raise TracerError(
            f"the eBPF backend could not {what}: {os.strerror(err)}"
            + (f" ({said})" if said else "")
        )

    def close(self) -> None:
        for link in self.links:
            self.lib.bpf_link__destroy(link)
        self.links = []
        if self.obj:
            self.lib.bpf_object__close(self.obj)
            self.obj = 0

    def update(self, name: str, key: ctypes._CData, value: ctypes._CData) -> None:
        rc = self.lib.bpf_map_update_elem(self.fds[name], ctypes.byref(key), ctypes.byref(value), 0)
        if rc < 0:
            raise TracerError(f"bpf map update of {name} failed: {os.strerror(-rc)}")

    def lookup(self, name: str, key: ctypes._CData, value: ctypes._CData) -> bool:
        rc = self.lib.bpf_map_lookup_elem(self.fds[name], ctypes.byref(key), ctypes.byref(value))
        return bool(rc == 0)

    def keys(self, name: str, key_type: type[ctypes._CData]) -> Iterator[ctypes._CData]:
        """Every key of a hash map (a snapshot walk; entries may come and go meanwhile)."""
        prev = None
        while True:
            nxt = key_type()
            rc = self.lib.bpf_map_get_next_key(
                self.fds[name], None if prev is None else ctypes.byref(prev), ctypes.byref(nxt)
            )
            if rc < 0:
                return
            yield nxt
            prev = nxt

    def stat(self, index: int) -> int:
        value = ctypes.c_uint64()
        return value.value if self.lookup("stats", ctypes.c_uint32(index), value) else 0


# --- a run ----------------------------------------------------------------------------------


class _Stopper:
    """SIGINT, SIGTERM and SIGHUP during a run: remember the first, kill every tracked task."""

    def __init__(self, progs: _Programs) -> None:
        self.progs = progs
        self.root = 0
        self.sig = 0
        self.old: dict[int, object] = {}

    def __enter__(self) -> _Stopper:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError):  # not the main thread: leave them
                self.old[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.old.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self.old = {}

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        self.sig = self.sig or sig
        self.kill()

    def kill(self) -> None:
        """SIGKILL the program and every task the kernel tracks for it (no-op before a spawn)."""
        if not self.root:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.root, signal.SIGKILL)
        for key in self.progs.keys("tasks", ctypes.c_uint32):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(key.value), signal.SIGKILL)  # type: ignore[attr-defined]


def _spawn(path: str, argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, int, int]:
    """Fork a child that waits for a byte on a pipe, then execs: (pid, go fd, exec-error fd)."""
    go_r, go_w = os.pipe()
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(go_w)
            os.close(err_r)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(sig, signal.SIG_DFL)
            _libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.read(go_r, 1) == b"g":
                os.close(go_r)
                os.execve(path, list(argv), dict(env))
        except OSError as err:
            os.write(err_w, (err.errno or errno.ENOEXEC).to_bytes(4, "little"))
        finally:
            os._exit(127)
    os.close(go_r)
    os.close(err_w)
    return pid, go_w, err_r


def _wait_all(stopper: _Stopper) -> int | None:
    """Reap the program and every descendant left to us (a subreaper); the program's status."""
    status: int | None = None
    while True:
        try:
            pid, st = os.waitpid(-1, 0)
        except ChildProcessError:
            return status
        if pid == stopper.root:
            status = st
        if stopper.sig:  # tasks forked while the signal was handled
            stopper.kill()


def trace_command(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> EbpfResult:
    """Spawn argv and count the syscalls of its whole tree in the kernel until it ends."""
    env = dict(os.environ if env is None else env)
    path = resolve_program(argv[0], env)
    check_available()
    obj = object_path()
    libc = _libc()
    try:
        progs = _Programs(obj)
    finally:
        if obj.parent.name.startswith("sysphase-bpf-"):  # built for this run only
            shutil.rmtree(obj.parent, ignore_errors=True)
    old_subreaper = ctypes.c_int(0)
    libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(old_subreaper), 0, 0, 0)
    try:
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        with _Stopper(progs) as stopper:
            pid, go, err_fd = _spawn(path, argv, env)
            start = time.monotonic_ns()
            try:
                progs.update("nodes", ctypes.c_uint32(0), _NodeInfo(pid, pid, -1, KIND_SPAWN))
                progs.update("stats", ctypes.c_uint32(STAT_NEXT_NODE), ctypes.c_uint64(1))
                progs.update("tasks", ctypes.c_uint32(pid), _TaskInfo(0, 0, 1, 0))
                stopper.root = pid
                if not stopper.sig:
                    os.write(go, b"g")
            finally:
                os.close(go)
                if not stopper.root:  # the maps could not be set up
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            with os.fdopen(err_fd, "rb") as f:
                failed = f.read(4)
            status = _wait_all(stopper)
        if failed:
            code = int.from_bytes(failed, "little")
            if code in (errno.ENOENT, errno.ENOTDIR):
                raise ProgramNotFound(f"{argv[0]}: {os.strerror(code)}")
            raise ProgramNotExecutable(f"{argv[0]}: {os.strerror(code)}")
        tree = _tree(progs, path, argv, start)
        lost = {
            name: progs.stat(index)
            for name, index in (
                ("processes", STAT_LOST_NODES),
                ("counters", STAT_LOST_COUNTS),
                ("tasks", STAT_LOST_TASKS),
            )
        }
        return EbpfResult(
            tree=tree,
            root_status=status,
            interrupted=stopper.sig,
            stops=0,
            lost={k: v for k, v in lost.items() if v},
        )
    finally:
        libc.prctl(_PR_SET_CHILD_SUBREAPER, old_subreaper.value, 0, 0, 0)
        progs.close()


def _image(progs: _Programs, node: int) -> tuple[str, tuple[str, ...]] | None:
    im = _Image()
    if not progs.lookup("images", ctypes.c_uint32(node), im):
        return None
    exe = os.fsdecode(im.exe)
    if exe.startswith("/"):
        exe = os.path.realpath(exe)
    raw = bytes(im.argv)[: im.argv_len]
    argv = tuple(os.fsdecode(a) for a in raw.split(b"\0")[:-1] or [raw] if raw)
    return exe, argv


def _tree(progs: _Programs, path: str, argv: Sequence[str], start: int) -> ProcessTree:
    count = min(progs.stat(STAT_NEXT_NODE), MAX_NODES)
    nodes: list[Node] = []
    phase_names: list[tuple[str, str]] = [("start", "start")]
    phase_of: list[int] = []
    for i in range(count):
        info = _NodeInfo()
        if not progs.lookup("nodes", ctypes.c_uint32(i), info):
            break
        parent = info.parent if 0 <= info.parent < i else None
        image = _image(progs, i)
        if image is None and parent is not None:
            exe, args = nodes[parent].exe, nodes[parent].argv
        elif image is None:
            exe, args = os.path.realpath(path), tuple(argv)
        else:
            exe, args = image
        phase = phase_of[parent] if parent is not None else 0
        if info.kind == KIND_EXEC:
            name = os.path.basename(exe) or exe
            if (name, "exec") not in phase_names:
                phase_names.append((name, "exec"))
            phase = phase_names.index((name, "exec"))
        phase_of.append(phase)
        nodes.append(
            Node(
                i,
                info.tid,
                info.tgid,
                parent,
                KIND_BY_CODE[info.kind],
                exe,
                args,
                END_BY_CODE[info.end],
                info.end_value,
                info.start_ns or start,
                info.end_ns,
                phases=[phase],
            )
        )
    counts = []
    for key in progs.keys("counts", _CountKey):
        val = _CountVal()
        node = key.node  # type: ignore[attr-defined]
        if node >= len(nodes) or not progs.lookup("counts", key, val):
            continue
        arch = ARCH_BY_CODE.get(key.arch, "unknown")  # type: ignore[attr-defined]
        nr = key.nr | X32_BIT if arch == X32 else key.nr  # type: ignore[attr-defined]
        counts.append(
            Count(node, phase_of[node], arch, nr, val.calls, val.errors, 0, val.unfinished)
        )
    counts.sort(key=lambda c: (c.node, c.phase, c.arch, c.nr))
    return ProcessTree(nodes, counts, phase_names)


def warn_lost(result: EbpfResult) -> None:
    """Say on stderr what did not fit the kernel maps (the counts are then incomplete)."""
    if result.lost:
        what = ", ".join(f"{n} {k}" for k, n in result.lost.items())
        print(f"sysphase: warning: the eBPF maps were full ({what} not kept)", file=sys.stderr)
