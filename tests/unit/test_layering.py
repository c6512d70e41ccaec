"""The import rule: pure layers never import the OS or the C core (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "sysphase"
PURE = ["model", "report", "policy", "recording", "coverage"]
FORBIDDEN = {
    "os",
    "subprocess",
    "ctypes",
    "sysphase._core",
    "sysphase._host",
    "signal",
    "socket",
    "shutil",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


PURE_FILES = sorted(p for d in PURE for p in (SRC / d).rglob("*.py"))


@pytest.mark.parametrize("path", PURE_FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_pure_module_imports_nothing_of_the_os(path):
    bad = {n for n in _imports(path) if n in FORBIDDEN or n.split(".")[0] in FORBIDDEN}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_only_the_seam_imports_the_core():
    # the tracer, its record conversions, and keep_pid (the trace that execs in place)
    importers = sorted(
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if any(
            n == "sysphase._core" or n.startswith("sysphase._core") or n == "sysphase._core"
            for n in _imports(p)
        )
        or "from sysphase import _core" in p.read_text()
    )
    assert importers == ["_host/core_records.py", "_host/keep_pid.py", "_host/tracer.py"]


def test_every_module_has_a_docstring():
    missing = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if ast.get_docstring(ast.parse(p.read_text())) is None
    ]
    assert missing == []
