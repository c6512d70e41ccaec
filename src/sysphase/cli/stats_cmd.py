"""`sysphase stats`: merge the profiles given and show them per program and phase.

On a terminal: rich tables and a rich tree (cli/terminal.py); in a pipe: plain text.
With ``--coverage`` (seconds: it reads and disassembles each program and its
libraries, :mod:`sysphase._host.program_code`), per program and phase the
calls seen of those its code can reach (:mod:`sysphase.coverage.ratio`),
after the rest, and under ``"coverage"`` in ``--json``; a program that is
missing or not ELF gets the reason its reach is unknown.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from sysphase._host import files
from sysphase.cli import terminal
from sysphase.model import profile_merge, profile_stats
from sysphase.model.profile import Profile
from sysphase.report.profile_view import render_process_tree, render_stats

if TYPE_CHECKING:
    from sysphase.coverage.report import ProgramCoverage


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("profiles", nargs="+", metavar="PROFILE")
    p.add_argument("--json", action="store_true", help="totals and per program/phase as JSON")
    p.add_argument(
        "--coverage",
        action="store_true",
        help="also the calls seen of those each program's code can reach (takes seconds)",
    )


def _coverage(merged: Profile, names: list[str]) -> tuple[list[ProgramCoverage], dict[str, str]]:
    """Each program's coverage, and why it is unknown for the others (imported on use)."""
    from sysphase._host.program_code import ProgramCode
    from sysphase.coverage import report

    name = names[0] if len(names) == 1 else "the profiles"
    reaches, unknown = ProgramCode(name).reaches_or_reasons(merged)
    return list(report.cover(merged, reaches)), unknown


def run(args: argparse.Namespace) -> int:
    merged = profile_merge.merge_all(files.read_profile(p) for p in args.profiles)
    covered = _coverage(merged, args.profiles) if args.coverage else None
    if args.json:
        doc = profile_stats.stats_json(merged)
        if covered is not None:
            from sysphase.coverage.ratio import ratio_json

            doc["coverage"] = ratio_json(*covered)
        print(json.dumps(doc, indent=2, sort_keys=True))
        return 0
    console = terminal.console_for(sys.stdout)
    if console is None:
        print(render_stats(merged), end="")
        print(render_process_tree(merged), end="")
    else:
        from sysphase.report import rich_views

        terminal.show(console, rich_views.stats(merged), lambda: render_stats(merged))
        console.print()
        tree = rich_views.process_tree(merged, console.width)
        terminal.show(console, tree, lambda: render_process_tree(merged))
    if covered is not None:
        from sysphase.coverage.ratio import render_ratios

        print(render_ratios(*covered), end="")
    return 0
