"""The `c` format: C source that installs each phase's filter with libseccomp.

One ``static int sysphase_install_<phase>(void)`` per phase of the root
program, plus ``int sysphase_install(const char *phase)`` (by name) and
``int sysphase_install_first(void)``. Each builds the filter with
``seccomp_init``/``seccomp_rule_add`` (argument conditions as
``SCMP_An(...)``), refuses other ABIs (``SCMP_FLTATR_ACT_BADARCH``), loads it
and releases the context; every return value is checked and a negative errno
returned. The first phase sets ``no_new_privs`` (``SCMP_FLTATR_CTL_NNP``);
later phases, installed on top, synchronise every thread
(``SCMP_FLTATR_CTL_TSYNC``) and leave ``no_new_privs`` alone (it is set
already, and libseccomp would call ``prctl`` again under the active filter).
Every rule carries its provenance in a comment. No ``main``: the program
calls these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sysphase.model import syscalls
from sysphase.policy.formats._c_common import (
    c_comment_lines,
    c_int,
    file_comment,
    identifiers,
    install_dispatch,
)
from sysphase.policy.ir import AllowedCall, ArgCondition, Policy, PolicyPhase

__all__ = ["render"]

_ACTION: Final = {
    "kill": "SCMP_ACT_KILL_PROCESS",
    "errno": "SCMP_ACT_ERRNO(EPERM)",
    "trap": "SCMP_ACT_TRAP",
    "log": "SCMP_ACT_LOG",
}
#: Calls of another ABI: the default action, but never just logged.
_BADARCH: Final = {**_ACTION, "log": "SCMP_ACT_KILL_PROCESS"}

_CMP: Final = {"eq": "SCMP_CMP_EQ", "ne": "SCMP_CMP_NE", "masked_eq": "SCMP_CMP_MASKED_EQ"}

_USAGE: Final = (
    "Call sysphase_install_first() before the program does anything else, then",
    'sysphase_install("<phase>") when each later phase begins: filters stack, so each',
    "later one only narrows. Each returns 0, or a negative errno value on failure.",
    "Build with libseccomp: cc -c policy.c && cc ... policy.o -lseccomp",
)


def _syscall(arch: str, name: str) -> str:
    if name.startswith("syscall_"):
        nr = syscalls.number(arch, name)
        if nr is not None:
            return str(nr)
    return f"SCMP_SYS({name})"


def _cond(c: ArgCondition) -> str:
    if c.op == "masked_eq":
        return f"SCMP_A{c.index}({_CMP[c.op]}, {c_int(c.mask)}, {c_int(c.value)})"
    return f"SCMP_A{c.index}({_CMP[c.op]}, {c_int(c.value)})"


def _rules(arch: str, call: AllowedCall) -> list[str]:
    lines = c_comment_lines(f"{call.syscall}: {call.describe()}", "    ")
    if call.note:
        lines += c_comment_lines(f"({call.note})", "    ")
    nr = _syscall(arch, call.syscall)
    for alt in call.rule.when or ((),):
        head = f"    SYSPHASE_TRY(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, {nr}, {len(alt)}"
        if not alt:
            lines.append(head + "));")
            continue
        conds = [_cond(c) for c in alt]
        one = head + ", " + ", ".join(conds) + "));"
        if len(one) <= 100:
            lines.append(one)
        else:
            lines.append(head + ",")
            lines += [f"                                  {c}," for c in conds[:-1]]
            lines.append(f"                                  {conds[-1]}));")
    return lines


def _install(policy: Policy, phase: PolicyPhase, ident: str, first: bool) -> list[str]:
    n = len(phase.allowed)
    what = "the first phase" if first else "a later phase"
    badarch = _BADARCH[policy.default_action]
    lines = c_comment_lines(
        f'Phase "{phase.name}" (trigger: {phase.trigger}), {what}: '
        f"{n} allowed system call{'' if n == 1 else 's'}."
    )
    lines += [
        f"static int sysphase_install_{ident}(void)",
        "{",
        "    scmp_filter_ctx ctx;",
        "    int rc;",
        "",
        f"    ctx = seccomp_init({_ACTION[policy.default_action]});",
        "    if (ctx == NULL)",
        "        return -ENOMEM;",
        f"    SYSPHASE_TRY(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, {badarch}));",
    ]
    if first:
        lines.append("    SYSPHASE_TRY(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1));")
    else:
        lines.append("    SYSPHASE_TRY(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0));")
        lines.append("    SYSPHASE_TRY(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1));")
    for call in phase.allowed:
        lines += _rules(policy.arch, call)
    lines += [
        "    rc = seccomp_load(ctx);",
        "out:",
        "    seccomp_release(ctx);",
        "    return rc;",
        "}",
    ]
    return lines


def _macro(*lines: str) -> list[str]:
    """Macro lines ending in a backslash at column 100, as clang-format aligns them."""
    return [f"{line:<98} \\" for line in lines]


def render(policy: Policy, bpf: Sequence[bytes] | None = None) -> str:
    """The C source text; ``bpf`` is not used (libseccomp compiles at run time)."""
    program = policy.root_program
    idents = identifiers(program)
    lines = file_comment(policy, "seccomp filters (C, libseccomp)", _USAGE)
    lines += [
        "",
        "#include <errno.h>",
        "#include <seccomp.h>",
        "#include <stddef.h>",
        "#include <string.h>",
        "",
        "int sysphase_install_first(void);",
        "int sysphase_install(const char *phase);",
        "",
        "/* Evaluate a libseccomp call; on a negative result, release the filter and return it. */",
        *_macro(
            "#define SYSPHASE_TRY(call)",
            "    do {",
            "        rc = (call);",
            "        if (rc < 0)",
            "            goto out;",
        ),
        "    } while (0)",
    ]
    for i, (phase, ident) in enumerate(zip(program.phases, idents, strict=True)):
        lines.append("")
        lines += _install(policy, phase, ident, i == 0)
    lines += install_dispatch([p.name for p in program.phases], idents)
    lines += ["", "#undef SYSPHASE_TRY"]
    return "\n".join(lines) + "\n"
