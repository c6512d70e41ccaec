"""`sysphase stats`: merge the profiles given and show them per program and phase."""

from __future__ import annotations

import argparse
import json

from sysphase._host import files
from sysphase.model import profile as prof
from sysphase.report.profile_view import render_process_tree, render_stats


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("profiles", nargs="+", metavar="PROFILE")
    p.add_argument("--json", action="store_true", help="totals and per program/phase as JSON")


def run(args: argparse.Namespace) -> int:
    merged = prof.merge_all(files.read_profile(p) for p in args.profiles)
    if args.json:
        print(json.dumps(prof.stats_json(merged), indent=2, sort_keys=True))
    else:
        print(render_stats(merged), end="")
        print(render_process_tree(merged), end="")
    return 0
