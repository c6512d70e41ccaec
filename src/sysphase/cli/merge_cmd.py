"""`sysphase merge`: merge profiles (nodes matched by executable and tree position)."""

from __future__ import annotations

import argparse

from sysphase._host import files
from sysphase.model import profile_codec, profile_merge


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", dest="output", required=True, metavar="OUT")
    p.add_argument("profiles", nargs="+", metavar="PROFILE")


def run(args: argparse.Namespace) -> int:
    merged = profile_merge.merge_all(files.read_profile(p) for p in args.profiles)
    files.write_atomic(args.output, profile_codec.encode(merged))
    return 0
