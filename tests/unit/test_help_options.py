"""The GNU ``--help`` parser and the scenarios it generates (sysphase.workloads.help_options)."""

from __future__ import annotations

import pytest

from sysphase.errors import UsageError
from sysphase.workloads.help_options import OptionSpec, option_scenarios, parse_help
from sysphase.workloads.scenario import parse

#: an excerpt of GNU coreutils 9.1 ``ls --help`` (LC_ALL=C)
EXCERPT = """\
Usage: ls [OPTION]... [FILE]...
  -a, --all                  do not ignore entries starting with .
      --block-size=SIZE      with -l, scale sizes by SIZE when printing them;
                             e.g., '--block-size=M'; see SIZE format below

  -C                         list entries by columns
      --color[=WHEN]         color the output WHEN; more info below
      --format=WORD          across -x, commas -m, horizontal -x, long -l,
                             single-column -1, verbose -l, vertical -C

      --group-directories-first
                             group directories before files;
  -I, --ignore=PATTERN       do not list implied entries matching shell PATTERN
  -p, --indicator-style=slash
                             append / indicator to directories
      --sort=WORD            sort by WORD instead of name: none (-U), size (-S),
                             time (-t), version (-v), extension (-X), width

      --time=WORD            change the default of using modification times;
                               access time (-u): atime, access, use;
                               change time (-c): ctime, status;
      --time-style=TIME_STYLE
                             time/date format with -l; see TIME_STYLE below
  -w, --width=COLS           set output width to COLS.  0 means no limit
  -Z, --context              print any security context of each file
      --help        display this help and exit

The TIME_STYLE argument can be full-iso, long-iso, iso, locale, or +FORMAT.
FORMAT is interpreted like in date(1).  TIME_STYLE prefixed with 'posix-' is not a value.

The WHEN argument defaults to 'always' and can also be 'auto' or 'never'.
"""


def _by_name(specs: tuple[OptionSpec, ...]) -> dict[str, OptionSpec]:
    return {s.long or s.short: s for s in specs}


def test_flags_short_and_long() -> None:
    specs = _by_name(parse_help(EXCERPT))
    assert specs["--all"] == OptionSpec("-a", "--all", text=specs["--all"].text)
    assert (specs["-C"].short, specs["-C"].long, specs["-C"].metavar) == ("-C", "", "")
    assert specs["--context"].short == "-Z"
    assert specs["--group-directories-first"].text.startswith("group directories")
    assert list(specs)[:3] == ["--all", "--block-size", "-C"]  # help order


FORMATS = ("across", "commas", "horizontal", "long", "single-column", "verbose", "vertical")


@pytest.mark.parametrize(
    ("option", "values"),
    [
        ("--block-size", ("M",)),  # the quoted example
        ("--color", ("always", "auto", "never")),  # the WHEN paragraph's quoted words
        ("--format", FORMATS),
        ("--sort", ("none", "size", "time", "version", "extension", "width")),
        ("--time", ("atime", "access", "use", "ctime", "status")),
        ("--time-style", ("full-iso", "long-iso", "iso", "locale")),  # not +FORMAT nor posix-
        ("--ignore", ("*.txt",)),  # free-form: the fixed value
        ("--width", ("80",)),
    ],
)
def test_argument_values_come_from_the_text(option: str, values: tuple[str, ...]) -> None:
    assert _by_name(parse_help(EXCERPT))[option].values == values


def test_optional_argument_and_fixed_spelling() -> None:
    specs = _by_name(parse_help(EXCERPT))
    assert specs["--color"].optional and specs["--color"].metavar == "WHEN"
    assert not specs["--sort"].optional
    assert (specs["--indicator-style"].short, specs["--indicator-style"].fixed) == ("-p", "slash")


def test_scenarios_named_after_the_option() -> None:
    made = option_scenarios("ls", parse_help(EXCERPT), ("{tree}",))
    argv = {s.name: s.argv for s in made}
    assert argv["option-a"] == ("ls", "-a", "{tree}")
    assert argv["option-Z"] == ("ls", "-Z", "{tree}")
    assert argv["option--color"] == ("ls", "--color", "{tree}")
    assert argv["option--color-never"] == ("ls", "--color=never", "{tree}")
    assert argv["option--sort-size"] == ("ls", "--sort=size", "{tree}")
    assert argv["option--width"] == ("ls", "--width=80", "{tree}")
    assert argv["option--ignore"] == ("ls", "--ignore=*.txt", "{tree}")
    assert argv["option-p"] == ("ls", "-p", "{tree}")
    assert "option--help" not in argv
    assert all(s.tag == "train" for s in made)
    assert len(argv) == len(made)  # names are unique
    assert made == option_scenarios("ls", parse_help(EXCERPT), ("{tree}",))  # deterministic


def test_prose_is_not_an_option() -> None:
    assert parse_help("Usage: x [OPTION]\nSome text, with commas: a, b.\n\n  0  if OK,\n") == ()


def test_generate_key_is_checked() -> None:
    base = (
        'workload = "w"\nprogram = "ls"\n[[scenario]]\nname = "s"\ntag = "train"\nargv = ["ls"]\n'
    )
    assert parse('generate = "ls-help"\n' + base, "w.toml").generate == "ls-help"
    assert parse(base, "w.toml").generate == ""
    with pytest.raises(UsageError, match="generate: 'x' is not one of ls-help"):
        parse('generate = "x"\n' + base, "w.toml")
