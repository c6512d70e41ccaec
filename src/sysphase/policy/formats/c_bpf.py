"""The `c-bpf` format: C arrays of ``struct sock_filter``, no library needed.

Per phase of the root program: ``sysphase_<phase>_filter[]`` (the
instructions libseccomp compiled for that phase, passed in as bytes),
``sysphase_<phase>_prog`` (its ``struct sock_fprog``) and
``sysphase_install_<phase>()``. The first phase installs with
``prctl(PR_SET_NO_NEW_PRIVS)`` and ``prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)``;
later phases with ``seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC)``
so every thread narrows together. ``sysphase_install(name)`` and
``sysphase_install_first()`` as in the `c` format. Each phase's comment lists
its allowed calls with their provenance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sysphase.policy.bpf_sim import INSN
from sysphase.policy.formats._c_common import (
    check_filters,
    file_comment,
    identifiers,
    install_dispatch,
    sock_filter_array,
    wrap,
)
from sysphase.policy.formats._common import comment_text
from sysphase.policy.ir import Policy, PolicyPhase

__all__ = ["render"]

_USAGE: Final = (
    "Call sysphase_install_first() before the program does anything else, then",
    'sysphase_install("<phase>") when each later phase begins: filters stack, so each',
    "later one only narrows. Each returns 0, or a negative errno value on failure.",
    "The filters are libseccomp's output; no library is needed: cc -c policy.c",
)


def _filter(phase: PolicyPhase, ident: str, prog: bytes, first: bool) -> list[str]:
    count = len(prog) // INSN.size
    n = len(phase.allowed)
    what = "the first phase" if first else "a later phase"
    lines = [
        "/*",
        *wrap(
            f'Phase "{phase.name}" (trigger: {phase.trigger}), {what}: {n} allowed system '
            f"call{'' if n == 1 else 's'}, {count} instructions. Allowed:",
            " * ",
            " * ",
        ),
    ]
    for call in phase.allowed:
        lines += wrap(comment_text(call), " *   ", " *     ")
    lines += [" */", *sock_filter_array(f"static struct sock_filter sysphase_{ident}_filter", prog)]
    length = f"    .len = (unsigned short)(sizeof(sysphase_{ident}_filter) / "
    length_end = f"sizeof(sysphase_{ident}_filter[0])),"
    if len(length + length_end) <= 100:
        length_lines = [length + length_end]
    else:
        length_lines = [length.rstrip(), " " * 28 + length_end]
    lines += [
        "",
        f"static struct sock_fprog sysphase_{ident}_prog = {{",
        *length_lines,
        f"    .filter = sysphase_{ident}_filter,",
        "};",
        "",
        f"static int sysphase_install_{ident}(void)",
        "{",
    ]
    if first:
        lines += [
            "    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)",
            "        return -errno;",
            f"    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sysphase_{ident}_prog) != 0)",
            "        return -errno;",
            "    return 0;",
        ]
    else:
        lines += [
            "    long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, "
            "SECCOMP_FILTER_FLAG_TSYNC,",
            f"                      &sysphase_{ident}_prog);",
            "",
            "    if (rc < 0)",
            "        return -errno;",
            "    if (rc > 0) /* TSYNC: the id of a thread that could not be synchronised */",
            "        return -ESRCH;",
            "    return 0;",
        ]
    lines.append("}")
    return lines


def render(policy: Policy, bpf: Sequence[bytes] | None = None) -> str:
    """The C source text from the compiled filters (one per phase of the root program)."""
    program = policy.root_program
    progs = check_filters(policy, bpf, "c-bpf")
    idents = identifiers(program)
    lines = file_comment(policy, "seccomp filters (C, classic BPF)", _USAGE)
    lines += [
        "",
        "#include <errno.h>",
        "#include <linux/filter.h>",
        "#include <linux/seccomp.h>",
        "#include <stddef.h>",
        "#include <string.h>",
        "#include <sys/prctl.h>",
        "#include <sys/syscall.h>",
        "#include <unistd.h>",
        "",
        "int sysphase_install_first(void);",
        "int sysphase_install(const char *phase);",
    ]
    for i, (phase, ident, prog) in enumerate(zip(program.phases, idents, progs, strict=True)):
        lines.append("")
        lines += _filter(phase, ident, prog, i == 0)
    lines += install_dispatch([p.name for p in program.phases], idents)
    return "\n".join(lines) + "\n"
