#!/usr/bin/env python3
"""Generate the syscall tables (Python and C) from the kernel UAPI headers and syscallent.in.

Outputs: src/sysphase/model/syscall_tables.py (numbers, names, errnos, signals, and
the per-syscall facts) and csrc/syscall_table.c (the facts the C core reads, by
architecture and number). The facts no header gives (argument counts, strace's
classes, never-returns and the core's flags) come from tools/syscallent.in
(tools/syscall_facts.py), one line per system call as strace's syscallent.h.

Sources (Debian package linux-libc-dev, under /usr/include):

- x86_64: asm/unistd_64.h; i386: asm/unistd_32.h; x32: asm/unistd_x32.h (numbers
  keep the 0x40000000 __X32_SYSCALL_BIT, taken from asm/unistd.h);
- aarch64: asm-generic/unistd.h preprocessed for a 64-bit generic architecture
  with the __ARCH_WANT_* switches that arch/arm64/include/uapi/asm/unistd.h
  sets in Linux 6.1 (the arm64 header itself is not installed on x86_64);
  the __NR3264_* indirections resolve to their 64-bit names (fcntl, lseek,
  mmap, newfstatat...);
- errno names: asm-generic/errno-base.h and asm-generic/errno.h, aliases
  (EWOULDBLOCK, EDEADLOCK) dropped; plus the kernel-internal codes of the
  kernel's own include/linux/errno.h (ERESTARTSYS=512 ...), which are not UAPI
  but show up in traces of interrupted calls;
- errno texts: the C library's strerror() (glibc), and strace's wording for
  the restart codes;
- signals: x86_64 asm/signal.h in header order (first name of a number wins:
  SIGABRT over SIGIOT, SIGIO over SIGPOLL, SIGSYS over SIGUNUSED), then
  SIGRTMIN=32 and SIGRT_1..SIGRT_32 for 33..64, as strace names them.

Macros are evaluated with ``gcc -E -dM``. The output is deterministic (sorted).

Usage: python tools/gen_syscall_tables.py [--check] [--output PATH] [--c-output PATH]
``--check`` exits 1 when a checked-in file differs from what would be
generated (the line naming the header package version is not compared, so a
point release of linux-libc-dev with identical tables does not fail).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import syscall_facts  # tools/syscall_facts.py, beside this script
from generated import VERSION_PREFIX, write_or_check  # tools/generated.py, likewise

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "src" / "sysphase" / "model" / "syscall_tables.py"
C_OUTPUT = ROOT / "csrc" / "syscall_table.c"
INCLUDE = Path("/usr/include")
ASM = INCLUDE / "x86_64-linux-gnu" / "asm"

#: What arch/arm64/include/uapi/asm/unistd.h defines before including
#: asm-generic/unistd.h (Linux 6.1).
AARCH64_WANTS = (
    "__ARCH_WANT_RENAMEAT",
    "__ARCH_WANT_NEW_STAT",
    "__ARCH_WANT_SET_GET_RLIMIT",
    "__ARCH_WANT_TIME32_SYSCALLS",
    "__ARCH_WANT_SYS_CLONE3",
    "__ARCH_WANT_MEMFD_SECRET",
)

#: Kernel-internal error codes from the kernel source's include/linux/errno.h
#: (not exported to userspace headers; a tracer sees them at syscall exit).
KERNEL_ERRNOS = {
    512: "ERESTARTSYS",
    513: "ERESTARTNOINTR",
    514: "ERESTARTNOHAND",
    515: "ENOIOCTLCMD",
    516: "ERESTART_RESTARTBLOCK",
    517: "EPROBE_DEFER",
    518: "EOPENSTALE",
    519: "ENOPARAM",
    521: "EBADHANDLE",
    522: "ENOTSYNC",
    523: "EBADCOOKIE",
    524: "ENOTSUPP",
    525: "ETOOSMALL",
    526: "ESERVERFAULT",
    527: "EBADTYPE",
    528: "EJUKEBOX",
    529: "EIOCBQUEUED",
    530: "ERECALLCONFLICT",
    531: "ENOGRACE",
}

#: strace's explanations for the restart codes (strerror has none).
KERNEL_ERRNO_TEXTS = {
    512: "To be restarted if SA_RESTART is set",
    513: "To be restarted",
    514: "To be restarted if no handler",
    516: "Interrupted by signal",
}

#: __NR_ macros that are not system calls: the table size, and the first
#: number asm-generic leaves to architecture-specific calls (none on arm64).
NOT_SYSCALLS = ("__NR_syscalls", "__NR_arch_specific_syscall")

#: _NSIG on x86_64 (and every architecture sysphase supports).
NSIG = 64
SIGRTMIN = 32


class GenerationError(Exception):
    """The headers could not be read or evaluated."""


def gcc_macros(source: str, defines: tuple[str, ...] = ()) -> dict[str, str]:
    """Every macro defined after preprocessing ``source``, name -> body."""
    cmd = ["gcc", "-E", "-dM", "-x", "c", "-"]
    cmd += [f"-D{d}" for d in defines]
    try:
        proc = subprocess.run(cmd, input=source, capture_output=True, text=True, check=False)
    except FileNotFoundError as err:
        raise GenerationError("gcc is not installed") from err
    if proc.returncode != 0:
        raise GenerationError(f"gcc failed on {source.strip()!r}: {proc.stderr.strip()}")
    macros: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"#define (\w+)(?:\(.*?\))? ?(.*)$", line)
        if m:
            macros[m.group(1)] = m.group(2).strip()
    return macros


_ALLOWED_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Add,
    ast.Sub,
    ast.BitOr,
    ast.LShift,
    ast.USub,
)


def evaluate(name: str, macros: dict[str, str], depth: int = 0) -> int:
    """The integer value of macro ``name`` (identifiers resolved recursively)."""
    if depth > 20:
        raise GenerationError(f"macro {name} does not resolve to a number")
    if name not in macros:
        raise GenerationError(f"macro {name} is not defined")
    body = macros[name]

    def resolve(m: re.Match[str]) -> str:
        token = m.group(0)
        if token[0].isdigit():
            return str(int(re.sub(r"[uUlL]+$", "", token), 0))
        return str(evaluate(token, macros, depth + 1))

    expr = re.sub(r"\b(?:0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b|\b[A-Za-z_]\w*\b", resolve, body)
    tree = ast.parse(expr, mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise GenerationError(f"macro {name} = {body!r} is not a simple expression")
    value = eval(compile(tree, "<macro>", "eval"))  # only int literals and + - | << remain
    if not isinstance(value, int):
        raise GenerationError(f"macro {name} = {body!r} is not an integer")
    return value


def syscall_table(
    header: str, extra: dict[str, str] | None = None, defines: tuple[str, ...] = ()
) -> dict[int, str]:
    """number -> name for every __NR_name macro that ``header`` defines."""
    macros = gcc_macros(f"#include <{header}>\n", defines)
    scope = {**(extra or {}), **macros}
    table: dict[int, str] = {}
    for macro in sorted(macros):
        if not macro.startswith("__NR_") or macro in NOT_SYSCALLS:
            continue
        nr = evaluate(macro, scope)
        name = macro[len("__NR_") :]
        if nr in table:
            raise GenerationError(f"{header}: {name} and {table[nr]} share number {nr}")
        table[nr] = name
    if not table:
        raise GenerationError(f"{header} defines no system calls")
    return table


def x32_bit() -> tuple[int, dict[str, str]]:
    """__X32_SYSCALL_BIT, and the macros of asm/unistd.h it comes with."""
    common = gcc_macros("#include <asm/unistd.h>\n")
    if "__X32_SYSCALL_BIT" not in common:
        raise GenerationError("asm/unistd.h does not define __X32_SYSCALL_BIT")
    return evaluate("__X32_SYSCALL_BIT", common), common


def syscall_tables() -> dict[str, dict[int, str]]:
    """The four architectures' tables."""
    _, common = x32_bit()
    return {
        "x86_64": syscall_table("asm/unistd_64.h"),
        "i386": syscall_table("asm/unistd_32.h"),
        "x32": syscall_table("asm/unistd_x32.h", extra=common),
        "aarch64": syscall_table("asm-generic/unistd.h", defines=AARCH64_WANTS),
    }


def errno_table() -> dict[int, str]:
    """errno number -> canonical name."""
    macros = gcc_macros("#include <asm-generic/errno.h>\n")
    table: dict[int, str] = {}
    for name in sorted(macros):
        body = macros[name]
        if not re.fullmatch(r"E[A-Z0-9]+", name) or not re.fullmatch(r"\d+", body):
            continue  # not an errno, or an alias such as EWOULDBLOCK -> EAGAIN
        nr = int(body)
        if nr in table:
            raise GenerationError(f"errno {nr} has two names: {table[nr]} and {name}")
        table[nr] = name
    for nr, name in KERNEL_ERRNOS.items():
        if nr in table:
            raise GenerationError(f"kernel-internal errno {nr} ({name}) clashes with UAPI")
        table[nr] = name
    return dict(sorted(table.items()))


def errno_texts(errnos: dict[int, str]) -> dict[int, str]:
    """errno number -> message, from strerror() and strace for the restart codes."""
    texts = {nr: os.strerror(nr) for nr in errnos if nr < 512}
    texts.update(KERNEL_ERRNO_TEXTS)
    return dict(sorted(texts.items()))


def signal_table() -> dict[int, str]:
    """x86_64 signal number -> name."""
    header = ASM / "signal.h"
    try:
        text = header.read_text()
    except OSError as err:
        raise GenerationError(f"cannot read {header}: {err}") from err
    macros = gcc_macros("#include <asm/signal.h>\n")
    table: dict[int, str] = {}
    for name in re.findall(r"^#define\s+(SIG[A-Z0-9]+)\b", text, flags=re.MULTILINE):
        if name in ("SIGRTMIN", "SIGRTMAX") or name not in macros:
            continue
        nr = evaluate(name, macros)
        if 1 <= nr < SIGRTMIN and nr not in table:
            table[nr] = name
    if sorted(table) != list(range(1, SIGRTMIN)):
        raise GenerationError(f"{header} does not name every signal 1..31")
    if evaluate("SIGRTMIN", macros) != SIGRTMIN:
        raise GenerationError(f"{header}: SIGRTMIN is not {SIGRTMIN}")
    table[SIGRTMIN] = "SIGRTMIN"
    for nr in range(SIGRTMIN + 1, NSIG + 1):
        table[nr] = f"SIGRT_{nr - SIGRTMIN}"
    return table


def header_version() -> str:
    """The installed linux-libc-dev version, as dpkg reports it."""
    try:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Package} ${Version} (${Architecture})", "linux-libc-dev"],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        return "unknown (dpkg-query not found)"
    return proc.stdout.strip() if proc.returncode == 0 and proc.stdout else "unknown"


def _q(text: str) -> str:
    """A double-quoted Python string literal (the values are ASCII)."""
    return json.dumps(text)


def _dict_literal(name: str, annotation: str, table: dict[int, str], indent: str = "") -> str:
    lines = [f"{indent}{name}: {annotation} = {{"]
    lines += [f"{indent}    {nr}: {_q(value)}," for nr, value in sorted(table.items())]
    lines.append(f"{indent}}}")
    return "\n".join(lines)


def render(tables: dict[str, dict[int, str]], facts: syscall_facts.Facts) -> str:
    """The full text of syscall_tables.py."""
    errnos = errno_table()
    texts = errno_texts(errnos)
    signals = signal_table()
    out = [
        "# Generated by tools/gen_syscall_tables.py -- do not edit by hand.",
        "# Regenerate: python tools/gen_syscall_tables.py; verify: --check.",
        f"{VERSION_PREFIX}{header_version()}",
        "# Syscalls: asm/unistd_64.h, asm/unistd_32.h, asm/unistd_x32.h, and",
        "# asm-generic/unistd.h for aarch64 (with arm64's __ARCH_WANT_* switches).",
        "# Errnos: asm-generic/errno{-base,}.h plus the kernel-internal codes",
        "# (512..531) of the kernel source's include/linux/errno.h.",
        "# Errno texts: glibc strerror(); strace's wording for the restart codes.",
        "# Signals: x86_64 asm/signal.h; 32..64 named SIGRTMIN, SIGRT_1.. as strace does.",
        "# Facts (NARGS, I386_NARGS, CLASSES, NEVER_RETURNS): tools/syscallent.in.",
        '"""System call, errno and signal tables generated from the Linux UAPI headers.',
        "",
        "SYSCALLS[arch] maps a syscall number to its name (x32 numbers include",
        "the 0x40000000 __X32_SYSCALL_BIT); ERRNOS, ERRNO_TEXTS and SIGNALS map",
        "numbers to names and messages; NARGS, CLASSES and NEVER_RETURNS are the",
        "facts of tools/syscallent.in, which the C core reads too (csrc/syscall_table.c).",
        "Use sysphase.model.syscalls, not this module.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "SYSCALLS: dict[str, dict[int, str]] = {",
    ]
    for arch in sorted(tables):
        out.append(f"    {_q(arch)}: {{")
        out += [f"        {nr}: {_q(name)}," for nr, name in sorted(tables[arch].items())]
        out.append("    },")
    out.append("}")
    out.append("")
    out.append(_dict_literal("ERRNOS", "dict[int, str]", errnos))
    out.append("")
    out.append(_dict_literal("ERRNO_TEXTS", "dict[int, str]", texts))
    out.append("")
    out.append(_dict_literal("SIGNALS", "dict[int, str]", signals))
    out += syscall_facts.render_python(facts)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the checked-in file is out of date"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT, help="Python file to write")
    parser.add_argument("--c-output", type=Path, default=C_OUTPUT, help="C file to write")
    args = parser.parse_args(argv)
    try:
        tables = syscall_tables()
        facts = syscall_facts.load()
        outputs = {
            args.output: render(tables, facts),
            args.c_output: syscall_facts.render_c(facts, tables, x32_bit()[0]),
        }
    except (GenerationError, syscall_facts.FactsError) as err:
        print(f"gen_syscall_tables: {err}", file=sys.stderr)
        return 2
    return write_or_check("gen_syscall_tables", outputs, args.check)


if __name__ == "__main__":
    sys.exit(main())
