"""`sysphase patch`: write a copy of a binary that installs its own seccomp filters.

The copy gets one more needed library, the *guard*, a small shared library
built from ``sysphase/guard/guard.c`` and a C file generated from the
policy (:mod:`sysphase.policy.guard_source`: the program's phases as
compiled filters, ``struct sock_filter`` arrays from libseccomp, so nothing
but libc is needed at run time, their Landlock rulesets, and the libc
functions whose first call starts a later phase). The guard's constructor
applies the first phase's ruleset and installs its filter before ``main``;
see guard.c, guard_landlock.c and docs/patch.md. A phase's filter also
allows the calls a later phase's Landlock switch makes under it
(:func:`sysphase.policy.guard_landlock.switch_calls`). The copy names the
guard ``$ORIGIN/<copy>.sysphase-guard.so``: the dynamic loader loads it from
the copy's own directory, by path (no library search, no RPATH change,
LD_LIBRARY_PATH cannot replace it).

This module is the OS side: it reads the policy and the binary (ELF headers
through :mod:`sysphase.model.elf`), compiles each phase with libseccomp,
builds the guard with gcc and adds it to a copy with patchelf (both through
:mod:`sysphase._host.toolchain`), and writes files.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sysphase import __version__
from sysphase._host import files, seccomp, toolchain
from sysphase.errors import PatchError, UsageError
from sysphase.model import elf
from sysphase.policy import guard_landlock
from sysphase.policy.bpf_sim import INSN
from sysphase.policy.guard_source import (
    GUARD_SUFFIX,
    PROBE_ERRNO,
    guard_entries,
    guard_source,
    phase_hooks,
    read_guard_info,
)
from sysphase.policy.ir import Policy, PolicyPhase, ProgramPolicy

__all__ = [
    "GCC_FLAGS",
    "GUARD_DIR",
    "GUARD_SOURCES",
    "GUARD_SUFFIX",
    "CheckResult",
    "PatchResult",
    "build_guard",
    "check",
    "patch",
    "read_elf",
    "resolve_binary",
]

#: The guard's C sources (package data).
GUARD_DIR: Final = Path(__file__).resolve().parent.parent / "guard"
#: The files of GUARD_DIR compiled with the generated one.
GUARD_SOURCES: Final = ("guard.c", "guard_landlock.c", "guard_ruleset.c")

GCC_FLAGS: Final = (
    "-std=gnu11",
    "-shared",
    "-fPIC",
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-fvisibility=hidden",
    "-Wl,-z,now",
    "-Wl,-z,relro",
)

#: gcc builds the guard: "patch needs gcc to build the guard library (apt-get install gcc)".
_GUARD_BUILD: Final = toolchain.Build("patch", "build the guard library", PatchError)


def _patchelf_step(binary: str) -> toolchain.Build:
    return toolchain.Build("patch", f"add the guard to a copy of {binary}", PatchError)


# --- inputs ---------------------------------------------------------------------------------


def read_elf(data: bytes, name: str) -> elf.ElfImage:
    """The ELF headers of ``data``; UsageError naming ``name`` if it is no ELF file or damaged."""
    try:
        return elf.read_image(data)
    except elf.ElfError as err:
        raise UsageError(f"{name} is {err}") from None


def _read_policy(path: str) -> tuple[Policy, str]:
    policy, raw = files.read_policy(path)
    return policy, hashlib.sha256(raw).hexdigest()


def _read_binary(path: str) -> bytes:
    """A program's bytes: a regular file of at most files.BINARY_LIMIT (else one sentence)."""
    return files.read_bytes_bounded(path, files.BINARY_LIMIT, "a program")


def resolve_binary(binary: str) -> str:
    """BINARY as patch reads it: a name without a slash that is no file is looked up in PATH."""
    if "/" not in binary and not os.path.exists(binary):
        found = shutil.which(binary)
        if found:
            return found
    return binary


def _check_elf(image: elf.ElfImage, binary: str, policy_path: str) -> None:
    if image.machine != "x86_64":
        raise UsageError(
            f"{binary} is a program for {image.machine}; patch writes x86_64 filters "
            "for x86_64 programs"
        )
    if not image.is_program:
        raise UsageError(f"{binary} is an ELF file but not a program")
    if image.interpreter is None:
        raise UsageError(
            f"{binary} is statically linked (no program interpreter): static binaries cannot "
            f"load a guard library; use sysphase run --policy {policy_path} -- {binary}"
        )
    guards = guard_entries(image.needed)
    if guards:
        raise UsageError(
            f"{binary} is already patched by sysphase (guard {guards[0]}); "
            "patch the original program"
        )


def _out_path(binary: str, out: str) -> str:
    if out == "-":
        raise UsageError("-o -: the patched copy must be a file")
    if os.path.isdir(out):
        out = os.path.join(out, os.path.basename(binary))
    if "$" in os.path.basename(out):
        raise UsageError(f"-o {out}: the file name may not contain '$' (the loader expands it)")
    if not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        raise UsageError(f"-o {out}: no such directory {os.path.dirname(os.path.abspath(out))}")
    for target in (out, out + GUARD_SUFFIX):
        if os.path.realpath(target) == os.path.realpath(binary):
            raise UsageError(
                f"-o {out} would overwrite {binary}: patch writes a copy and never modifies "
                "the original"
            )
    return out


# --- building and patching ------------------------------------------------------------------


def build_guard(source: str, output: str, gcc: str, soname: str) -> None:
    """Compile the generated source with guard.c into the shared library ``output``."""
    with tempfile.TemporaryDirectory(prefix="sysphase-guard-") as tmp:
        policy_c = os.path.join(tmp, "policy.c")
        with open(policy_c, "w", encoding="utf-8") as f:
            f.write(source)
        _GUARD_BUILD.run(
            [
                gcc,
                *GCC_FLAGS,
                f"-Wl,-soname,{soname}",
                f"-I{GUARD_DIR}",
                "-o",
                output,
                *(str(GUARD_DIR / c) for c in GUARD_SOURCES),
                policy_c,
            ]
        )


def _tmp_in(directory: str, prefix: str) -> str:
    try:
        fd, path = tempfile.mkstemp(prefix=prefix, dir=directory)
    except OSError as err:
        raise UsageError(f"cannot write in {directory}: {err.strerror}") from err
    os.close(fd)
    return path


def _add_needed(patchelf: str, path: str, needed: str, binary: str, *, first: bool) -> None:
    """patchelf --add-needed; with ``first``, check the guard comes before libc (interposing)."""
    _patchelf_step(binary).run([patchelf, "--add-needed", needed, path], detail_lines=2)
    with open(path, "rb") as f:
        patched = read_elf(f.read(), path)
    if needed not in patched.needed or (first and patched.needed[0] != needed):
        raise PatchError(
            f"patchelf did not make {needed} the first needed library of the copy of {binary} "
            f"(needed: {', '.join(patched.needed)}), so the guard could not interpose libc"
        )


@dataclass(frozen=True, slots=True)
class _Job:
    """One patch, decided: what to write where, and the tools to write it with."""

    data: bytes
    binary: str
    out: str
    guard: str
    source: str
    first: bool
    gcc: str
    patchelf: str


def _write(job: _Job) -> None:
    """Build the guard and the patched copy beside OUT, then rename both into place."""
    directory = os.path.dirname(os.path.abspath(job.out))
    needed = f"$ORIGIN/{os.path.basename(job.guard)}"
    made: list[str] = []
    try:
        made.append(_tmp_in(directory, ".sysphase-guard-"))
        made.append(_tmp_in(directory, ".sysphase-patch-"))
        tmp_guard, tmp_out = made
        build_guard(job.source, tmp_guard, job.gcc, os.path.basename(job.guard))
        os.chmod(tmp_guard, 0o644)
        with open(tmp_out, "wb") as w:
            w.write(job.data)
        # the copy keeps the permission bits, never set-user-ID or set-group-ID
        os.chmod(tmp_out, os.stat(job.binary).st_mode & 0o777)
        _add_needed(job.patchelf, tmp_out, needed, job.binary, first=job.first)
        os.replace(tmp_guard, job.guard)
        os.replace(tmp_out, job.out)
    finally:
        for tmp in made:
            if os.path.exists(tmp):
                os.unlink(tmp)


# --- patch ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatchResult:
    """What :func:`patch` wrote, and a note for the user (or None)."""

    out: str
    guard: str
    program: ProgramPolicy
    policy_sha256: str
    note: str | None = None


def _program(
    policy: Policy, policy_path: str, binary: str, data: bytes
) -> tuple[ProgramPolicy, str | None]:
    """The policy's program for BINARY (by real path, or build-id for a copy), else the root's."""
    real = os.path.realpath(binary)
    program = policy.program(real, elf.build_id(data) or "")
    if program is not None:
        return program, None
    root = policy.root_program
    return root, f"{policy_path} has no program {real}; using its root program {root.executable}"


def _filters(policy: Policy, program: ProgramPolicy) -> list[bytes]:
    """Each phase compiled by libseccomp, with the guard's probe rule (errno 3000 + index) and
    the calls its Landlock switches make (guard_landlock.switch_calls)."""
    out = []
    added = guard_landlock.switch_calls(program)
    for index, phase in enumerate(program.phases):
        allow = phase.allow_list()
        for call in added[index]:
            allow.setdefault(call, ())
        out.append(
            seccomp.compile_filter(
                allow,
                policy.default_action,
                arch=policy.arch,
                phase=phase.name,
                probe_errno=PROBE_ERRNO + index,
            )
        )
    return out


def _phase_info(phase: PolicyPhase, bpf: bytes, added: Sequence[str]) -> dict[str, object]:
    """One phase in the info string: its filter's size, its ruleset, the calls patch added."""
    out: dict[str, object] = {
        "name": phase.name,
        "trigger": phase.trigger,
        "instructions": len(bpf) // INSN.size,
    }
    if phase.landlock is not None:
        out["landlock"] = guard_landlock.info(phase.landlock)
    if added:
        out["added"] = list(added)
    return out


def _info(
    policy: Policy,
    paths: tuple[str, str],
    digest: str,
    program: ProgramPolicy,
    filters: Sequence[bytes],
    data: bytes,
) -> dict[str, object]:
    """The info string compiled into the guard (``patch --check`` reads it back)."""
    policy_path, binary = paths
    return {
        "policy": os.path.abspath(policy_path),
        "sha256": digest,
        "program": program.executable,
        "phases": [
            _phase_info(p, f, added)
            for p, f, added in zip(
                program.phases, filters, guard_landlock.switch_calls(program), strict=True
            )
        ],
        "binary": os.path.abspath(binary),
        "binary_sha256": hashlib.sha256(data).hexdigest(),
        "default_action": policy.default_action,
        "sysphase": __version__,
    }


def _check_arch(policy: Policy, policy_path: str) -> None:
    if policy.arch != "x86_64" or platform.machine() != "x86_64":
        raise UsageError(
            f"{policy_path} is a policy for {policy.arch} on a {platform.machine()} machine; "
            "patch supports x86_64 policies on x86_64"
        )


def patch(policy_path: str, binary: str, out: str) -> PatchResult:
    """Write OUT, a copy of BINARY, and its guard ``OUT.sysphase-guard.so``.

    BINARY is never written. UsageError for bad input (no such file, not
    an ELF program, statically linked, another machine, a trigger the guard
    cannot follow); PolicyInvalid for a bad policy; PolicyError when a
    phase does not compile; PatchError when gcc or patchelf is missing or fails.
    """
    policy, digest = _read_policy(policy_path)
    _check_arch(policy, policy_path)
    binary = resolve_binary(binary)
    data = _read_binary(binary)
    _check_elf(read_elf(data, binary), binary, policy_path)
    out = _out_path(binary, out)
    program, note = _program(policy, policy_path, binary, data)
    hooks = phase_hooks(program, binary, policy_path)
    filters = _filters(policy, program)
    gcc = _GUARD_BUILD.tool("gcc")
    patchelf = _patchelf_step(binary).tool("patchelf")
    info = _info(policy, (policy_path, binary), digest, program, filters, data)
    source = guard_source(program, filters, hooks, info)
    guard = out + GUARD_SUFFIX
    _write(_Job(data, binary, out, guard, source, bool(hooks), gcc, patchelf))
    return PatchResult(out, guard, program, digest, note)


# --- checking -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What ``patch --check`` found: the guard's path (if patched) and its info (if readable)."""

    path: str
    guard: str | None
    guard_exists: bool = False
    info: Mapping[str, object] | None = None


def check(path: str) -> CheckResult:
    """Whether PATH is patched by sysphase, with which guard and policy (reads, never runs)."""
    guards: Sequence[str] = guard_entries(read_elf(_read_binary(path), path).needed)
    if not guards:
        return CheckResult(path, None)
    origin = os.path.dirname(os.path.realpath(path))
    guard = guards[0].replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
    try:
        data = files.read_bytes_bounded(guard, files.BINARY_LIMIT, "a guard library")
    except UsageError:
        return CheckResult(path, guard)
    return CheckResult(path, guard, True, read_guard_info(data))
