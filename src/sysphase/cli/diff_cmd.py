"""`sysphase diff A B`: the syscalls B adds and removes, per program and phase.

On a terminal: a rich tree (cli/terminal.py); in a pipe: plain text.
"""

from __future__ import annotations

import argparse
import sys

from sysphase._host import files
from sysphase.cli import terminal
from sysphase.model import profile_diff
from sysphase.report.profile_view import render_diff


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", metavar="PROFILE_A")
    p.add_argument("b", metavar="PROFILE_B")


def run(args: argparse.Namespace) -> int:
    result = profile_diff.diff(files.read_profile(args.a), files.read_profile(args.b))
    console = terminal.console_for(sys.stdout)
    if console is None:
        print(render_diff(result), end="")
        return 0
    from sysphase.report import rich_views

    terminal.show(console, rich_views.diff(result), lambda: render_diff(result))
    return 0
