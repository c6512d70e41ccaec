"""A small ctypes binding of libseccomp: allow-lists in, raw BPF out; installing a filter.

Pure data in, bytes out. :func:`compile_filter` turns ``{syscall name:
alternatives}`` into the classic-BPF program libseccomp generates for it
(the same compiler runc, crun and systemd use); :func:`install` sets
``no_new_privs`` and loads such a program into the calling thread;
:func:`disassemble` prints one.

Syscall names are resolved with sysphase's own tables
(:mod:`sysphase.model.syscalls`, generated from the kernel headers), not with
libseccomp's: a syscall's identity is (arch, number), and a libseccomp older
than the kernel still compiles a rule for a number it has no name for.

What the generated filter does (libseccomp 2.5.4, checked with
:func:`sysphase.policy.bpf_sim.disassemble`):

- ``seccomp_data.arch`` other than AUDIT_ARCH_X86_64 (i386 through
  ``int 0x80``) gets the bad-arch action;
- an x86_64 ``nr`` with the x32 bit (``nr >= 0x40000000``) gets the
  bad-arch action as well: libseccomp adds that check to every x86_64-only
  filter (``jgt 0x3fffffff``), so no rule of ours is needed;
- then one comparison per allowed number (64-bit argument conditions as
  pairs of 32-bit compares), then the default action.

The bad-arch action is the default action for ``kill`` (kill-process),
``errno`` (EPERM) and ``trap``; for ``log`` it is kill-process, because a call
through a foreign ABI is never something to just log and let through.

Recording filters (:func:`recording_filter`) are different: they never deny
anything, they only choose which calls stop at the tracer (``TRACE``) and
which run without a stop (``ALLOW``). Calls of other ABIs (i386, x32) always
get ``TRACE``, so they are always seen.

libseccomp's errors (negative errno values) and failing system calls become
:class:`sysphase.errors.PolicyError`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Final

from sysphase.errors import PolicyError
from sysphase.model import syscalls
from sysphase.policy import bpf_sim

__all__ = [
    "ARCH_TOKENS",
    "DEFAULT_ACTIONS",
    "OPS",
    "Cond",
    "compile_filter",
    "disassemble",
    "install",
    "load_library",
    "recording_filter",
]

Cond = tuple[int, str, int, int]
"""One argument condition: (argument index 0..5, op, value, mask).

``op`` is one of :data:`OPS`; the mask only matters for ``masked_eq``
(``args[i] & mask == value``). Values are 64-bit; a negative value is taken in
two's complement (-1 is 0xffffffffffffffff).
"""

LIBRARY: Final = "libseccomp.so.2"

# enum scmp_compare
OPS: Final = {"ne": 1, "lt": 2, "le": 3, "eq": 4, "ge": 5, "gt": 6, "masked_eq": 7}

#: libseccomp's architecture tokens (the AUDIT_ARCH_* values) for the architectures compiled.
ARCH_TOKENS: Final = {"x86_64": bpf_sim.AUDIT_ARCH_X86_64}

_SCMP_ACT_KILL_PROCESS: Final = 0x80000000
_SCMP_ACT_TRAP: Final = 0x00030000
_SCMP_ACT_LOG: Final = 0x7FFC0000
_SCMP_ACT_ALLOW: Final = 0x7FFF0000
_SCMP_ACT_TRACE: Final = 0x7FF00000


#: prctl option of the filters' probe rule (``compile_filter(probe_errno=...)``): "SYSP".
#: No kernel has such an option; guard.h defines the same number.
PROBE_OPTION: Final = 0x53595350


def _scmp_act_errno(err: int) -> int:
    return 0x00050000 | (err & 0xFFFF)


#: Policy default action -> (libseccomp default action, bad-arch action).
DEFAULT_ACTIONS: Final = {
    "kill": (_SCMP_ACT_KILL_PROCESS, _SCMP_ACT_KILL_PROCESS),
    "errno": (_scmp_act_errno(errno.EPERM), _scmp_act_errno(errno.EPERM)),
    "trap": (_SCMP_ACT_TRAP, _SCMP_ACT_TRAP),
    "log": (_SCMP_ACT_LOG, _SCMP_ACT_KILL_PROCESS),
    # complain mode (sysphase run --complain): every call outside the policy, of any ABI,
    # stops at the supervising tracer, which records it and lets it run
    "trace": (_SCMP_ACT_TRACE, _SCMP_ACT_TRACE),
}

# enum scmp_filter_attr
_SCMP_FLTATR_ACT_BADARCH: Final = 2
_SCMP_FLTATR_CTL_OPTIMIZE: Final = 8  # libseccomp >= 2.5: 2 = a binary tree of syscall numbers

_U64: Final = 0xFFFFFFFFFFFFFFFF

# <linux/prctl.h>, <linux/seccomp.h>
_PR_SET_NO_NEW_PRIVS: Final = 38
_SECCOMP_SET_MODE_FILTER: Final = 1
_SECCOMP_FILTER_FLAG_TSYNC: Final = 1


class _ArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp."""

    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


class _SockFprog(ctypes.Structure):
    """struct sock_fprog."""

    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


@cache
def load_library() -> ctypes.CDLL:
    """libseccomp.so.2 with its prototypes; PolicyError if it cannot be loaded."""
    try:
        lib = ctypes.CDLL(LIBRARY, use_errno=True)
    except OSError as err:
        raise PolicyError(
            f"cannot load {LIBRARY} ({err}); install libseccomp (apt-get install libseccomp2)"
        ) from err
    ctx = ctypes.c_void_p
    lib.seccomp_init.argtypes = (ctypes.c_uint32,)
    lib.seccomp_init.restype = ctx
    lib.seccomp_release.argtypes = (ctx,)
    lib.seccomp_release.restype = None
    lib.seccomp_arch_native.argtypes = ()
    lib.seccomp_arch_native.restype = ctypes.c_uint32
    lib.seccomp_arch_add.argtypes = (ctx, ctypes.c_uint32)
    lib.seccomp_arch_add.restype = ctypes.c_int
    lib.seccomp_arch_remove.argtypes = (ctx, ctypes.c_uint32)
    lib.seccomp_arch_remove.restype = ctypes.c_int
    lib.seccomp_attr_set.argtypes = (ctx, ctypes.c_int, ctypes.c_uint32)
    lib.seccomp_attr_set.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = (
        ctx,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    )
    lib.seccomp_rule_add_array.restype = ctypes.c_int
    lib.seccomp_export_bpf.argtypes = (ctx, ctypes.c_int)
    lib.seccomp_export_bpf.restype = ctypes.c_int
    return lib


def _check(rc: int, what: str) -> None:
    """libseccomp returns 0 or a negative errno value."""
    if rc < 0:
        raise PolicyError(f"libseccomp: {what} failed: {os.strerror(-rc)}")


def _resolve(arch: str, name: str) -> int:
    nr = syscalls.number(arch, name)
    if nr is None or nr < 0:
        raise PolicyError(f"unknown system call {name!r}: {arch} has no system call of that name")
    return nr


def _arg_cmps(name: str, conj: Sequence[Cond]) -> ctypes.Array[_ArgCmp]:
    cmps = (_ArgCmp * max(len(conj), 1))()
    for i, cond in enumerate(conj):
        try:
            arg, op, value, mask = cond
        except (TypeError, ValueError):
            raise PolicyError(f"{name}: condition {cond!r} is not (arg, op, value, mask)") from None
        if not isinstance(arg, int) or not 0 <= arg <= 5:
            raise PolicyError(f"{name}: argument index {arg!r} is not 0..5")
        if op not in OPS:
            raise PolicyError(f"{name}: unknown comparison {op!r} (known: {', '.join(OPS)})")
        for what, v in (("value", value), ("mask", mask)):
            if not isinstance(v, int) or not -(1 << 63) <= v <= _U64:
                raise PolicyError(f"{name}: arg{arg} {what} {v!r} is not a 64-bit integer")
        value &= _U64
        mask &= _U64
        if op == "masked_eq":
            if value & ~mask:
                raise PolicyError(
                    f"{name}: arg{arg} masked_eq value {value:#x} has bits outside "
                    f"its mask {mask:#x}, so it can never match"
                )
            cmps[i] = _ArgCmp(arg, OPS[op], mask, value)  # datum_a = mask, datum_b = value
        else:
            cmps[i] = _ArgCmp(arg, OPS[op], value, 0)
    return cmps


def _export(lib: ctypes.CDLL, ctx: int) -> bytes:
    fd = os.memfd_create("sysphase-bpf", os.MFD_CLOEXEC)
    try:
        _check(lib.seccomp_export_bpf(ctx, fd), "seccomp_export_bpf")
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def _allow_rules(
    allow: Mapping[str, Sequence[Sequence[Cond]]], arch: str, probe_errno: int | None
) -> tuple[list[tuple[int, str, tuple[Cond, ...]]], list[tuple[int, str, tuple[Cond, ...], int]]]:
    """The ALLOW rules of an allow-list, and the probe rule (its own action) if asked for."""
    rules: list[tuple[int, str, tuple[Cond, ...]]] = []
    for name, alts in allow.items():
        nr = _resolve(arch, name)
        conjs = [tuple(c) for c in alts]
        if not conjs or any(not c for c in conjs):
            conjs = [()]  # unconditional wins over any condition
        if probe_errno is not None and name == "prctl" and conjs == [()]:
            # libseccomp drops a conditional rule beside an unconditional one of another action
            conjs = [((0, "ne", PROBE_OPTION, 0),)]
        rules.extend((nr, name, conj) for conj in conjs)
    extra: list[tuple[int, str, tuple[Cond, ...], int]] = []
    if probe_errno is not None:
        probe: Cond = (0, "eq", PROBE_OPTION, 0)
        extra.append((_resolve(arch, "prctl"), "prctl", (probe,), _scmp_act_errno(probe_errno)))
    return rules, extra


def compile_filter(
    allow: Mapping[str, Sequence[Sequence[Cond]]],
    default_action: str,
    *,
    arch: str = "x86_64",
    phase: str | None = None,
    probe_errno: int | None = None,
) -> bytes:
    """The raw BPF program (8-byte ``struct sock_filter`` each) for an allow-list.

    ``allow`` maps a syscall name to its alternatives: an empty sequence
    allows the call unconditionally; otherwise each alternative is a
    conjunction of :data:`Cond` (an empty conjunction also allows it
    unconditionally). ``default_action`` is ``kill`` (kill the process),
    ``errno`` (fail with EPERM), ``trap`` (SIGSYS) or ``log`` (allow and log).
    Calls of another ABI (i386, x32) get the bad-arch action (see the module
    docstring). ``phase`` only names the filter in error messages.
    ``probe_errno`` adds one rule: ``prctl(PROBE_OPTION, ...)`` fails with that
    errno, so a program (the patch guard) can ask the kernel which of its
    filters is the newest: among stacked filters the newest ERRNO answer wins.

    PolicyError: unknown name, architecture or action, a malformed
    condition, a libseccomp failure, or a program over the kernel's 4096
    instructions.
    """
    what = f"phase {phase!r}" if phase is not None else "the filter"
    token = ARCH_TOKENS.get(arch)
    if token is None:
        raise PolicyError(f"cannot compile {what} for {arch!r}: only x86_64 is supported")
    actions = DEFAULT_ACTIONS.get(default_action)
    if actions is None:
        raise PolicyError(
            f"unknown default action {default_action!r} (known: {', '.join(DEFAULT_ACTIONS)})"
        )
    rules, extra = _allow_rules(allow, arch, probe_errno)
    default, badarch = actions
    bpf = _build(
        token,
        arch,
        (default, badarch, _SCMP_ACT_ALLOW),
        rules,
        # libseccomp probes the running kernel for the action (KILL_PROCESS, LOG)
        f"libseccomp: seccomp_init({default_action}) failed: libseccomp or the running "
        f"kernel does not support the {default_action!r} action",
        extra=extra,
    )
    count = len(bpf) // 8
    if count > bpf_sim.BPF_MAXINSNS:
        raise PolicyError(
            f"{what} compiles to {count} instructions, over the kernel's {bpf_sim.BPF_MAXINSNS}"
        )
    return bpf


def _build(
    token: int,
    arch: str,
    actions: tuple[int, int, int],
    rules: Sequence[tuple[int, str, tuple[Cond, ...]]],
    init_error: str,
    optimize: bool = False,
    extra: Sequence[tuple[int, str, tuple[Cond, ...], int]] = (),
) -> bytes:
    """libseccomp's BPF for ARCH only: (default, bad-arch, rule) actions, one rule per entry.

    ``optimize`` asks for a binary tree of syscall numbers (libseccomp >= 2.5;
    older ones ignore it and stay linear). ``extra`` rules carry their own action.
    """
    default, badarch, action = actions
    lib = load_library()
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise PolicyError(init_error)
    try:
        native = lib.seccomp_arch_native()
        if native != token:
            _check(lib.seccomp_arch_add(ctx, token), f"seccomp_arch_add({arch})")
            _check(lib.seccomp_arch_remove(ctx, native), "seccomp_arch_remove(native)")
        _check(
            lib.seccomp_attr_set(ctx, _SCMP_FLTATR_ACT_BADARCH, badarch),
            "seccomp_attr_set(SCMP_FLTATR_ACT_BADARCH)",
        )
        if optimize:
            lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_OPTIMIZE, 2)
        for nr, name, conj, act in [(*r, action) for r in rules] + list(extra):
            rc = lib.seccomp_rule_add_array(ctx, act, nr, len(conj), _arg_cmps(name, conj))
            _check(rc, f"seccomp_rule_add({name}, {len(conj)} conditions)")
        return _export(lib, ctx)
    finally:
        lib.seccomp_release(ctx)


def recording_filter(
    *,
    allow: Mapping[str, Sequence[Sequence[Cond]]] | None = None,
    trace: Iterable[str] | None = None,
    arch: str = "x86_64",
) -> bytes:
    """A filter for recording: which calls stop at the tracer (TRACE), which run (ALLOW).

    With ``trace`` given: TRACE those names and ALLOW every other call (filtered
    tracing); otherwise TRACE everything except ``allow`` (a known set, with
    alternatives of argument conditions as in :func:`compile_filter`; nothing
    allowed: every call stops, as set-only recording wants). Every call of
    another ABI (i386, x32) stops either way. An allowed ``write`` is allowed
    only for fds 0..65535, so that SYSPHASE_MARK (fd -21328) always stops.
    Names unknown to ``arch`` are skipped (they can only be foreign-ABI names).
    """
    token = ARCH_TOKENS.get(arch)
    if token is None:
        raise PolicyError(f"cannot compile a recording filter for {arch!r}")
    alts: dict[str, list[tuple[Cond, ...]]]
    if trace is not None:
        default, action = _SCMP_ACT_ALLOW, _SCMP_ACT_TRACE
        alts = {name: [()] for name in trace}
    else:
        default, action = _SCMP_ACT_TRACE, _SCMP_ACT_ALLOW
        alts = {name: [tuple(c) for c in a] or [()] for name, a in (allow or {}).items()}
        if "write" in alts:  # never the marker's fd
            low_fd: Cond = (0, "masked_eq", 0, _U64 & ~0xFFFF)
            alts["write"] = [(*c, low_fd) for c in alts["write"]]
    rules: list[tuple[int, str, tuple[Cond, ...]]] = []
    for name in sorted(alts):
        nr = syscalls.number(arch, name)
        if nr is None or nr < 0:
            continue
        conjs = alts[name]
        if any(not c for c in conjs):
            conjs = [()]  # unconditional wins over any condition
        rules.extend((nr, name, conj) for conj in conjs)
    bpf = _build(
        token,
        arch,
        (default, _SCMP_ACT_TRACE, action),
        rules,
        "libseccomp: seccomp_init(TRACE) failed for a recording filter",
        optimize=True,
    )
    count = len(bpf) // bpf_sim.INSN.size
    if count > bpf_sim.BPF_MAXINSNS:
        raise PolicyError(f"a recording filter compiles to {count} instructions")
    return bpf


@cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    ulong = ctypes.c_ulong
    libc.prctl.argtypes = (ctypes.c_int, ulong, ulong, ulong, ulong)  # unused ones must be 0
    libc.prctl.restype = ctypes.c_int
    libc.syscall.restype = ctypes.c_long
    return libc


def install(bpf: bytes, *, tsync: bool = False) -> None:
    """Set no_new_privs and load ``bpf`` as a seccomp filter of the calling thread.

    With ``tsync`` every thread of the process gets it (SECCOMP_FILTER_FLAG_TSYNC).
    Irreversible: call it in the process that is to be sandboxed (tests: a
    forked child). PolicyError if the kernel refuses.
    """
    try:
        count = len(bpf_sim.instructions(bpf))
    except ValueError as err:
        raise PolicyError(f"cannot install the filter: {err}") from err
    arch = platform.machine()
    nr = syscalls.number(arch, "seccomp") if arch in syscalls.ARCHES else None
    if nr is None:
        raise PolicyError(f"cannot install a seccomp filter on {arch!r}")
    libc = _libc()
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise PolicyError(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}")
    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _SockFprog(count, ctypes.cast(buf, ctypes.c_void_p))
    flags = _SECCOMP_FILTER_FLAG_TSYNC if tsync else 0
    rc = libc.syscall(
        ctypes.c_long(nr),
        ctypes.c_long(_SECCOMP_SET_MODE_FILTER),
        ctypes.c_long(flags),
        ctypes.byref(prog),
    )
    if rc < 0:
        reason = os.strerror(ctypes.get_errno())
        raise PolicyError(f"seccomp(SECCOMP_SET_MODE_FILTER) failed: {reason}")
    if rc > 0:  # TSYNC: the thread that could not be synchronised
        raise PolicyError(f"seccomp(SECCOMP_FILTER_FLAG_TSYNC) failed: thread {rc} cannot sync")


def disassemble(bpf: bytes) -> str:
    """A readable listing of a filter (see :func:`sysphase.policy.bpf_sim.disassemble`).

    libseccomp's own ``scmp_bpf_disasm`` is not shipped by Debian's
    ``seccomp`` package, so the pure disassembler is used.
    """
    return bpf_sim.disassemble(bpf)
