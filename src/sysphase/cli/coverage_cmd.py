"""`sysphase coverage`: per program and phase, the syscalls seen against those its code can reach.

Reads the profile; :mod:`sysphase._host.program_code` reads each program's
executable and the libraries it needs (one sentence naming the file when a
program is missing or not ELF); the pure analysis of
:mod:`sysphase.coverage` makes the report (text, or ``--json``). With
``--policy``: what the policy allows beyond both. It reads the policy, never
changes it.
"""

from __future__ import annotations

import argparse
import json

from sysphase._host import files
from sysphase._host.program_code import ProgramCode, executables, unsupported
from sysphase.coverage import report
from sysphase.errors import UsageError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("profile", metavar="PROFILE")
    p.add_argument("--policy", metavar="P", help="also list what this policy allows beyond both")
    p.add_argument("--json", action="store_true", help="the report as JSON")


def run(args: argparse.Namespace) -> int:
    profile = files.read_profile(args.profile)
    refused = unsupported(profile, args.profile)
    if refused:
        raise UsageError(refused)
    policy = files.read_policy(args.policy)[0] if args.policy else None
    reaches = ProgramCode(args.profile).reaches(executables(profile))
    covered = report.cover(profile, reaches, policy)
    if args.json:
        print(json.dumps(report.to_json(covered), indent=2, sort_keys=True))
    else:
        print(report.render(covered), end="")
    return 0
