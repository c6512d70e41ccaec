"""The sqlite3 generator (sysphase.workloads.sqlite_catalog) on output shaped like the shell's.

Pure; tests/e2e checks it against the real sqlite3.
"""

from __future__ import annotations

from sysphase.workloads import sqlite_catalog as sc
from sysphase.workloads.scenario import ANY_EXIT

OUTPUT = """pragma|journal_mode
pragma|table_info
function|abs|1
function|readfile|1
function|edit|1
function|edit|2
function|max|-1
.backup ?DB? FILE        Backup DB (default "main") to FILE
.bail on|off             Stop after hitting an error.  Default OFF
.read FILE               Read input from FILE or command output
.shell CMD ARGS...       Run CMD ARGS... in a system shell
.width NUM1 NUM2 ...     Set minimum column widths for columnar output
a stray line
"""


def test_parse_reads_pragmas_functions_and_dot_commands():
    cat = sc.parse(OUTPUT)
    assert cat.pragmas == ("journal_mode", "table_info")
    assert cat.functions == (("abs", 1), ("readfile", 1), ("edit", 1), ("edit", 2), ("max", -1))
    assert [name for name, _ in cat.dots] == ["backup", "bail", "read", "shell", "width"]
    assert dict(cat.dots)["backup"] == ("?DB?", "FILE")


def test_one_scenario_per_entry_named_for_it_and_the_left_out_ones_missing():
    scenarios = {s.name: s for s in sc.scenarios("sqlite3", sc.parse(OUTPUT))}
    assert set(scenarios) == {
        "pragma-journal_mode",
        "pragma-table_info",
        "function-abs",
        "function-readfile",
        "function-max",
        "dot-backup",
        "dot-bail",
        "dot-read",
        "dot-width",
    }
    assert "dot-shell" in sc.LEFT_OUT and "function-edit" in sc.LEFT_OUT
    for s in scenarios.values():
        assert s.tag == "train" and s.argv == ("sqlite3", "{db}") and s.exit == ANY_EXIT
        assert "CREATE TABLE IF NOT EXISTS t(" in (s.stdin or "")


def test_entries_are_called_every_way_the_listing_allows():
    scenarios = {s.name: s for s in sc.scenarios("sqlite3", sc.parse(OUTPUT))}
    body = scenarios["pragma-table_info"].stdin or ""
    assert "PRAGMA table_info;\nPRAGMA table_info(t);\nPRAGMA table_info = 1;" in body
    assert "SELECT max(1);" in (scenarios["function-max"].stdin or "")  # variadic: one argument
    backup = scenarios["dot-backup"].stdin or ""
    assert ".backup {tmp}/dot-out\n.backup main {tmp}/dot-out\n" in backup
    assert (scenarios["dot-bail"].stdin or "").endswith(".bail on\n")
    read = scenarios["dot-read"]
    assert ".read {tmp}/in.sql" in (read.stdin or "") and read.files[0][0] == "in.sql"
    assert (scenarios["dot-width"].stdin or "").endswith(".width\n")


def test_settings_rotate_over_the_entries_and_the_seed_shifts_them():
    settings = [sql for _, sql in sc.SETTINGS]
    first = [(s.stdin or "").splitlines()[0] for s in sc.scenarios("sqlite3", sc.parse(OUTPUT))]
    assert set(first) == set(settings)
    shifted = [
        (s.stdin or "").splitlines()[0] for s in sc.scenarios("sqlite3", sc.parse(OUTPUT), seed=1)
    ]
    assert shifted != first and shifted[0] == first[1]
