"""`sysphase report PROFILE [--policy P] [--diff OTHER] -o report.html`: one self-contained page.

The page (:mod:`sysphase.report.html_report`) holds the process tree with
each run's phases on a time axis, the syscalls per program and phase with
what each phase drops, the program x syscall heatmap, with ``--policy``
every allowed call's provenance, with ``--diff`` what PROFILE adds to and
removes from OTHER. It fetches nothing: open it anywhere, offline. Inputs
are read like every command's (bounded, one sentence naming a bad file);
the output is written without destroying anything (_host/files.py), and
never over an input.
"""

from __future__ import annotations

import argparse

from sysphase._host import files
from sysphase.report.html_report import render


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("profile", metavar="PROFILE")
    p.add_argument(
        "--policy",
        metavar="POLICY",
        help="a sysphase policy (policy --format sysphase): each allowed call's provenance",
    )
    p.add_argument(
        "--diff",
        metavar="OTHER",
        help="another profile: what PROFILE adds to and removes from it (as diff OTHER PROFILE)",
    )
    p.add_argument(
        "-o",
        dest="output",
        required=True,
        metavar="OUT",
        help="the HTML file to write ('-': standard output)",
    )


def run(args: argparse.Namespace) -> int:
    inputs = [args.profile, *(p for p in (args.policy, args.diff) if p)]
    # before anything is read or written: `report P -o P` would replace its own input
    files.refuse_overwriting_inputs(args.output, inputs, f"-o {args.output}")
    profile = files.read_profile(args.profile)
    policy = (files.read_policy(args.policy)[0], args.policy) if args.policy else None
    other = (files.read_profile(args.diff), args.diff) if args.diff else None
    files.write_atomic(args.output, render(profile, args.profile, policy, other))
    return 0
