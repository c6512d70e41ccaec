"""`sysphase stats`: merge the profiles given and show them per program and phase.

On a terminal: rich tables and a rich tree (cli/terminal.py); in a pipe: plain text.
"""

from __future__ import annotations

import argparse
import json
import sys

from sysphase._host import files
from sysphase.cli import terminal
from sysphase.model import profile_merge, profile_stats
from sysphase.report.profile_view import render_process_tree, render_stats


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("profiles", nargs="+", metavar="PROFILE")
    p.add_argument("--json", action="store_true", help="totals and per program/phase as JSON")


def run(args: argparse.Namespace) -> int:
    merged = profile_merge.merge_all(files.read_profile(p) for p in args.profiles)
    if args.json:
        print(json.dumps(profile_stats.stats_json(merged), indent=2, sort_keys=True))
        return 0
    console = terminal.console_for(sys.stdout)
    if console is None:
        print(render_stats(merged), end="")
        print(render_process_tree(merged), end="")
        return 0
    from sysphase.report import rich_views

    terminal.show(console, rich_views.stats(merged), lambda: render_stats(merged))
    console.print()
    tree = rich_views.process_tree(merged, console.width)
    terminal.show(console, tree, lambda: render_process_tree(merged))
    return 0
