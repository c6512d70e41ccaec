"""The eBPF backend: per-process, per-syscall counts kept in the kernel, read at the end.

``trace_command`` spawns a program like :func:`sysphase._host.tracer.trace_command`
but never uses ptrace: the BPF program in ``sysphase/bpf/counts.bpf.c``
(tracepoint programs on ``raw_syscalls:sys_exit`` and the ``sched`` process
events, attached through BTF) counts the calls and errors of the spawned
program's tree in kernel maps; this module loads and attaches it, follows
nothing itself, and turns the maps into the same
:class:`~sysphase.model.tree.ProcessTree` the ptrace path returns (times are
not measured: every ``time_ns`` is 0).

The parts: :mod:`sysphase._host.ebpf_object` builds the BPF object with
clang into a checked cache (:func:`object_path`, :func:`read_object`);
:mod:`sysphase._host.libbpf` is the ctypes binding that loads it from the
checked bytes and reads the maps; here is the run and the tree.

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
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Final

from sysphase.errors import BackendUnavailable, ProgramNotExecutable, ProgramNotFound
from sysphase.model.events import I386, X32, X86_64
from sysphase.model.tree import END_BY_CODE, KIND_BY_CODE, Count, Node, ProcessTree

from .core_records import X32_BIT
from .ebpf_object import object_path, read_object
from .libbpf import Programs, denied, libbpf, libc, missing_caps
from .programs import resolve_program
from .tracer import TraceResult

__all__ = [
    "EbpfResult",
    "check_available",
    "object_path",
    "read_object",
    "trace_command",
    "warn_lost",
]

BTF: Final = "/sys/kernel/btf/vmlinux"

# the BPF program's maps, limits and codes (counts.bpf.c)
MAPS: Final = ("tasks", "nodes", "counts", "images", "stats")
MAX_NODES: Final = 65536
STAT_NEXT_NODE, STAT_LOST_NODES, STAT_LOST_COUNTS, STAT_LOST_TASKS = range(4)
ARCH_BY_CODE: Final = {0: X86_64, 1: I386, 2: X32}
KIND_SPAWN: Final = 0
KIND_EXEC: Final = 6

# <linux/prctl.h>
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


def check_available() -> None:
    """Raise BackendUnavailable naming the missing capability, kernel feature or tool."""
    if missing_caps():
        raise denied()
    if not os.path.exists(BTF):
        raise BackendUnavailable(
            f"the eBPF backend needs a kernel with BTF ({BTF} is missing: CONFIG_DEBUG_INFO_BTF)"
        )
    libbpf()


# --- a run ----------------------------------------------------------------------------------


class _Stopper:
    """SIGINT, SIGTERM and SIGHUP during a run: remember the first, kill every tracked task."""

    def __init__(self, progs: Programs) -> None:
        self.progs = progs
        self.root = 0
        self.sig = 0
        self.old: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}

    def __enter__(self) -> _Stopper:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError):  # not the main thread: leave them
                self.old[sig] = signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.old.items():
            signal.signal(signum, handler)
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
                os.kill(int(key.value), signal.SIGKILL)


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
            libc().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
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


def _arm(progs: Programs, stopper: _Stopper, pid: int, go: int) -> None:
    """Put the waiting child in the maps (node 0, armed), then let it exec.

    If the maps cannot be set up the child is killed and reaped, never run.
    """
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


def _exec_failed(argv0: str, failed: bytes) -> None:
    """Raise what the child's exec failed with (the errno it wrote to the pipe)."""
    code = int.from_bytes(failed, "little")
    if code in (errno.ENOENT, errno.ENOTDIR):
        raise ProgramNotFound(f"{argv0}: {os.strerror(code)}")
    raise ProgramNotExecutable(f"{argv0}: {os.strerror(code)}")


@contextlib.contextmanager
def _subreaper() -> Iterator[None]:
    """This process a child subreaper for the block, as it was afterwards."""
    old = ctypes.c_int(0)
    libc().prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(old), 0, 0, 0)
    try:
        libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        yield
    finally:
        libc().prctl(_PR_SET_CHILD_SUBREAPER, old.value, 0, 0, 0)


def _load() -> Programs:
    """The object loaded and attached; a private copy built for this run is removed after."""
    obj = object_path()
    try:
        return Programs(obj, MAPS)
    finally:
        if obj.parent.name.startswith("sysphase-bpf-"):  # built for this run only
            shutil.rmtree(obj.parent, ignore_errors=True)


def trace_command(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> EbpfResult:
    """Spawn argv and count the syscalls of its whole tree in the kernel until it ends."""
    env = dict(os.environ if env is None else env)
    path = resolve_program(argv[0], env)
    check_available()
    progs = _load()
    try:
        with _subreaper(), _Stopper(progs) as stopper:
            pid, go, err_fd = _spawn(path, argv, env)
            start = time.monotonic_ns()
            _arm(progs, stopper, pid, go)
            with os.fdopen(err_fd, "rb") as f:
                failed = f.read(4)
            status = _wait_all(stopper)
        if failed:
            _exec_failed(argv[0], failed)
        return EbpfResult(
            tree=_tree(progs, path, argv, start),
            root_status=status,
            interrupted=stopper.sig,
            stops=0,
            lost=_lost(progs),
        )
    finally:
        progs.close()


# --- the tree from the maps -----------------------------------------------------------------


def _lost(progs: Programs) -> dict[str, int]:
    lost = {
        name: progs.stat(index)
        for name, index in (
            ("processes", STAT_LOST_NODES),
            ("counters", STAT_LOST_COUNTS),
            ("tasks", STAT_LOST_TASKS),
        )
    }
    return {k: v for k, v in lost.items() if v}


def _image(progs: Programs, node: int) -> tuple[str, tuple[str, ...]] | None:
    im = _Image()
    if not progs.lookup("images", ctypes.c_uint32(node), im):
        return None
    exe = os.fsdecode(im.exe)
    if exe.startswith("/"):
        exe = os.path.realpath(exe)
    raw = bytes(im.argv)[: im.argv_len]
    argv = tuple(os.fsdecode(a) for a in raw.split(b"\0")[:-1] or [raw] if raw)
    return exe, argv


@dataclass(slots=True)
class _Phases:
    """Phase names as the ptrace path gives them: ``start``, then one per program exec'd."""

    names: list[tuple[str, str]] = field(default_factory=lambda: [("start", "start")])
    of_node: list[int] = field(default_factory=list)

    def enter(self, info: _NodeInfo, parent: int | None, exe: str) -> int:
        """The phase of a new node: its parent's, or its program's after an exec."""
        phase = self.of_node[parent] if parent is not None else 0
        if info.kind == KIND_EXEC:
            name = os.path.basename(exe) or exe
            if (name, "exec") not in self.names:
                self.names.append((name, "exec"))
            phase = self.names.index((name, "exec"))
        self.of_node.append(phase)
        return phase


def _nodes(
    progs: Programs, path: str, argv: Sequence[str], start: int
) -> tuple[list[Node], _Phases]:
    phases = _Phases()
    nodes: list[Node] = []
    for i in range(min(progs.stat(STAT_NEXT_NODE), MAX_NODES)):
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
        phase = phases.enter(info, parent, exe)
        end = END_BY_CODE[info.end]
        kind = KIND_BY_CODE[info.kind]
        nodes.append(
            Node(
                i,
                info.tid,
                info.tgid,
                parent,
                kind,
                exe,
                args,
                end,
                info.end_value,
                info.start_ns or start,
                info.end_ns,
                phases=[phase],
            )
        )
    return nodes, phases


def _counts(progs: Programs, phase_of: Sequence[int]) -> list[Count]:
    counts = []
    for key in progs.keys("counts", _CountKey):
        val = _CountVal()
        node = int(key.node)
        if node >= len(phase_of) or not progs.lookup("counts", key, val):
            continue
        arch = ARCH_BY_CODE.get(key.arch, "unknown")
        nr = key.nr | X32_BIT if arch == X32 else key.nr
        counts.append(
            Count(node, phase_of[node], arch, nr, val.calls, val.errors, 0, val.unfinished)
        )
    counts.sort(key=lambda c: (c.node, c.phase, c.arch, c.nr))
    return counts


def _tree(progs: Programs, path: str, argv: Sequence[str], start: int) -> ProcessTree:
    nodes, phases = _nodes(progs, path, argv, start)
    return ProcessTree(nodes, _counts(progs, phases.of_node), phases.names)


def warn_lost(result: EbpfResult) -> None:
    """Say on stderr what did not fit the kernel maps (the counts are then incomplete)."""
    if result.lost:
        what = ", ".join(f"{n} {k}" for k, n in result.lost.items())
        print(f"sysphase: warning: the eBPF maps were full ({what} not kept)", file=sys.stderr)
