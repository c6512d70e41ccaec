"""Writing, or checking, the files the tools/ generators make.

A generated file names the header packages it was made from on a line starting
with VERSION_PREFIX; ``--check`` ignores that line, so a point release of the
headers with identical tables does not fail the check.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

VERSION_PREFIX = "# Headers: "


def _comparable(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith(VERSION_PREFIX)]


def write_or_check(tool: str, outputs: Mapping[Path, str], check: bool) -> int:
    """Write every output, or (CHECK) exit status 1 if one differs from what it would be."""
    for path, text in outputs.items():
        if not check:
            path.write_text(text)
            continue
        try:
            current = path.read_text()
        except OSError as err:
            print(f"{tool}: cannot read {path}: {err}", file=sys.stderr)
            return 1
        if _comparable(current) != _comparable(text):
            print(f"{tool}: {path} is out of date; run python tools/{tool}.py", file=sys.stderr)
            return 1
    return 0
