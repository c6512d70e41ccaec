"""`sysphase policy`: a profile in, a seccomp policy out, in the format people deploy."""

from __future__ import annotations

import argparse
import sys

from sysphase._host import files, seccomp
from sysphase.errors import UsageError
from sysphase.policy import formats
from sysphase.policy.explain import explain
from sysphase.policy.generate import generate
from sysphase.policy.ir import DEFAULT_ACTIONS, Policy


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("profile", metavar="PROFILE")
    p.add_argument(
        "--format",
        default="sysphase",
        metavar="FORMAT",
        help="sysphase, oci, k8s, systemd, c, c-bpf or bpf (default sysphase)",
    )
    p.add_argument(
        "--default-action",
        default="kill",
        metavar="ACTION",
        help="for calls outside the policy: kill (the process, default), errno "
        "(EPERM), trap (SIGSYS) or log",
    )
    p.add_argument(
        "--portable",
        action="store_true",
        help="also allow each call's equivalents (open/openat/openat2, ...)",
    )
    p.add_argument(
        "--args",
        action="store_true",
        help="add argument conditions inferred from the recorded values",
    )
    p.add_argument(
        "--explain", action="store_true", help="print where each allowed call came from (to stderr)"
    )
    p.add_argument(
        "-o",
        dest="output",
        default="-",
        metavar="OUT",
        help="output file (default: standard output)",
    )


def compile_phases(policy: Policy) -> list[bytes]:
    """The root program's phases compiled by libseccomp (checks the 4096-instruction limit)."""
    return [
        seccomp.compile_filter(
            phase.allow_list(), policy.default_action, arch=policy.arch, phase=phase.name
        )
        for phase in policy.root_program.phases
    ]


def run(args: argparse.Namespace) -> int:
    if args.format not in formats.FORMATS:
        raise UsageError(
            f"--format {args.format}: unknown format (use {', '.join(formats.FORMATS)})"
        )
    if args.default_action not in DEFAULT_ACTIONS:
        raise UsageError(
            f"--default-action {args.default_action}: unknown action (use "
            f"{', '.join(DEFAULT_ACTIONS)})"
        )
    # before anything is read or written: `policy P -o P` would replace its own input
    files.refuse_overwriting_inputs(args.output, [args.profile], f"-o {args.output}")
    profile = files.read_profile(args.profile)
    policy = generate(
        profile, default_action=args.default_action, portable=args.portable, args=args.args
    )
    # compiled for every format: proves each phase fits the kernel's limits
    bpf = compile_phases(policy)
    out = formats.render(args.format, policy, bpf)
    if args.explain:
        print(explain(policy), end="", file=sys.stderr)
    if isinstance(out, bytes):
        files.write_bytes_atomic(args.output, out)
    else:
        files.write_atomic(args.output, out)
    return 0
