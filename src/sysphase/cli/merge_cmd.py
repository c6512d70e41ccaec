"""`sysphase merge`: merge profiles (nodes matched by executable and tree position)."""

from __future__ import annotations

import argparse

from sysphase._host import files
from sysphase.model import profile as prof


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", dest="output", required=True, metavar="OUT")
    p.add_argument("profiles", nargs="+", metavar="PROFILE")


def run(args: argparse.Namespace) -> int:
    merged = prof.merge_all(files.read_profile(p) for p in args.profiles)
    files.write_atomic(args.output, prof.encode(merged))
    return 0
