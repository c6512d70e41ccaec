#!/usr/bin/env python3
"""Generate src/sysphase/report/_xlat.py from tools/xlat.in and the installed headers.

tools/xlat.in names, table by table, the symbolic constants the decoder prints
(strace's xlat/*.in files are the model): the table's kind, the headers that
define them, and the names in strace's print order. Their values come from the
headers: the generator writes one small C program that includes each table's
headers and prints every name's value, compiles it with gcc and runs it, so
enum constants (glibc's SOCK_STREAM, MSG_*, SHUT_*, ...) and computed ioctl
numbers (_IOR(...)) are read as the compiler sees them, not re-implemented here.
The few values no installed header gives are written in the spec as
``NAME = value`` with the reason on the line.

Sources: the Debian packages linux-libc-dev (kernel UAPI headers) and libc6-dev
(glibc), x86_64.

Usage: python tools/gen_xlat.py [--check] [--output PATH] [--spec PATH]
``--check`` exits 1 when the checked-in file differs from what would be
generated (the line naming the header package versions is not compared).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from generated import VERSION_PREFIX, write_or_check  # tools/generated.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
SPEC = Path(__file__).resolve().parent / "xlat.in"
OUTPUT = ROOT / "src" / "sysphase" / "report" / "_xlat.py"

#: The Debian packages of the headers (kernel UAPI, glibc).
PACKAGES = ("linux-libc-dev", "libc6-dev")

#: kind -> (the annotation in the generated module, the default base of its numbers)
KINDS = {
    "flags": ("Final[Flags]", "hex"),
    "values": ("Final[Values]", "dec"),
    "const": ("Final", "dec"),
    "set": ("Final", "hex"),
}
BASES = ("dec", "hex", "oct")

_IDENT = r"[A-Za-z_]\w*"
#: an entry: a name, or names joined by '|' (printed as written, valued as C evaluates it)
_ENTRY = re.compile(rf"{_IDENT}(?:\s*\|\s*{_IDENT})*")
_EXPLICIT = re.compile(rf"({_IDENT})\s*=\s*(-?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|\d+))")
_SECTION = re.compile(rf"\[({_IDENT})\s+(\w+)(?:\s+(\w+))?\]")
_DIRECTIVE = re.compile(r"#\s*(include|define|undef)\b")


class SpecError(Exception):
    """xlat.in is malformed, or the headers do not define a name (the message says where)."""


@dataclass
class Entry:
    """One line of a table: a name (or expression) and, rarely, its explicit value."""

    text: str
    line: int
    value: int | None = None  # set in the spec (``NAME = value``), else from the headers
    reason: str = ""  # why the value is explicit
    header: int | None = None  # an explicit name's value, if a header defines it after all


@dataclass
class Section:
    """One table of the spec."""

    name: str
    kind: str
    base: str
    line: int
    doc: list[str] = field(default_factory=list)  # '#:' comments, copied to the output
    preamble: list[str] = field(default_factory=list)  # #include / #define lines, in order
    entries: list[Entry] = field(default_factory=list)


def _split_comment(line: str) -> tuple[str, str]:
    """The line without its trailing '  # comment', and the comment's text."""
    m = re.search(r"\s+#\s?(.*)$", line)
    if m is None:
        return line.strip(), ""
    return line[: m.start()].strip(), m.group(1).strip()


def _entry(body: str, comment: str, lineno: int, source: str) -> Entry:
    """One name line: NAME, NAME|NAME, or NAME = VALUE with its reason."""
    explicit = _EXPLICIT.fullmatch(body)
    if explicit is not None:
        if not comment:
            raise SpecError(
                f"{source}:{lineno}: {explicit.group(1)} = ... needs the reason after a '#'"
            )
        return Entry(explicit.group(1), lineno, int(explicit.group(2), 0), comment)
    if _ENTRY.fullmatch(body):
        return Entry(re.sub(r"\s*\|\s*", "|", body), lineno)
    raise SpecError(f"{source}:{lineno}: not a name, NAME|NAME or NAME = value: {body!r}")


def parse(text: str, source: str = str(SPEC)) -> list[Section]:
    """The sections of xlat.in's TEXT; SpecError names a bad line."""
    sections: list[Section] = []
    doc: list[str] = []
    seen: set[str] = set()

    def fail(lineno: int, problem: str) -> SpecError:
        return SpecError(f"{source}:{lineno}: {problem}")

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#:"):
            doc.append(line[2:].strip())
            continue
        if _DIRECTIVE.match(line):
            if not sections:
                raise fail(lineno, "a directive before the first [TABLE kind] line")
            body, _ = _split_comment(line)
            if sections[-1].entries:
                raise fail(lineno, "directives go before the table's names")
            sections[-1].preamble.append(body)
            continue
        if line.startswith("#"):
            continue  # a comment
        body, comment = _split_comment(line)
        m = _SECTION.fullmatch(body)
        if m is not None:
            name, kind, base = m.group(1), m.group(2), m.group(3)
            if kind not in KINDS:
                raise fail(lineno, f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
            if base is not None and base not in BASES:
                raise fail(lineno, f"unknown base {base!r} (one of {', '.join(BASES)})")
            if name in seen or name in ("Flags", "Values", "Final"):
                raise fail(lineno, f"table {name} is defined twice")
            seen.add(name)
            if sections:
                _finish(sections[-1], source)
            sections.append(Section(name, kind, base or KINDS[kind][1], lineno, doc))
            doc = []
            continue
        if doc:
            raise fail(lineno, "a '#:' comment belongs before a [TABLE kind] line")
        if not sections:
            raise fail(lineno, "a name before the first [TABLE kind] line")
        sections[-1].entries.append(_entry(body, comment, lineno, source))
    if doc:
        raise fail(len(text.splitlines()), "a '#:' comment at the end of the file")
    if not sections:
        raise SpecError(f"{source}: no tables")
    _finish(sections[-1], source)
    return sections


def _finish(section: Section, source: str) -> None:
    """Check a section's entries once it is complete."""
    where = f"{source}:{section.line}: {section.name}"
    if section.kind == "const":
        if not section.entries:  # [NAME const] alone: the header's NAME
            section.entries.append(Entry(section.name, section.line))
        if len(section.entries) != 1:
            raise SpecError(f"{where}: a const table has one line")
    elif not section.entries:
        raise SpecError(f"{where}: no names")
    if section.kind == "flags" or section.kind == "values":
        texts = [e.text for e in section.entries]
        dups = sorted({t for t in texts if texts.count(t) > 1})
        if dups:
            raise SpecError(f"{where}: {', '.join(dups)} listed twice")
    needs_headers = any(e.value is None for e in section.entries)
    if needs_headers and not _includes(section):
        raise SpecError(f"{where}: no #include line")


def _includes(section: Section) -> bool:
    return any(re.match(r"#\s*include\b", p) for p in section.preamble)


# --- values from the headers -------------------------------------------------

#: Prints "TAG SECTION ENTRY VALUE"; TAG v is a value the table takes from the headers,
#: h the header's value of a name the spec gives explicitly (checked against it).
_PRINT = """\
int printf(const char *, ...);
#define XLAT_P(t, s, i, e) \\
    ((e) < 0 ? printf(t " %d %d %lld\\n", s, i, (long long)(e)) \\
             : printf(t " %d %d %llu\\n", s, i, (unsigned long long)(e)))
"""


def _program(sections: list[Section]) -> tuple[dict[str, str], dict[tuple[str, int], Entry]]:
    """C sources (file name -> text), one per distinct preamble, and each C line's entry."""
    units: dict[tuple[str, ...], list[int]] = {}
    for index, section in enumerate(sections):
        if _includes(section):
            units.setdefault(tuple(section.preamble), []).append(index)
    files: dict[str, str] = {}
    lines: dict[tuple[str, int], Entry] = {}
    calls = []
    for unit, (preamble, indexes) in enumerate(units.items()):
        fname = f"xlat_{unit}.c"
        out = [*preamble, *_PRINT.splitlines(), f"void xlat_{unit}(void)", "{"]
        for index in indexes:
            for i, entry in enumerate(sections[index].entries):
                if entry.value is not None:  # explicit: compare with a header macro, if any
                    out += [f"#ifdef {entry.text}", f'    XLAT_P("h", {index}, {i}, {entry.text});']
                    out.append("#endif")
                    continue
                lines[(fname, len(out) + 1)] = entry
                expr = f"({entry.text})"
                out.append(
                    f'    _Static_assert({expr} == {expr}, "not an integer constant");'
                    f' XLAT_P("v", {index}, {i}, {expr});'
                )
        out.append("}")
        files[fname] = "\n".join(out) + "\n"
        calls.append(f"xlat_{unit}")
    main = [f"void {c}(void);" for c in calls]
    main += ["int main(void)", "{", *(f"    {c}();" for c in calls), "    return 0;", "}"]
    files["xlat_main.c"] = "\n".join(main) + "\n"
    return files, lines


def _compile_error(stderr: str, lines: dict[tuple[str, int], Entry], source: str) -> SpecError:
    """SpecError naming the spec lines gcc rejected."""
    where: dict[int, str] = {}  # the first error of each entry
    for m in re.finditer(r"^(?:.*/)?(xlat_\d+\.c):(\d+):\d+: error: (.*)$", stderr, re.M):
        entry = lines.get((m.group(1), int(m.group(2))))
        if entry is not None and entry.line not in where:
            where[entry.line] = f"{source}:{entry.line}: {entry.text}: {m.group(3)}"
    if not where:
        return SpecError(f"gcc failed: {stderr.strip()}")
    return SpecError("the headers do not give these values:\n" + "\n".join(where.values()))


def header_values(sections: list[Section], source: str = str(SPEC)) -> None:
    """Fill every entry's value from the headers (compiling and running one C program)."""
    files, lines = _program(sections)
    with tempfile.TemporaryDirectory(prefix="gen_xlat.") as tmp:
        tmpdir = Path(tmp)
        for fname, text in files.items():
            (tmpdir / fname).write_text(text)
        exe = tmpdir / "xlat"
        cmd = ["gcc", "-std=gnu11", "-w", "-o", str(exe), *sorted(files)]
        try:
            proc = subprocess.run(cmd, cwd=tmpdir, capture_output=True, text=True, check=False)
        except FileNotFoundError as err:
            raise SpecError("gcc is not installed") from err
        if proc.returncode != 0:
            raise _compile_error(proc.stderr, lines, source)
        run = subprocess.run([str(exe)], capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise SpecError(f"the generated program failed: {run.stderr.strip()}")
    for row in run.stdout.splitlines():
        tag, *numbers = row.split()
        index, i, value = (int(word) for word in numbers)
        entry = sections[index].entries[i]
        if tag == "h":
            entry.header = value
        else:
            entry.value = value
    _check_explicit(sections, source)
    missing = [f"{s.name}: {e.text}" for s in sections for e in s.entries if e.value is None]
    if missing:
        raise SpecError(f"no value printed for {', '.join(missing)}")


def _check_explicit(sections: list[Section], source: str) -> None:
    """An explicit value must agree with a header that defines the name after all.

    Agreeing in the low 32 bits is enough (RUSAGE_CHILDREN is -1 in the header and
    0xFFFFFFFF in the table, as the register holds it); equal values mean the
    explicit line is no longer needed, which is said on stderr.
    """
    for section in sections:
        for entry in section.entries:
            if entry.header is None or entry.value is None:
                continue
            if entry.header == entry.value:
                print(
                    f"gen_xlat: note: {source}:{entry.line}: the headers now give"
                    f" {entry.text} = {entry.value}; the explicit value can go",
                    file=sys.stderr,
                )
            elif (entry.header - entry.value) % (1 << 32):
                raise SpecError(
                    f"{source}:{entry.line}: {section.name}: {entry.text} is {entry.value}"
                    f" here but {entry.header} in the headers"
                )


# --- the module ----------------------------------------------------------------


def _number(value: int, base: str) -> str:
    sign = "-" if value < 0 else ""
    if base == "hex" and value:
        return f"{sign}0x{abs(value):X}"
    if base == "oct" and abs(value) >= 8:
        return f"{sign}0o{abs(value):o}"
    return str(value)


def _value(entry: Entry) -> int:
    assert entry.value is not None
    return entry.value


def _render_section(section: Section) -> list[str]:
    annotation = KINDS[section.kind][0]
    out = [f"#: {line}" if line else "#:" for line in section.doc]
    entries = section.entries

    def comment(entry: Entry, also_name: bool = False) -> str:
        words = [entry.text] if also_name else []
        if entry.reason:
            words.append("explicit in tools/xlat.in")
        return f"  # {'; '.join(words)}" if words else ""

    def num(entry: Entry) -> str:
        return _number(_value(entry), section.base)

    if section.kind == "const":
        (entry,) = entries
        note = comment(entry, also_name=entry.text != section.name)
        out.append(f"{section.name}: {annotation} = {num(entry)}{note}")
    elif section.kind == "flags" and len(entries) == 1:  # as ruff format writes it
        (entry,) = entries
        pair = f"({num(entry)}, {json.dumps(entry.text)})"
        out.append(f"{section.name}: {annotation} = ({pair},){comment(entry)}")
    elif section.kind == "flags":
        out.append(f"{section.name}: {annotation} = (")
        out += [f"    ({num(e)}, {json.dumps(e.text)}),{comment(e)}" for e in entries]
        out.append(")")
    elif section.kind == "values":
        seen: dict[int, str] = {}
        for e in entries:
            if _value(e) in seen:
                raise SpecError(
                    f"{section.name}: {e.text} and {seen[_value(e)]} share value {_value(e)}"
                )
            seen[_value(e)] = e.text
        out.append(f"{section.name}: {annotation} = {{")
        out += [f"    {num(e)}: {json.dumps(e.text)},{comment(e)}" for e in entries]
        out.append("}")
    else:  # set
        out.append(f"{section.name}: {annotation} = frozenset(")
        out.append("    {")
        out += [f"        {num(e)},{comment(e, also_name=True)}" for e in entries]
        out.append("    }")
        out.append(")")
    return out


def explicit_entries(sections: list[Section]) -> list[tuple[Section, Entry]]:
    return [(s, e) for s in sections for e in s.entries if e.reason]


def header_version() -> str:
    """The installed linux-libc-dev and libc6-dev versions, as dpkg reports them."""
    try:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Package} ${Version} (${Architecture})\\n", *PACKAGES],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        return "unknown (dpkg-query not found)"
    if proc.returncode != 0 or not proc.stdout.strip():
        return "unknown"
    return ", ".join(proc.stdout.split("\n")[:2]).strip(", ")


def render(sections: list[Section]) -> str:
    """The full text of _xlat.py (the entries' values must be filled)."""
    explicit = explicit_entries(sections)
    defines = [(s, p) for s in sections for p in s.preamble if _DIRECTIVE.match(p)]
    defines = [(s, p) for s, p in defines if re.match(r"#\s*define\s+(?!_GNU_SOURCE\b)", p)]
    out = [
        "# Generated by tools/gen_xlat.py from tools/xlat.in -- do not edit by hand.",
        "# Regenerate: python tools/gen_xlat.py (or make tables); verify: --check.",
        f"{VERSION_PREFIX}{header_version()}",
        "# Values: each table's headers in tools/xlat.in, compiled and printed by gcc (x86_64).",
    ]
    if explicit or defines:
        out.append("# Not from an installed header (the reasons are in tools/xlat.in):")
        out += [f"#   {s.name}: {p}" for s, p in defines]
        out += [f"#   {s.name}: {e.text} = {_number(_value(e), s.base)}" for s, e in explicit]
    out += [
        '"""Symbolic constants for decoding syscall arguments, in strace\'s print order.',
        "",
        "A flag table is a tuple of (value, name) pairs: a name is printed when all",
        "of its bits are set, in table order (the order strace 6.1 prints them in,",
        "checked against its output on x86_64). A value table maps a number to a name.",
        "Values are the x86_64 ones; OPEN_FLAGS_AARCH64 holds the open flags as arm64",
        "defines them.",
        "",
        "Generated from the kernel and libc headers by tools/gen_xlat.py; the names and",
        "their order are in tools/xlat.in. To change a table, edit tools/xlat.in and run",
        "``python tools/gen_xlat.py`` (``--check`` tells whether this file is current).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Final",
        "",
        "Flags = tuple[tuple[int, str], ...]",
        "Values = dict[int, str]",
    ]
    for section in sections:
        out.append("")
        out += _render_section(section)
    return "\n".join(out) + "\n"


def generate(spec: Path = SPEC) -> str:
    """The text of _xlat.py for the spec at SPEC."""
    try:
        text = spec.read_text()
    except OSError as err:
        raise SpecError(f"cannot read {spec}: {err}") from err
    sections = parse(text, str(spec))
    header_values(sections, str(spec))
    return render(sections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the checked-in file is out of date"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT, help="Python file to write")
    parser.add_argument("--spec", type=Path, default=SPEC, help="the table spec to read")
    args = parser.parse_args(argv)
    try:
        text = generate(args.spec)
    except SpecError as err:
        print(f"gen_xlat: {err}", file=sys.stderr)
        return 2
    return write_or_check("gen_xlat", {args.output: text}, args.check)


if __name__ == "__main__":
    sys.exit(main())
