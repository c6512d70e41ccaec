"""Generated sqlite3 scenarios: every pragma, SQL function and dot-command the shell lists.

Pure. The input is the output of :data:`QUERY` fed to ``sqlite3 :memory:``
(the runner runs it, sysphase.workloads.self_description): ``PRAGMA
pragma_list``, ``PRAGMA function_list`` and ``.help``. :func:`parse` reads it
into a :class:`Catalog`; :func:`scenarios` makes one train scenario per
entry, named for it (``pragma-journal_mode``, ``function-readfile``,
``dot-backup``), each a script on stdin over a database set up in one of
:data:`SETTINGS` (WAL, DELETE journal with an attached database, temporary
storage in a file, large blobs), rotated over the entries from a seed so every
setting meets many entries.

- a pragma is read (``PRAGMA p;``), called with a table (``PRAGMA p(t);``) and
  set (``PRAGMA p = 1;``); most accept only some of these, the rest are errors;
- a function is called with as many arguments as it takes (one for a variable
  number), once with numbers and once with text (``'f0'``, a file name in
  ``{tmp}``: fixed, so a run never depends on the folder's random name —
  sqlite 3.40.1's ``decimal_mul`` loops forever on some texts);
- a dot-command runs with its required arguments, then with its optional ones
  too, each filled in by the name the help text gives it (:data:`DOT_VALUES`).

The shell goes past errors (no ``-bail``), so a generated scenario accepts any
exit status but a signal's; each run is bounded by :data:`TIMEOUT` seconds.
Left out, with the reason (:data:`LEFT_OUT`): what runs other programs
(``.shell``, ``.system``, ``.excel``, ``edit()``) — a policy trained on them
would let sqlite3 start programs; write a scenario for it if your deployment
does that.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sysphase.workloads.scenario import ANY_EXIT, Scenario

__all__ = [
    "DOT_VALUES",
    "LEFT_OUT",
    "QUERY",
    "SETTINGS",
    "TIMEOUT",
    "Catalog",
    "parse",
    "scenario_name",
    "scenarios",
]

#: seconds a generated scenario may run before it is killed and the recording fails
TIMEOUT = 30.0
#: what the shell is asked (its stdout is what parse reads)
QUERY = """.mode list
.separator |
SELECT 'pragma', name FROM pragma_pragma_list ORDER BY name;
SELECT 'function', name, narg FROM pragma_function_list ORDER BY name, narg;
.help
"""
#: entries not generated, with why
LEFT_OUT = {
    "dot-shell": "runs a program through /bin/sh",
    "dot-system": "runs a program through /bin/sh",
    "dot-excel": "starts a spreadsheet program",
    "function-edit": "starts an editor",
}
#: (name, SQL run first): the database settings generated scenarios rotate over
SETTINGS = (
    ("wal", "PRAGMA journal_mode = WAL;"),
    ("attach", "PRAGMA journal_mode = DELETE; ATTACH '{tmp}/aux.db' AS aux;"),
    ("temp-file", "PRAGMA temp_store = FILE; CREATE TEMP TABLE scratch(x);"),
    ("blobs", "PRAGMA journal_mode = TRUNCATE;"),
)
#: a table, an index, rows and a large blob: what pragmas and dot-commands act on
_DATA = """CREATE TABLE IF NOT EXISTS t(a INTEGER PRIMARY KEY, b TEXT, c BLOB);
CREATE INDEX IF NOT EXISTS ti ON t(b);
INSERT INTO t(b, c) VALUES ('x', randomblob(64)), ('y', zeroblob({blob}));
"""
#: dot-command argument values by the name ``.help`` gives them
DOT_VALUES = {
    "FILE": "{tmp}/dot-out",
    "DB": "main",
    "TABLE": "t",
    "INDEX": "ti",
    "DIRECTORY": "{tmp}",
    "GLOB": "*",
    "NEWDB": "{tmp}/clone.db",
    "MODE": "csv",
    "STRING": "x",
    "STRING...": "x",
    "N": "10",
    "MS": "10",
    "MAIN": "a>",
    "CONTINUE": "b>",
    "NUM1": "5",
    "NUM2": "5",
    "COL": ",",
    "ROW": "\\n",
    "NAME": "gen",
    "PATTERN": "t%",
    "OBJECTS": "t",
    "LIMIT": "length",
    "VAL": "1000000",
    "CODE": "0",
    "AUX": "",
    "op": "defensive",
    "val": "on",
}
#: the file a dot-command's FILE argument names, when it must exist (the scenario writes it)
_INPUT_FILES = {
    "read": ("{tmp}/in.sql", "in.sql", "SELECT 'read', 1;\n"),
    "import": ("{tmp}/in.csv", "in.csv", "a,b,c\n1,x,y\n"),
    "restore": ("{tmp}/aux.db", "", ""),
    "open": ("{tmp}/other.db", "", ""),
    "load": ("/nonexistent/extension.so", "", ""),
}
_Files = tuple[tuple[str, str], ...]
_DOT_LINE = re.compile(r"^\.(?P<name>[a-z][a-z0-9_-]*)(?P<args>(?: \S+)*)\s{2,}\S")


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the shell lists: pragma names, (function, argument count), dot-command lines."""

    pragmas: tuple[str, ...]
    functions: tuple[tuple[str, int], ...]
    dots: tuple[tuple[str, tuple[str, ...]], ...]


def parse(text: str) -> Catalog:
    """The catalog in the output of QUERY (unknown lines are skipped)."""
    pragmas: list[str] = []
    functions: list[tuple[str, int]] = []
    dots: list[tuple[str, tuple[str, ...]]] = []
    for line in text.splitlines():
        fields = line.split("|")
        if fields[0] == "pragma" and len(fields) == 2:
            pragmas.append(fields[1])
        elif fields[0] == "function" and len(fields) == 3 and fields[2].lstrip("-").isdigit():
            functions.append((fields[1], int(fields[2])))
        elif m := _DOT_LINE.match(line):
            dots.append((m["name"], tuple(m["args"].split())))
    return Catalog(tuple(dict.fromkeys(pragmas)), tuple(dict.fromkeys(functions)), tuple(dots))


def _dot_args(name: str, words: Sequence[str], optional: bool) -> list[str] | None:
    """The filled-in arguments, or None when a required one has no value."""
    out: list[str] = []
    for word in words:
        is_optional = (word.startswith("?") and word.endswith("?") and len(word) > 1) or (
            word.startswith("[")
        )
        bare = word.strip("?").strip("[]")
        if is_optional and not optional:
            continue
        if "|" in bare:  # on|off, FILE|off: the first alternative
            bare = bare.split("|")[0]
        if bare in ("...", "OPTIONS", "CMD", "ARGS...", "ARG", "ENTRY", "#", "close", "-all"):
            if is_optional:
                continue
            return None
        if bare == "FILE" and name in _INPUT_FILES:
            out.append(_INPUT_FILES[name][0])
        elif bare in DOT_VALUES:
            if DOT_VALUES[bare]:
                out.append(DOT_VALUES[bare])
        elif bare.islower() or bare.isupper():
            out.append(bare)  # a literal spelling: on, off, --indent
        else:
            return None
    return out


def _script(setting: str, body: str, blob: int) -> str:
    return f"{setting}\n{_DATA.format(blob=blob)}{body}"


def _setting(index: int, seed: int) -> tuple[str, int]:
    name, sql = SETTINGS[(index + seed) % len(SETTINGS)]
    return sql, (4_000_000 if name == "blobs" else 1000)


def _scenario(
    program: str, name: str, index: int, seed: int, body: str, files: _Files = ()
) -> Scenario:
    sql, blob = _setting(index, seed)
    return Scenario(
        name,
        "train",
        (program, "{db}"),
        stdin=_script(sql, body, blob),
        exit=ANY_EXIT,
        files=files,
        timeout=TIMEOUT,
    )


def scenario_name(kind: str, name: str) -> str:
    """``pragma-NAME``, ``function-NAME``, ``dot-NAME``: what a scenario covers, as a name.

    An operator function (``->``, ``->>``) is spelled out: ``function-op-2d3e``.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        name = "op-" + name.encode().hex()
    return f"{kind}-{name}"


def _function_calls(name: str, narg: int) -> list[str]:
    """SELECTs calling function NAME with NARG arguments: numbers, then text (file names)."""
    numbers = [str(i + 1) for i in range(narg)]
    texts = [f"'f{i}'" for i in range(narg)]  # file names in {tmp}, the working directory
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):  # an operator: a op b
        return (
            [f"SELECT {f' {name} '.join(args)};" for args in (numbers, texts)] if narg == 2 else []
        )
    return [f"SELECT {name}({', '.join(args)});" for args in (numbers, texts)]


def scenarios(program: str, catalog: Catalog, seed: int = 0) -> tuple[Scenario, ...]:
    """One train scenario per pragma, function and dot-command, in the catalog's order."""
    out: list[Scenario] = []
    for pragma in catalog.pragmas:
        body = f"PRAGMA {pragma};\nPRAGMA {pragma}(t);\nPRAGMA {pragma} = 1;\n"
        out.append(_scenario(program, scenario_name("pragma", pragma), len(out), seed, body))
    arities: dict[str, list[int]] = {}
    for name, narg in catalog.functions:
        arities.setdefault(name, []).append(narg)
    for name, nargs in arities.items():
        if scenario_name("function", name) in LEFT_OUT:
            continue
        lines = []
        for narg in dict.fromkeys(max(n, 1) if n < 0 else n for n in nargs):
            lines += _function_calls(name, narg)
        body = "\n".join(lines) + "\n"
        out.append(_scenario(program, scenario_name("function", name), len(out), seed, body))
    for name, words in catalog.dots:
        if scenario_name("dot", name) in LEFT_OUT:
            continue
        lines = []
        for optional in (False, True):
            args = _dot_args(name, words, optional)
            if args is not None:
                lines.append(" ".join((f".{name}", *args)))
        if not lines:
            lines = [f".{name}"]
        files: _Files = ()
        if name in _INPUT_FILES and _INPUT_FILES[name][1]:
            files = ((_INPUT_FILES[name][1], _INPUT_FILES[name][2]),)
        body = "\n".join(dict.fromkeys(lines)) + "\n"
        out.append(_scenario(program, scenario_name("dot", name), len(out), seed, body, files))
    return tuple(out)
