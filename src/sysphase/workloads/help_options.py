"""Generated scenarios: the options a GNU ``--help`` text lists, one train scenario each.

Pure: :func:`parse_help` takes the help text (``PROGRAM --help`` under
``LC_ALL=C``; the runner runs it) and returns an :class:`OptionSpec` per
option line; :func:`option_scenarios` turns those into scenarios, in help
order, deterministically. An option's argument values come from the help
text itself: a quoted example in its description (``'--block-size=M'``), a
list in its description (``--sort=WORD  sort by WORD instead of name: none
(-U), size (-S), ...``), or the paragraph about its argument further down
(``The WHEN argument defaults to 'always' and can also be 'auto' or
'never'.``); a free-form argument the text gives no value for (COLS, PATTERN)
gets one fixed value from :data:`FREE_FORM`. An option with no value found
is left out. docs/workloads.md ("Generated scenarios") describes the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sysphase.workloads.scenario import Scenario

__all__ = ["FREE_FORM", "SKIPPED", "OptionSpec", "option_scenarios", "parse_help"]

#: one fixed valid value for a free-form argument the help text gives none for
FREE_FORM = {"COLS": "80", "PATTERN": "*.txt", "SIZE": "1K"}
#: options that do not list anything: no scenario
SKIPPED = ("--help", "--version")

# "  -a, --all   text", "      --color[=WHEN]   text", "  -T, --tabsize=COLS   text"
_OPTION_LINE = re.compile(
    r"^ {1,8}(?:(?P<short>-[A-Za-z0-9])(?:, |\s*$|\s{2,}))?"
    r"(?P<long>--[a-z0-9][a-z0-9-]*)?"
    r"(?:(?P<optional>\[=(?P<optarg>[A-Z_]+)\])|=(?P<arg>[A-Za-z_][A-Za-z0-9_-]*))?"
    r"(?:\s{2,}(?P<text>\S.*))?$"
)
_CONTINUATION = re.compile(r"^ {9,}(?P<text>\S.*)$")
_WORD = r"[a-z][a-z0-9-]*"
# a value list: "none (-U), size (-S), ..., width" or "across -x, commas -m, ..."
_ITEM = rf"{_WORD}(?:\s*\([^)]*\)|\s+-[A-Za-z0-9])?"
_LIST = re.compile(rf"(?:^|:)\s*({_ITEM}(?:\s*,\s*{_ITEM})+)")
_EXAMPLE = "'{long}=([^'\\s]+)'"
_QUOTED = re.compile(r"'([A-Za-z0-9][A-Za-z0-9-]*)'")
# "can be full-iso, long-iso, iso, locale, or +FORMAT": the words of such a series
_SERIES = re.compile(rf"(?<![\w+-])({_WORD})(?=,|\.?$)")


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One option line of a help text.

    ``short`` / ``long`` as spelled (``-Z``, ``--context``; either may be empty);
    ``metavar`` the argument's name (``WORD``, ``WHEN``) or "" for a flag;
    ``optional`` when the argument may be left out (``--color[=WHEN]``);
    ``values`` the argument values to run, in the help text's order;
    ``fixed`` a literal value the line spells (``-p, --indicator-style=slash``).
    """

    short: str
    long: str
    metavar: str = ""
    optional: bool = False
    values: tuple[str, ...] = ()
    fixed: str = ""
    text: str = ""


def _entries(lines: list[str]) -> list[tuple[re.Match[str], str]]:
    """Each option line's match with its description (continuation lines joined)."""
    out: list[tuple[re.Match[str], str]] = []
    for line in lines:
        cont = _CONTINUATION.match(line)
        if cont and out:
            out[-1] = (out[-1][0], f"{out[-1][1]} {cont['text']}".strip())
            continue
        m = _OPTION_LINE.match(line)
        if m and (m["short"] or m["long"]):
            out.append((m, m["text"] or ""))
    return out


def _paragraph(help_text: str, metavar: str) -> str:
    """The first sentence about an argument: ``The WHEN argument ... .``"""
    m = re.search(
        rf"^The {re.escape(metavar)} argument (.*?)(?:\.\s|\n\s*\n|\Z)", help_text, re.M | re.S
    )
    return " ".join(m[1].split()) if m else ""


def _listed(text: str) -> tuple[str, ...]:
    """The words of every value list in a description, in order, each once."""
    words: list[str] = []
    for m in _LIST.finditer(text):
        for item in m[1].split(","):
            word = item.split()[0].split("(")[0]
            if word not in words:
                words.append(word)
    return tuple(words)


def _values(long: str, metavar: str, text: str, help_text: str) -> tuple[str, ...]:
    """The argument values of an option, from the help text (see the module docstring)."""
    example = re.search(_EXAMPLE.format(long=re.escape(long)), text) if long else None
    if example:
        return (example[1],)
    listed = _listed(text)
    if len(listed) >= 2:
        return listed
    about = _paragraph(help_text, metavar)
    quoted = tuple(dict.fromkeys(_QUOTED.findall(about)))
    literal = tuple(_SERIES.findall(about))
    if quoted or len(literal) >= 2:
        return quoted or literal
    return (FREE_FORM[metavar],) if metavar in FREE_FORM else ()


def parse_help(help_text: str) -> tuple[OptionSpec, ...]:
    """Every option a GNU ``--help`` text lists, in its order."""
    specs: list[OptionSpec] = []
    for m, text in _entries(help_text.splitlines()):
        short, long = m["short"] or "", m["long"] or ""
        metavar = m["optarg"] or m["arg"] or ""
        if metavar and not metavar.isupper():  # "-p, --indicator-style=slash": a spelling
            specs.append(OptionSpec(short, long, fixed=metavar, text=text))
            continue
        values = _values(long, metavar, text, help_text) if metavar else ()
        specs.append(OptionSpec(short, long, metavar, m["optional"] is not None, values, "", text))
    return tuple(specs)


def _name(option: str, value: str = "") -> str:
    """``option-Z``, ``option--color``, ``option--sort-size``: letters, digits, _ . -."""
    suffix = "-" + re.sub(r"[^A-Za-z0-9_.-]", "_", value) if value else ""
    return f"option{option}{suffix}"


def _runs(spec: OptionSpec) -> list[tuple[str, list[str]]]:
    """(scenario name, option arguments) for one option."""
    flag = spec.short or (f"{spec.long}={spec.fixed}" if spec.fixed else spec.long)
    if not spec.metavar:
        return [(_name(spec.short or spec.long), [flag])]
    runs = [(_name(spec.short or spec.long), [flag])] if spec.optional else []
    spelling = spec.long or spec.short
    listed = len(spec.values) > 1 or spec.optional
    for value in spec.values:
        arg = f"{spelling}={value}" if spec.long else f"{spelling}{value}"
        runs.append((_name(spelling, value if listed else ""), [arg]))
    return runs


def option_scenarios(
    program: str, specs: tuple[OptionSpec, ...], operands: tuple[str, ...]
) -> tuple[Scenario, ...]:
    """One train scenario per option and listed value: ``PROGRAM OPTION OPERANDS``."""
    out: list[Scenario] = []
    for spec in specs:
        if spec.long in SKIPPED:
            continue
        for name, args in _runs(spec):
            out.append(Scenario(name, "train", (program, *args, *operands)))
    return tuple(out)
