"""`sysphase export`: a profile's timelines in another tool's format (report/perfetto.py).

``--format perfetto`` (the default, and the only format for now) writes
Chrome trace-event JSON that ui.perfetto.dev ("Open trace file") and
chrome://tracing open: each run's processes, threads and program images,
their phases and the first-to-last span of each syscall. ``-o OUT`` writes
through the non-destructive writer (``-`` or no ``-o``: standard output).
A profile without timelines (recorded before sysphase kept them, or a
complain-mode fragment) is one sentence and exit status 2: an empty trace
would open as a blank screen and say nothing of why.
"""

from __future__ import annotations

import argparse

from sysphase import __version__
from sysphase._host import files
from sysphase.errors import UsageError
from sysphase.report import perfetto


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=perfetto.FORMATS,
        default="perfetto",
        help="perfetto: Chrome trace-event JSON for ui.perfetto.dev and chrome://tracing "
        "(the default, and the only format for now)",
    )
    p.add_argument("profile", metavar="PROFILE", help="a profile with timelines (sysphase record)")
    p.add_argument(
        "-o",
        dest="output",
        default="-",
        metavar="OUT",
        help="output file (default or '-': standard output)",
    )


def run(args: argparse.Namespace) -> int:
    profile = files.read_profile(args.profile)
    if not profile.timelines:
        raise UsageError(
            f"{args.profile} has no timelines: it was recorded before sysphase kept them, or "
            "it is a complain-mode fragment; record it again with sysphase record to export it"
        )
    files.refuse_overwriting_inputs(args.output, [args.profile], f"-o {args.output}")
    doc = perfetto.trace(profile, {"profile": args.profile, "generator": f"sysphase {__version__}"})
    files.write_atomic(args.output, perfetto.encode(doc))
    return 0
