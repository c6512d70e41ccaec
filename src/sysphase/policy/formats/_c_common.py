"""What the C formats (and `bpf`) share: identifiers, literals, comments, filter checks."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

from sysphase.errors import PolicyError
from sysphase.policy.bpf_sim import BPF_MAXINSNS, INSN
from sysphase.policy.formats._common import ascii_line, header
from sysphase.policy.ir import Policy, ProgramPolicy

__all__ = [
    "c_comment",
    "c_comment_lines",
    "c_int",
    "c_string",
    "check_filters",
    "file_comment",
    "identifiers",
    "install_dispatch",
    "sock_filter_array",
    "wrap",
]


def identifiers(program: ProgramPolicy) -> list[str]:
    """A distinct C identifier part per phase: lower-case, ``[a-z0-9_]``, never empty."""
    out: list[str] = []
    for i, phase in enumerate(program.phases):
        ident = re.sub(r"[^a-z0-9_]+", "_", phase.name.lower()).strip("_") or f"phase{i}"
        if ident[0].isdigit():
            ident = f"p{ident}"
        base, n = ident, 2
        while ident in out or ident == "first":
            ident, n = f"{base}_{n}", n + 1
        out.append(ident)
    return out


def _utf8(text: str) -> bytes:
    """The bytes of ``text``: UTF-8, and a byte ``os.fsdecode`` could not decode as that byte.

    Any other lone surrogate (only a hand-written ``\\udXXX`` escape in JSON makes one)
    is encoded as its three bytes rather than failing.
    """
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return b"".join(
            c.encode("utf-8", "surrogateescape" if 0xDC80 <= ord(c) <= 0xDCFF else "surrogatepass")
            for c in text
        )


def c_string(text: str) -> str:
    """A C string literal; anything but printable ASCII as octal escapes of its UTF-8 bytes."""
    out = []
    for byte in _utf8(text):
        ch = chr(byte)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def c_comment(text: str) -> str:
    """Text safe inside ``/* */``: one line of printable ASCII that cannot end the comment.

    No ``*/`` (it would end the comment), no ``/*`` (gcc's -Wcomment) and no ``??``
    (``??/`` is a backslash under trigraphs; at a line end it would join the next line).
    """
    return ascii_line(text).replace("*/", "* /").replace("/*", "/ *").replace("??", "?\\x3f")


def wrap(text: str, first: str, rest: str, width: int = 100) -> list[str]:
    """Comment text (see :func:`c_comment`) wrapped at ``width`` behind the given prefixes."""
    return textwrap.wrap(
        c_comment(text),
        width=width,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
        break_long_words=False,
    ) or [first.rstrip()]


def c_comment_lines(text: str, indent: str = "", width: int = 100) -> list[str]:
    """A ``/* ... */`` comment of ``text`` wrapped at ``width``, continuation lines `` * ``."""
    lines = wrap(text, f"{indent}/* ", f"{indent} * ", width)
    if len(lines[-1]) + 3 <= width:
        lines[-1] += " */"
    else:
        lines.append(f"{indent} */")
    return lines


def c_int(value: int) -> str:
    """A 64-bit unsigned literal: decimal when small, else hex (``ULL`` above 32 bits)."""
    if value < 2**31:
        return str(value)
    return f"{value:#x}ULL" if value > 0xFFFFFFFF else f"{value:#x}U"


def file_comment(policy: Policy, what: str, usage: Sequence[str]) -> list[str]:
    """The block comment that opens a C file."""
    lines = [*header(policy, what), "", *usage]
    others = [p.executable for p in policy.programs[1:]]
    if others:
        lines += [
            "",
            "Only the root program's phases are here. Other programs of the policy "
            f"({', '.join(others)}) run under the filter in force when they start; "
            "it allows what they need.",
        ]
    body: list[str] = []
    for line in lines:
        body += wrap(line, " * ", " * ") if line else [" *"]
    return ["/*", *body, " */"]


def check_filters(policy: Policy, bpf: Sequence[bytes] | None, fmt: str) -> list[bytes]:
    """The compiled filters, one per phase of the root program, checked; PolicyError if not."""
    phases = policy.root_program.phases
    if bpf is None:
        raise PolicyError(
            f"the {fmt} format needs the compiled filters (libseccomp's output, one per phase)"
        )
    if len(bpf) != len(phases):
        raise PolicyError(
            f"the {fmt} format needs one compiled filter per phase of "
            f"{policy.root_program.executable} ({len(phases)}), got {len(bpf)}"
        )
    out = []
    for phase, prog in zip(phases, bpf, strict=True):
        if not prog or len(prog) % INSN.size:
            raise PolicyError(
                f"the compiled filter of phase {phase.name!r} is {len(prog)} bytes, "
                f"not a whole number of {INSN.size}-byte instructions"
            )
        count = len(prog) // INSN.size
        if count > BPF_MAXINSNS:
            raise PolicyError(
                f"the compiled filter of phase {phase.name!r} has {count} instructions, "
                f"over the kernel's {BPF_MAXINSNS}"
            )
        out.append(bytes(prog))
    return out


def sock_filter_array(declaration: str, prog: bytes) -> list[str]:
    """``DECLARATION[] = {...};``: one ``struct sock_filter`` initializer per instruction.

    Each line is numbered with the instruction's index (a jump's target is
    index + 1 + jt or jf): ``/* 0004 */ {0x15, 0, 1, 0x0000003c},``.
    """
    lines = [f"{declaration}[] = {{"]
    for pc, (code, jt, jf, k) in enumerate(INSN.iter_unpack(prog)):
        lines.append(f"    /* {pc:04} */ {{0x{code:02x}, {jt}, {jf}, 0x{k:08x}}},")
    return [*lines, "};"]


def install_dispatch(phase_names: Sequence[str], idents: Sequence[str]) -> list[str]:
    """``sysphase_install(name)`` and ``sysphase_install_first()`` over the per-phase installers."""
    lines = [
        "",
        "/* Install the filter of the phase named `phase`; -EINVAL if there is no such phase. */",
        "int sysphase_install(const char *phase)",
        "{",
    ]
    for name, ident in zip(phase_names, idents, strict=True):
        lines += [
            f"    if (strcmp(phase, {c_string(name)}) == 0)",
            f"        return sysphase_install_{ident}();",
        ]
    return [
        *lines,
        "    return -EINVAL;",
        "}",
        "",
        f"/* Install the first phase's filter ({c_comment(phase_names[0])}). */",
        "int sysphase_install_first(void)",
        "{",
        f"    return sysphase_install_{idents[0]}();",
        "}",
    ]
