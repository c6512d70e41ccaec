"""`sysphase patch`: write a copy of a binary that sandboxes itself; `--check` tells if one is.

    sysphase patch --policy POLICY BINARY -o OUT
    sysphase patch --check OUT

The work is in :mod:`sysphase._host.patch`; docs/patch.md is the user's guide.
"""

from __future__ import annotations

import argparse
import sys

from sysphase._host import patch
from sysphase.errors import UsageError

_USAGE = "use: sysphase patch --policy POLICY BINARY -o OUT, or sysphase patch --check OUT"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.usage = "%(prog)s --policy POLICY BINARY -o OUT\n       %(prog)s --check OUT"
    p.add_argument("binary", nargs="?", metavar="BINARY", help="the program to copy")
    p.add_argument(
        "--policy",
        metavar="POLICY",
        help="a sysphase-policy/1 file (sysphase policy --format sysphase)",
    )
    p.add_argument(
        "-o",
        dest="output",
        metavar="OUT",
        help="the patched copy (its guard library goes beside it as OUT.sysphase-guard.so)",
    )
    p.add_argument(
        "--check",
        metavar="OUT",
        help="tell whether OUT is patched by sysphase, and with which policy",
    )


def _phases(info: dict[str, object]) -> str:
    phases = info.get("phases")
    if not isinstance(phases, list):
        return "?"
    parts = []
    for p in phases:
        if isinstance(p, dict):
            trigger = p.get("trigger")
            parts.append(str(p.get("name")) + ("" if trigger == "start" else f" ({trigger})"))
    return ", ".join(parts)


def _check(path: str) -> int:
    result = patch.check(path)
    if result.guard is None:
        print(f"{path} is not patched by sysphase")
        return 1
    if not result.guard_exists:
        print(f"{path} is patched by sysphase, but its guard {result.guard} is missing")
        print("  it will not start: the dynamic loader cannot load the guard")
        return 1
    if result.info is None:
        print(f"{path} needs {result.guard}, which is not a sysphase guard")
        return 1
    info = dict(result.info)
    print(
        f"{path} is patched with {info.get('policy')} (sha256 {info.get('sha256')}), "
        f"guard {result.guard}"
    )
    print(f"  program {info.get('program')}, phases: {_phases(info)}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.command_argv:
        raise UsageError(f"patch takes no command after '--' ({_USAGE})")
    if args.check is not None:
        if args.binary or args.policy or args.output:
            raise UsageError(f"--check takes only the patched binary ({_USAGE})")
        return _check(args.check)
    if not args.binary:
        raise UsageError(f"patch needs a BINARY ({_USAGE})")
    if not args.policy:
        raise UsageError(f"patch needs --policy POLICY ({_USAGE})")
    if not args.output:
        raise UsageError(f"patch needs -o OUT, the copy to write ({_USAGE})")
    result = patch.patch(args.policy, args.binary, args.output)
    if result.note:
        print(f"sysphase: note: {result.note}", file=sys.stderr)
    phases = result.program.phases
    switches = "".join(f", then {p.name} at {p.trigger}" for p in phases[1:])
    print(
        f"sysphase: wrote {result.out} and its guard {result.guard}: "
        f"{result.program.executable} phase {phases[0].name} from before main{switches}",
        file=sys.stderr,
    )
    return 0
