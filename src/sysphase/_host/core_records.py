"""From the C core's records to the model: nodes, counts, live events, violations.

Part of the seam with sysphase._core (with sysphase._host.tracer, which builds
the options and calls the core, and sysphase._host.keep_pid): the core's codes
for architectures, node kinds and ends are mapped here once, and each record
type the core returns (``_core.pyi``) becomes its model type.
"""

from __future__ import annotations

import os
import signal
from dataclasses import replace

from sysphase import _core
from sysphase.model import elf, syscalls
from sysphase.model.elf import ElfError
from sysphase.model.events import AARCH64, I386, X32, X86_64, SyscallEvent
from sysphase.model.file_access import FILE_TYPES, Access
from sysphase.model.tree import ArgValue, Count, Node, NodeEnd, NodeKind, ProcessTree
from sysphase.model.violations import ViolationEvent

__all__ = [
    "ARCH_BY_CODE",
    "CODE_BY_ARCH",
    "END_BY_CODE",
    "KIND_BY_CODE",
    "X32_BIT",
    "events",
    "tree",
    "violations",
]

X32_BIT = 0x40000000
ARCH_BY_CODE = {
    _core.ARCH_X86_64: X86_64,
    _core.ARCH_I386: I386,
    _core.ARCH_X32: X32,
    _core.ARCH_AARCH64: AARCH64,
}
CODE_BY_ARCH = {name: code for code, name in ARCH_BY_CODE.items()}
KIND_BY_CODE = {
    _core.KIND_SPAWN: NodeKind.SPAWN,
    _core.KIND_ATTACH: NodeKind.ATTACH,
    _core.KIND_FORK: NodeKind.FORK,
    _core.KIND_VFORK: NodeKind.VFORK,
    _core.KIND_CLONE: NodeKind.CLONE,
    _core.KIND_THREAD: NodeKind.THREAD,
    _core.KIND_EXEC: NodeKind.EXEC,
}
END_BY_CODE = {
    _core.END_RUNNING: NodeEnd.RUNNING,
    _core.END_EXITED: NodeEnd.EXITED,
    _core.END_SIGNALED: NodeEnd.SIGNALED,
    _core.END_EXEC: NodeEnd.EXEC,
    _core.END_DETACHED: NodeEnd.DETACHED,
    _core.END_VANISHED: NodeEnd.VANISHED,
}


def _arch_nr(code: int, nr: int) -> tuple[str, int]:
    """The architecture name and the syscall number as the model writes it (x32: with its bit)."""
    arch = ARCH_BY_CODE.get(code, "unknown")
    return arch, nr | X32_BIT if arch == X32 else nr


def events(batch: list[_core.Event]) -> list[SyscallEvent]:
    out = []
    for e in batch:
        arch, nr = _arch_nr(e.arch, e.nr)
        out.append(SyscallEvent(e.tid, arch, nr, e.args, e.retval, e.data, e.time_ns))
    return out


def counts(rows: list[_core.Counter]) -> list[Count]:
    out = []
    for c in rows:
        arch, nr = _arch_nr(c.arch, c.nr)
        out.append(
            Count(
                c.node,
                c.phase,
                arch,
                nr,
                c.calls,
                c.errors,
                c.time_ns,
                c.unfinished,
                c.in_flight,
                c.first_ns,
                c.last_ns,
            )
        )
    out.sort(key=lambda c: (c.node, c.phase, c.arch, c.nr))
    return out


def _node(i: int, n: _core.Node, images: list[tuple[str, tuple[str, ...], str]]) -> Node:
    exe, argv, build_id = images[n.image] if n.image >= 0 else ("", (), "")
    exit_arch, exit_nr = _arch_nr(n.exit_arch, n.exit_nr)
    return Node(
        i,
        n.tid,
        n.tgid,
        n.parent if n.parent >= 0 else None,
        KIND_BY_CODE[n.kind],
        exe,
        argv,
        END_BY_CODE[n.end],
        n.end_value,
        n.start_ns,
        n.end_ns,
        phases=list(n.phases) or [0],
        phase_ns=list(n.phase_ns) if n.phases else [n.start_ns],
        load_base=n.load_base,
        entry=n.entry,
        exit_nr=exit_nr if n.exit_nr >= 0 else None,
        exit_arch=exit_arch,
        build_id=build_id,
    )


def _trigger_name(trigger: str) -> str:
    """The core writes phase-signal triggers as signal:NUMBER; show the name."""
    if trigger.startswith("signal:") and trigger[7:].isdigit():
        return "signal:" + signal.Signals(int(trigger[7:])).name
    return trigger


def tree(raw: _core.TraceResult) -> ProcessTree:
    """The process tree (nodes, counts, phase names, argument values) of one trace."""
    images = [
        (
            os.fsdecode(im.exe),
            tuple(map(os.fsdecode, im.argv.split(b"\0")[:-1] or [im.argv])),
            im.build_id,
        )
        for im in raw.images
    ]
    nodes = [_node(i, n, images) for i, n in enumerate(raw.nodes)]
    names = [(p.name, _trigger_name(p.trigger)) for p in raw.phase_names]
    argvals = [
        ArgValue(a.node, a.phase, *_arch_nr(a.arch, a.nr), a.arg, a.value) for a in raw.arg_values
    ]
    return ProcessTree(
        nodes, counts(raw.counts), names, argvals, accesses(raw.accesses), raw.accesses_dropped
    )


def accesses(rows: list[_core.Access]) -> list[Access]:
    """The paths and ports calls touched (x86_64 numbers), in a stable order; each program
    exec'd also needs its ELF interpreter, which the kernel opens for execution itself."""
    seen = [
        Access(
            a.node,
            a.phase,
            syscalls.name(X86_64, a.nr),
            a.which,
            a.flags,
            FILE_TYPES.get(a.ftype, ""),
            None if a.existed < 0 else a.existed == 1,
            a.err,
            _exec_target(syscalls.name(X86_64, a.nr), a.err, a.path),
        )
        for a in rows
    ]
    return sorted({*seen, *_interpreters(seen)})


def _exec_target(syscall: str, err: int, path: bytes) -> str:
    """A path as noted; an exec'd program's as the kernel ran it (symbolic links resolved)."""
    text = os.fsdecode(path)
    if syscall in ("execve", "execveat") and err == 0 and text.startswith("/"):
        return os.path.realpath(text)
    return text


def _interpreters(seen: list[Access]) -> list[Access]:
    """An execve access of each successfully exec'd program's interpreter (PT_INTERP)."""
    found: list[Access] = []
    for a in seen:
        if a.syscall not in ("execve", "execveat") or a.errno != 0 or not a.path.startswith("/"):
            continue
        try:
            with open(a.path, "rb") as f:
                head = f.read(1 << 28)  # programs are far smaller
            interp = elf.read_image(head).interpreter
        except (OSError, ElfError):
            continue  # gone since, unreadable, or not ELF (a script's interpreter is exec'd)
        if interp:
            found.append(replace(a, path=os.path.realpath(interp), which=0, ftype="reg"))
    return found


def violations(batch: list[_core.Violation]) -> list[ViolationEvent]:
    """Seccomp kills and complain-mode violations, as the core reports them live."""
    out = []
    for v in batch:
        arch, nr = _arch_nr(v.arch, v.nr)
        out.append(
            ViolationEvent(
                time_ns=v.time_ns,
                pid=v.pid,
                tid=v.tid,
                program=os.fsdecode(v.exe),
                build_id=v.build_id,
                phase=v.phase,
                filter_phase=v.filter_phase,
                arch=arch,
                nr=nr,
                syscall=syscalls.name(arch, nr),
                args=tuple(v.args),
                killed=v.killed,
            )
        )
    return out
