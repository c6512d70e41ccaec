"""`sysphase patch`: write a copy of a binary that sandboxes itself; `--check` tells if one is.

    sysphase patch --policy POLICY BINARY -o OUT
    sysphase patch --check OUT

The work is in :mod:`sysphase._host.patch`; docs/patch.md is the user's guide.
"""

from __future__ import annotations

import argparse
import os
import sys

from sysphase._host import files, patch
from sysphase.errors import UsageError
from sysphase.report.escape import terminal_safe

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


def _say(text: str, *, err: bool = False) -> None:
    """One line to stdout (or stderr), names from the policy and the binary escaped."""
    print(terminal_safe(text), file=sys.stderr if err else sys.stdout)


def _landlock(ruleset: object) -> str:
    """``; Landlock: 3 rules, bind 1 port, connect 2 ports`` for a phase's ruleset in the info."""
    if not isinstance(ruleset, dict):
        return ""

    def count(n: int, what: str) -> str:
        return f"{n} {what}{'' if n == 1 else 's'}"

    rules, bind, connect = (ruleset.get(k) for k in ("rules", "bind_tcp", "connect_tcp"))
    parts = [count(rules if isinstance(rules, int) else 0, "rule")]
    for what, ports in (("bind", bind), ("connect", connect)):
        if isinstance(ports, list) and ports:
            parts.append(f"{what} {count(len(ports), 'port')}")
    return "; Landlock: " + ", ".join(parts)


def _phases(info: dict[str, object]) -> str:
    phases = info.get("phases")
    if not isinstance(phases, list):
        return "?"
    parts = []
    for p in phases:
        if isinstance(p, dict):
            trigger = p.get("trigger")
            details = ("" if trigger == "start" else str(trigger)) + _landlock(p.get("landlock"))
            parts.append(str(p.get("name")) + (f" ({details.lstrip('; ')})" if details else ""))
    return ", ".join(parts)


def _check(path: str) -> int:
    result = patch.check(path)
    if result.guard is None:
        _say(f"{path} is not patched by sysphase")
        return 1
    if not result.guard_exists:
        _say(f"{path} is patched by sysphase, but its guard {result.guard} is missing")
        _say("  it will not start: the dynamic loader cannot load the guard")
        return 1
    if result.info is None:
        _say(f"{path} needs {result.guard}, which is not a sysphase guard")
        return 1
    info = dict(result.info)
    _say(
        f"{path} is patched with {info.get('policy')} (sha256 {info.get('sha256')}), "
        f"guard {result.guard}"
    )
    _say(f"  program {info.get('program')}, phases: {_phases(info)}")
    return 0


def _refuse_overwriting_inputs(policy: str, binary: str, output: str) -> None:
    """Refuse, before anything is read or written, a copy or guard that is the policy or binary.

    The files patch writes are OUT (or DIR/BINARY's name for a directory) and its guard
    OUT.sysphase-guard.so; the same file as an input (device and inode) is refused.
    """
    inputs = [policy, patch.resolve_binary(binary)]
    out = output
    if out != "-" and os.path.isdir(out):
        out = os.path.join(out, os.path.basename(inputs[1]))
    what = f"-o {output}" if out == output else f"-o {output} (the copy {out})"
    files.refuse_overwriting_inputs(out, inputs, what)
    guard = out + patch.GUARD_SUFFIX
    files.refuse_overwriting_inputs(guard, inputs, f"the guard {guard} of -o {output}")


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
    _refuse_overwriting_inputs(args.policy, args.binary, args.output)
    result = patch.patch(args.policy, args.binary, args.output)
    if result.note:
        _say(f"sysphase: note: {result.note}", err=True)
    phases = result.program.phases
    switches = "".join(f", then {p.name} at {p.trigger}" for p in phases[1:])
    landlock = [p.name for p in phases if p.landlock is not None]
    rulesets = f"; Landlock rulesets for {', '.join(landlock)}" if landlock else ""
    _say(
        f"sysphase: wrote {result.out} and its guard {result.guard}: "
        f"{result.program.executable} phase {phases[0].name} from before main{switches}"
        f"{rulesets}",
        err=True,
    )
    return 0
