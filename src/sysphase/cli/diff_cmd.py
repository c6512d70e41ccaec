"""`sysphase diff A B`: the syscalls B adds and removes, per program and phase."""

from __future__ import annotations

import argparse

from sysphase._host import files
from sysphase.model import profile as prof
from sysphase.report.profile_view import render_diff


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", metavar="PROFILE_A")
    p.add_argument("b", metavar="PROFILE_B")


def run(args: argparse.Namespace) -> int:
    result = prof.diff(files.read_profile(args.a), files.read_profile(args.b))
    print(render_diff(result), end="")
    return 0
