"""Landlock rulesets in the kernel: the ABI it offers, and a ruleset built from a phase's rules.

The OS side of ``run``'s Landlock enforcement (ctypes, like
``_host/seccomp.py``): :func:`abi` asks the kernel which Landlock ABI it has
(0: none); :func:`build` creates a ruleset in this process from a
:class:`Ruleset` (rights handled, path-beneath rules, TCP ports, scopes)
and returns its descriptor (close-on-exec), which the C core passes to the
program (docs/landlock.md). :func:`rulesets` does it for a policy's
sections: rights the kernel's ABI does not know are left out of what is
handled and of every rule (sysphase.policy.landlock_section.degrade), a
rule whose path does not exist is left out, and each is said in one line.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from sysphase.errors import PolicyError
from sysphase.model.landlock_rights import FS_BIT, NET_BIT, SCOPE_BIT
from sysphase.policy.ir import LandlockSection
from sysphase.policy.landlock_section import degrade

__all__ = ["FILE_RIGHTS", "Ruleset", "abi", "build", "program_fds", "ruleset_of", "rulesets"]

_SYS_CREATE, _SYS_ADD_RULE = 444, 445
_CREATE_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
#: rights a rule on a file (not a directory) may carry
FILE_RIGHTS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)
#: the filesystem rights each ABI knows (1: 13 rights; 2: refer; 3: truncate; 5: ioctl_dev)
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


@dataclass(frozen=True, slots=True)
class Ruleset:
    """One phase's Landlock ruleset, as bits (the kernel's LANDLOCK_* values)."""

    handled_fs: int
    handled_net: int = 0
    scoped: int = 0
    #: (path, allowed filesystem rights) path-beneath rules
    rules: tuple[tuple[str, int], ...] = ()
    bind_tcp: tuple[int, ...] = ()
    connect_tcp: tuple[int, ...] = ()


def abi() -> int:
    """The kernel's Landlock ABI version, 0 if it has none (or it is disabled)."""
    v = _libc.syscall(_SYS_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_VERSION))
    return int(v) if v > 0 else 0


def _sys(nr: int, *args: object) -> int:
    r = int(_libc.syscall(nr, *args))
    if r < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return r


def _attr(ruleset: Ruleset, version: int) -> bytes:
    raw = struct.pack("=QQQ", ruleset.handled_fs, ruleset.handled_net, ruleset.scoped)
    return raw[: 8 if version < 4 else 16 if version < 6 else 24]


def _add_path(fd: int, path: str, rights: int, skipped: list[str]) -> None:
    try:
        target = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        skipped.append(f"{path} (no such file)")
        return
    try:
        if not os.path.isdir(f"/proc/self/fd/{target}"):
            rights &= FILE_RIGHTS  # a rule on a file carries file rights only
        if rights:
            attr = ctypes.create_string_buffer(struct.pack("=Qi", rights, target), 12)
            _sys(_SYS_ADD_RULE, ctypes.c_int(fd), ctypes.c_int(_RULE_PATH_BENEATH), attr, 0)
    finally:
        os.close(target)


def build(ruleset: Ruleset, version: int) -> tuple[int, list[str]]:
    """Create RULESET (already degraded to ``version``) in this process: its descriptor
    (close-on-exec), and the rules left out (a path that does not exist)."""
    skipped: list[str] = []
    attr = _attr(ruleset, version)
    buf = ctypes.create_string_buffer(attr, len(attr))
    try:
        fd = _sys(_SYS_CREATE, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    except OSError as err:
        raise PolicyError(f"Landlock refused the ruleset: {err.strerror}") from err
    try:
        for path, rights in ruleset.rules:
            _add_path(fd, path, rights, skipped)
        for bit, ports in ((1, ruleset.bind_tcp), (2, ruleset.connect_tcp)):
            for port in ports:
                attr_p = ctypes.create_string_buffer(struct.pack("=QQ", bit, port), 16)
                _sys(_SYS_ADD_RULE, ctypes.c_int(fd), ctypes.c_int(_RULE_NET_PORT), attr_p, 0)
    except OSError as err:
        os.close(fd)
        what = "a rule" if err.errno != errno.EINVAL else "a rule with rights it does not handle"
        raise PolicyError(f"Landlock refused {what}: {err.strerror}") from err
    return fd, skipped


def program_fds(count: int) -> Sequence[int]:
    """Descriptor numbers for COUNT later phases' rulesets in the program: the highest below
    both its descriptor limit and 1024 (a program seldom uses them; ``run`` checks each is
    still the ruleset before it is used)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    top = min(soft if soft != resource.RLIM_INFINITY else 1024, 1024)
    if count >= top - 16:
        raise PolicyError(f"no room for {count} Landlock rulesets below descriptor {top}")
    return [top - 1 - i for i in range(count)]


def ruleset_of(section: LandlockSection) -> Ruleset:
    """A policy section as the kernel's bits."""

    def bits(names: Sequence[str], table: dict[str, int]) -> int:
        return sum(table[n] for n in set(names))

    return Ruleset(
        bits(section.handled_fs, FS_BIT),
        bits(section.handled_net, NET_BIT),
        bits(section.scoped, SCOPE_BIT),
        tuple((r.path, bits(r.rights, FS_BIT)) for r in section.rules),
        section.bind_tcp,
        section.connect_tcp,
    )


def rulesets(
    first: tuple[str, LandlockSection | None], later: dict[str, LandlockSection]
) -> tuple[int, dict[str, int], list[str]]:
    """Our descriptors of the first phase's ruleset (-1: none) and of later phases' (by
    label), built for this kernel, and one line for each thing left out."""
    version = abi()
    if version == 0:
        return -1, {}, ["this kernel has no Landlock: the policy's Landlock rules are not applied"]
    notes: list[str] = []

    def one(name: str, section: LandlockSection) -> int:
        fitted, left = degrade(section, version)
        if not left.empty:
            notes.append(f"phase {name}: {left.describe()}")
        fd, skipped = build(ruleset_of(fitted), version)
        notes.extend(f"phase {name}: Landlock rule left out: {s}" for s in skipped)
        return fd

    first_fd = one(first[0], first[1]) if first[1] is not None else -1
    return first_fd, {n: one(n, s) for n, s in later.items()}, notes
