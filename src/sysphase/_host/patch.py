"""`sysphase patch`: write a copy of a binary that installs its own seccomp filters.

The copy gets one more needed library, the *guard*, a small shared library
built from ``sysphase/guard/guard.c`` and a C file generated here that holds
the program's phases as compiled filters (``struct sock_filter`` arrays from
libseccomp, so nothing but libc is needed at run time) and the libc
functions whose first call starts a later phase. The guard's constructor
installs the first phase's filter before ``main``; see guard.c and
docs/patch.md. The copy names the guard ``$ORIGIN/<copy>.sysphase-guard.so``:
the dynamic loader loads it from the copy's own directory, by path (no
library search, no RPATH change, LD_LIBRARY_PATH cannot replace it).

Pure helpers (bytes or data in, data out, no I/O): :func:`read_elf`,
:func:`guard_source`, :func:`phase_hooks`, :func:`read_guard_info`. The rest
runs gcc and patchelf and writes files.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sysphase import __version__
from sysphase._host import files, seccomp
from sysphase.errors import PatchError, UsageError
from sysphase.model import elf
from sysphase.policy.formats._c_common import INSN, c_comment, c_string
from sysphase.policy.ir import Policy, ProgramPolicy

__all__ = [
    "GUARD_DIR",
    "GUARD_SUFFIX",
    "INFO_MAGIC",
    "INTERPOSABLE",
    "MAX_PHASES",
    "PROBE_ERRNO",
    "CheckResult",
    "ElfImage",
    "LibcFunction",
    "PatchError",
    "PatchResult",
    "build_guard",
    "check",
    "guard_source",
    "patch",
    "phase_hooks",
    "read_elf",
    "read_guard_info",
    "resolve_binary",
]


#: The guard's C sources (package data).
GUARD_DIR: Final = Path(__file__).resolve().parent.parent / "guard"
#: The guard of OUT is OUT's file name plus this, in OUT's directory.
GUARD_SUFFIX: Final = ".sysphase-guard.so"
#: The start of the info string compiled into every guard (JSON follows, then a NUL).
INFO_MAGIC: Final = b"sysphase-guard/1 "
#: How many phases a guard can hold (a phase set is a 64-bit mask in guard.c).
MAX_PHASES: Final = 64
#: Phase k's filter answers the probe prctl (seccomp.PROBE_OPTION) with errno PROBE_ERRNO + k
#: (SYSPHASE_GUARD_PROBE_ERRNO in guard.h): the guard's check that an install took effect.
PROBE_ERRNO: Final = 3000

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

# Environment variables that change what gcc builds (as in tests/fixtures/build.py).
_SCRUBBED_ENV: Final = (
    "CFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "CPATH",
    "C_INCLUDE_PATH",
    "LIBRARY_PATH",
    "GCC_EXEC_PREFIX",
    "COMPILER_PATH",
)

_TOOLS: Final = {"gcc": "gcc", "patchelf": "patchelf"}


# --- the functions the guard can interpose --------------------------------------------------


@dataclass(frozen=True, slots=True)
class LibcFunction:
    """A glibc function, given as its C prototype, that always makes one system call.

    ``params`` is the parameter list as glibc's header declares it (with
    glibc's own argument types such as ``__SOCKADDR_ARG``, so the definition
    the guard writes is compatible with the declaration: gcc checks it).
    """

    name: str
    ret: str
    params: str
    header: str

    @property
    def args(self) -> str:
        """The parameter names, comma-separated, to pass the call on."""
        if self.params == "void":
            return ""
        return ", ".join(
            re.findall(r"\w+", re.sub(r"\[.*?\]", "", p))[-1] for p in self.params.split(",")
        )


def _table(rows: str) -> dict[str, tuple[LibcFunction, ...]]:
    """Parse :data:`INTERPOSABLE`'s table: ``<header>`` lines, then ``[SYSCALL:] PROTOTYPE``."""
    out: dict[str, list[LibcFunction]] = {}
    header = ""
    for line in rows.strip().splitlines():
        if line.startswith("<"):
            header = line.strip("<>")
            continue
        m = re.fullmatch(r"(?:(\w+): )?(.+?)\b(\w+)\((.*)\)", line.strip())
        if m is None:
            raise ValueError(f"bad prototype line {line!r}")
        syscall, ret, name, params = m.groups()
        fn = LibcFunction(name, ret.strip(), params, header)
        out.setdefault(syscall or name, []).append(fn)
    return {k: tuple(v) for k, v in out.items()}


#: system call -> the glibc functions that make it, and nothing else first: each always
#: makes that call (no answer from user space, no other call before it) on x86_64 glibc
#: 2.36, which tests/e2e/test_patch.py checks with strace. A trigger ``syscall:NAME``
#: can be followed by the guard when NAME is here. (The table: a ``<header>`` line, then
#: one prototype per line, preceded by the system call's name where it differs.
#: Parameters are declared as glibc does, less ``restrict``, which compatibility ignores.)
INTERPOSABLE: Final[Mapping[str, tuple[LibcFunction, ...]]] = _table(
    """
<sys/socket.h>
int accept(int fd, __SOCKADDR_ARG addr, socklen_t *len)
int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *len, int flags)
int bind(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
int listen(int fd, int backlog)
int socket(int domain, int type, int protocol)
int socketpair(int domain, int type, int protocol, int fds[2])
int shutdown(int fd, int how)
int setsockopt(int fd, int level, int name, const void *value, socklen_t len)
int getsockopt(int fd, int level, int name, void *value, socklen_t *len)
ssize_t sendto(int fd, const void *buf, size_t n, int flags, __CONST_SOCKADDR_ARG a, socklen_t len)
sendto: ssize_t send(int fd, const void *buf, size_t n, int flags)
ssize_t recvfrom(int fd, void *buf, size_t n, int flags, __SOCKADDR_ARG addr, socklen_t *len)
recvfrom: ssize_t recv(int fd, void *buf, size_t n, int flags)
ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
int sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags)
int recvmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags, struct timespec *timeout)
<sys/epoll.h>
int epoll_create1(int flags)
int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
int epoll_wait(int epfd, struct epoll_event *events, int n, int timeout)
int epoll_pwait(int epfd, struct epoll_event *events, int n, int timeout, const sigset_t *mask)
<poll.h>
int poll(struct pollfd *fds, nfds_t n, int timeout)
int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask)
<unistd.h>
ssize_t read(int fd, void *buf, size_t n)
ssize_t write(int fd, const void *buf, size_t n)
pread64: ssize_t pread(int fd, void *buf, size_t n, off_t offset)
ssize_t pread64(int fd, void *buf, size_t n, off64_t offset)
pwrite64: ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset)
ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t offset)
pipe2: int pipe(int fds[2])
int pipe2(int fds[2], int flags)
clock_nanosleep: int usleep(useconds_t usec)
clock_nanosleep: unsigned int sleep(unsigned int seconds)
int chdir(const char *path)
int fchdir(int fd)
int chroot(const char *path)
int setuid(uid_t uid)
int setgid(gid_t gid)
int setresuid(uid_t ruid, uid_t euid, uid_t suid)
int setresgid(gid_t rgid, gid_t egid, gid_t sgid)
<time.h>
clock_nanosleep: int nanosleep(const struct timespec *request, struct timespec *remaining)
<sys/uio.h>
ssize_t readv(int fd, const struct iovec *iov, int n)
ssize_t writev(int fd, const struct iovec *iov, int n)
<sys/eventfd.h>
eventfd2: int eventfd(unsigned int count, int flags)
<sys/signalfd.h>
signalfd4: int signalfd(int fd, const sigset_t *mask, int flags)
<sys/wait.h>
pid_t wait4(pid_t pid, int *status, int options, struct rusage *usage)
wait4: pid_t waitpid(pid_t pid, int *status, int options)
wait4: pid_t wait(int *status)
int waitid(idtype_t idtype, id_t id, siginfo_t *info, int options)
<signal.h>
int kill(pid_t pid, int sig)
rt_sigtimedwait: int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *ts)
rt_sigtimedwait: int sigwaitinfo(const sigset_t *set, siginfo_t *info)
<sys/random.h>
ssize_t getrandom(void *buf, size_t n, unsigned int flags)
<grp.h>
int setgroups(size_t n, const gid_t *groups)
<sched.h>
int unshare(int flags)
int setns(int fd, int type)
"""
)


# --- ELF ------------------------------------------------------------------------------------

_PT_DYNAMIC: Final = 2
_PT_INTERP: Final = 3
_PT_LOAD: Final = 1
_DT_NULL: Final = 0
_DT_NEEDED: Final = 1
_DT_STRTAB: Final = 5
_ET_EXEC: Final = 2
_ET_DYN: Final = 3
_MACHINES: Final = {
    3: "i386",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    22: "s390x",
    40: "arm",
    62: "x86_64",
    183: "aarch64",
    243: "riscv",
}


@dataclass(frozen=True, slots=True)
class ElfImage:
    """What patch needs to know of an ELF file."""

    machine: str
    elf_type: int
    interpreter: str | None
    needed: tuple[str, ...]

    @property
    def guards(self) -> tuple[str, ...]:
        """The needed entries that name a sysphase guard."""
        return tuple(n for n in self.needed if n.endswith(GUARD_SUFFIX))


def _cstr(data: bytes, offset: int) -> str:
    end = data.index(b"\0", offset)
    return data[offset:end].decode("utf-8", "surrogateescape")


def read_elf(data: bytes, name: str) -> ElfImage:
    """Machine, type, interpreter and needed libraries of an ELF file's bytes.

    UsageError (naming ``name``) when it is not an ELF file, or is damaged.
    Only 64-bit little-endian files are read past the machine field.
    """
    if data[:4] != b"\x7fELF" or len(data) < 64:
        raise UsageError(f"{name} is not an ELF file")
    try:
        (machine_nr,) = struct.unpack_from("<H" if data[5] == 1 else ">H", data, 18)
        machine = _MACHINES.get(machine_nr, f"machine {machine_nr}")
        if data[4] != 2 or data[5] != 1:
            bits = "32-bit" if data[4] == 1 else "64-bit"
            return ElfImage(f"{machine} ({bits})", 0, None, ())
        elf_type, _ = struct.unpack_from("<HH", data, 16)
        (phoff,) = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        headers = [
            struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize) for i in range(phnum)
        ]
        interp = None
        dynamic = None
        loads = []
        for p_type, _flags, offset, vaddr, _paddr, filesz, _memsz, _align in headers:
            if p_type == _PT_INTERP:
                interp = data[offset : offset + filesz].rstrip(b"\0").decode("utf-8", "replace")
            elif p_type == _PT_DYNAMIC:
                dynamic = (offset, filesz)
            elif p_type == _PT_LOAD:
                loads.append((vaddr, offset, filesz))
        needed: list[int] = []
        strtab = None
        if dynamic is not None:
            offset, size = dynamic
            for i in range(size // 16):
                tag, value = struct.unpack_from("<qQ", data, offset + 16 * i)
                if tag == _DT_NULL:
                    break
                if tag == _DT_NEEDED:
                    needed.append(value)
                elif tag == _DT_STRTAB:
                    strtab = value
        names: list[str] = []
        if needed:
            base = next(
                (off + strtab - va for va, off, sz in loads if strtab and va <= strtab < va + sz),
                None,
            )
            if base is None:
                raise ValueError("DT_STRTAB outside every PT_LOAD segment")
            names = [_cstr(data, base + n) for n in needed]
    except (struct.error, ValueError, IndexError) as err:
        raise UsageError(f"{name} is a damaged ELF file ({err})") from None
    return ElfImage(machine, elf_type, interp, tuple(names))


# --- the generated C file -------------------------------------------------------------------


def _trigger_error(program: ProgramPolicy, index: int, binary: str, policy_path: str) -> str:
    phase = program.phases[index]
    kind, _, value = phase.trigger.partition(":")
    if kind == "syscall":
        why = (
            f"no libc function it can interpose makes {value} (raw system calls and libc's "
            "internal calls never pass through it)"
        )
    elif kind in ("symbol", "addr"):
        why = "a function or address inside the program is out of a library's reach"
    elif kind == "signal":
        why = "it does not watch signal deliveries"
    elif kind == "marker":
        why = "it does not watch SYSPHASE_MARK calls"
    else:
        why = "it only follows syscall triggers reached through libc functions"
    return (
        f'phase "{phase.name}" of {program.executable} starts at {phase.trigger}, which the '
        f"guard cannot see: {why}; use sysphase run --policy {policy_path} -- {binary}"
    )


def phase_hooks(
    program: ProgramPolicy, binary: str = "BINARY", policy_path: str = "POLICY"
) -> dict[str, tuple[LibcFunction, int]]:
    """``{function name: (function, phase mask)}``: which call starts which later phases.

    UsageError naming the first trigger the guard cannot follow (anything but
    ``syscall:NAME`` with NAME in :data:`INTERPOSABLE`), or too many phases.
    """
    if len(program.phases) > MAX_PHASES:
        raise UsageError(
            f"{program.executable} has {len(program.phases)} phases; a guard holds at most "
            f"{MAX_PHASES}"
        )
    hooks: dict[str, tuple[LibcFunction, int]] = {}
    for i, phase in enumerate(program.phases[1:], start=1):
        kind, _, value = phase.trigger.partition(":")
        functions = INTERPOSABLE.get(value) if kind == "syscall" else None
        if not functions:
            raise UsageError(_trigger_error(program, i, binary, policy_path))
        for f in functions:
            _, mask = hooks.get(f.name, (f, 0))
            hooks[f.name] = (f, mask | (1 << i))
    return hooks


def _filter_lines(index: int, prog: bytes) -> list[str]:
    lines = [f"static const struct sock_filter filter_{index}[] = {{"]
    for code, jt, jf, k in INSN.iter_unpack(prog):
        lines.append(f"    {{0x{code:02x}, {jt}, {jf}, 0x{k:08x}}},")
    return [*lines, "};"]


def guard_source(
    program: ProgramPolicy,
    filters: Sequence[bytes],
    hooks: Mapping[str, tuple[LibcFunction, int]],
    info: Mapping[str, object],
) -> str:
    """The generated C file compiled with guard.c: filters, phases, info, interposers."""
    if len(filters) != len(program.phases):
        raise ValueError(f"{len(program.phases)} phases but {len(filters)} filters")
    headers = sorted({f.header for f, _ in hooks.values()})
    text = json.dumps(dict(info), sort_keys=True, separators=(",", ":"))
    lines = [
        "/* Generated by sysphase patch: the seccomp filters of one program, for guard.c.",
        f" * Program: {c_comment(program.executable)}",
        " * Do not edit: sysphase patch writes it again from the policy. */",
        "#define _GNU_SOURCE",
        '#include "guard.h"',
        "",
        "#include <stddef.h>",
        *(f"#include <{h}>" for h in headers),
    ]
    for i, (phase, prog) in enumerate(zip(program.phases, filters, strict=True)):
        count = len(prog) // INSN.size
        lines += [
            "",
            f"/* Phase {c_comment(phase.name)} (trigger: {c_comment(phase.trigger)}): "
            f"{len(phase.allowed)} allowed system calls, {count} instructions. */",
            *_filter_lines(i, prog),
        ]
    lines += ["", "const struct sysphase_guard_phase sysphase_guard_phases[] = {"]
    for i, (phase, prog) in enumerate(zip(program.phases, filters, strict=True)):
        count = len(prog) // INSN.size
        lines.append(
            f"    {{{c_string(phase.name)}, {c_string(phase.trigger)}, filter_{i}, {count}}},"
        )
    lines += [
        "};",
        f"const unsigned sysphase_guard_nphases = {len(program.phases)};",
        "",
        "__attribute__((used)) const char sysphase_guard_info[] =",
        f"    {c_string(INFO_MAGIC.decode() + text)};",
        "",
    ]
    for name in sorted(hooks):
        lines.append(f"static __typeof__({name}) *real_{name};")
    lines += ["", "const struct sysphase_guard_hook sysphase_guard_hooks[] = {"]
    for name in sorted(hooks):
        lines.append(f'    {{"{name}", (void **)&real_{name}}},')
    lines += ["    {NULL, NULL},", "};"]
    for name in sorted(hooks):
        f, mask = hooks[name]
        starts = ", ".join(
            f'"{c_comment(program.phases[k].name)}"'
            for k in range(len(program.phases))
            if mask >> k & 1
        )
        lines += [
            "",
            f"/* The first call starts phase {starts} (while the one before is in force). */",
            f"SYSPHASE_GUARD_EXPORT {f.ret} {name}({f.params})",
            "{",
            f"    sysphase_guard_enter({mask:#x}ULL);",
            f"    if (real_{name} == NULL)",
            f'        sysphase_guard_resolve("{name}", (void **)&real_{name});',
            f"    return real_{name}({f.args});",
            "}",
        ]
    return "\n".join(lines) + "\n"


def read_guard_info(data: bytes) -> dict[str, object] | None:
    """The info JSON compiled into a guard's bytes, or None if there is none."""
    start = data.find(INFO_MAGIC)
    if start < 0:
        return None
    end = data.find(b"\0", start)
    try:
        info = json.loads(data[start + len(INFO_MAGIC) : end if end >= 0 else None])
    except (ValueError, UnicodeDecodeError):
        return None
    return info if isinstance(info, dict) else None


# --- patching -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatchResult:
    """What :func:`patch` wrote, and a note for the user (or None)."""

    out: str
    guard: str
    program: ProgramPolicy
    policy_sha256: str
    note: str | None = None


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PatchError(
            f"{name} is needed to patch a binary and is not installed "
            f"(apt-get install {_TOOLS[name]})"
        )
    return path


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


def _check_elf(image: ElfImage, binary: str, policy_path: str) -> None:
    if image.machine != "x86_64":
        raise UsageError(
            f"{binary} is a program for {image.machine}; patch writes x86_64 filters "
            "for x86_64 programs"
        )
    if image.elf_type not in (_ET_EXEC, _ET_DYN):
        raise UsageError(f"{binary} is an ELF file but not a program")
    if image.interpreter is None:
        raise UsageError(
            f"{binary} is statically linked (no program interpreter): static binaries cannot "
            f"load a guard library; use sysphase run --policy {policy_path} -- {binary}"
        )
    if image.guards:
        raise UsageError(
            f"{binary} is already patched by sysphase (guard {image.guards[0]}); "
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


def _gcc_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["LC_ALL"] = "C"
    return env


def build_guard(source: str, output: str, gcc: str, soname: str) -> None:
    """Compile the generated source with guard.c into the shared library ``output``."""
    with tempfile.TemporaryDirectory(prefix="sysphase-guard-") as tmp:
        policy_c = os.path.join(tmp, "policy.c")
        with open(policy_c, "w", encoding="utf-8") as f:
            f.write(source)
        proc = subprocess.run(
            [
                gcc,
                *GCC_FLAGS,
                f"-Wl,-soname,{soname}",
                f"-I{GUARD_DIR}",
                "-o",
                output,
                str(GUARD_DIR / "guard.c"),
                policy_c,
            ],
            env=_gcc_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        detail = " ".join(proc.stderr.strip().splitlines()[:3])
        raise PatchError(f"gcc could not build the guard library: {detail}")


def _tmp_in(directory: str, prefix: str) -> str:
    try:
        fd, path = tempfile.mkstemp(prefix=prefix, dir=directory)
    except OSError as err:
        raise UsageError(f"cannot write in {directory}: {err.strerror}") from err
    os.close(fd)
    return path


def _add_needed(patchelf: str, path: str, needed: str, binary: str, *, first: bool) -> None:
    """patchelf --add-needed; with ``first``, check the guard comes before libc (interposing)."""
    proc = subprocess.run(
        [patchelf, "--add-needed", needed, path],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        detail = " ".join(proc.stderr.strip().splitlines()[:2]) or f"exit {proc.returncode}"
        raise PatchError(f"patchelf could not add the guard to a copy of {binary}: {detail}")
    with open(path, "rb") as f:
        patched = read_elf(f.read(), path)
    if needed not in patched.needed or (first and patched.needed[0] != needed):
        raise PatchError(
            f"patchelf did not make {needed} the first needed library of the copy of {binary} "
            f"(needed: {', '.join(patched.needed)}), so the guard could not interpose libc"
        )


def patch(policy_path: str, binary: str, out: str) -> PatchResult:
    """Write OUT, a copy of BINARY, and its guard ``OUT.sysphase-guard.so``.

    BINARY is never written. UsageError for bad input (no such file, not
    an ELF program, statically linked, another machine, a trigger the guard
    cannot follow); PolicyInvalid for a bad policy; PolicyError when a
    phase does not compile; PatchError when gcc or patchelf is missing or fails.
    """
    policy, digest = _read_policy(policy_path)
    if policy.arch != "x86_64" or platform.machine() != "x86_64":
        raise UsageError(
            f"{policy_path} is a policy for {policy.arch} on a {platform.machine()} machine; "
            "patch supports x86_64 policies on x86_64"
        )
    binary = resolve_binary(binary)
    data = _read_binary(binary)
    image = read_elf(data, binary)
    _check_elf(image, binary, policy_path)
    out = _out_path(binary, out)

    real = os.path.realpath(binary)
    program = policy.program(real, elf.build_id(data) or "")  # a copy: the same build-id
    note = None
    if program is None:
        program = policy.root_program
        note = f"{policy_path} has no program {real}; using its root program {program.executable}"
    hooks = phase_hooks(program, binary, policy_path)
    filters = [
        seccomp.compile_filter(
            phase.allow_list(),
            policy.default_action,
            arch=policy.arch,
            phase=phase.name,
            probe_errno=PROBE_ERRNO + index,
        )
        for index, phase in enumerate(program.phases)
    ]
    gcc = _tool("gcc")
    patchelf = _tool("patchelf")

    guard = out + GUARD_SUFFIX
    info = {
        "policy": os.path.abspath(policy_path),
        "sha256": digest,
        "program": program.executable,
        "phases": [
            {"name": p.name, "trigger": p.trigger, "instructions": len(f) // INSN.size}
            for p, f in zip(program.phases, filters, strict=True)
        ],
        "binary": os.path.abspath(binary),
        "binary_sha256": hashlib.sha256(data).hexdigest(),
        "default_action": policy.default_action,
        "sysphase": __version__,
    }
    source = guard_source(program, filters, hooks, info)
    directory = os.path.dirname(os.path.abspath(out))
    needed = f"$ORIGIN/{os.path.basename(guard)}"
    made: list[str] = []
    try:
        made.append(_tmp_in(directory, ".sysphase-guard-"))
        made.append(_tmp_in(directory, ".sysphase-patch-"))
        tmp_guard, tmp_out = made
        build_guard(source, tmp_guard, gcc, os.path.basename(guard))
        os.chmod(tmp_guard, 0o644)
        with open(tmp_out, "wb") as w:
            w.write(data)
        # the copy keeps the permission bits, never set-user-ID or set-group-ID
        os.chmod(tmp_out, os.stat(binary).st_mode & 0o777)
        _add_needed(patchelf, tmp_out, needed, binary, first=bool(hooks))
        os.replace(tmp_guard, guard)
        os.replace(tmp_out, out)
    finally:
        for tmp in made:
            if os.path.exists(tmp):
                os.unlink(tmp)
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
    image = read_elf(_read_binary(path), path)
    if not image.guards:
        return CheckResult(path, None)
    origin = os.path.dirname(os.path.realpath(path))
    entry = image.guards[0]
    guard = entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin)
    try:
        data = files.read_bytes_bounded(guard, files.BINARY_LIMIT, "a guard library")
    except UsageError:
        return CheckResult(path, guard)
    return CheckResult(path, guard, True, read_guard_info(data))
