"""`sysphase policy`: a profile in, a seccomp policy out, in the format people deploy.

Besides what the profile recorded: ``--allow`` and ``--deny`` for what the
operator knows better (:mod:`sysphase.policy.manual_calls`), ``--allow-reachable``
for what an imported function can reach (:mod:`sysphase.cli.policy_reach`,
like ``--explain``'s seen / reachable / added marks), and what to do
with a program seen only in complain-mode reports (``--allow-fragments``,
``--omit-fragments``; refused by default). ``--landlock`` adds to each phase
a Landlock ruleset made of the paths and ports ``record --paths`` saw
(the sysphase format only).
"""

from __future__ import annotations

import argparse
import sys

from sysphase._host import files, seccomp
from sysphase.errors import UsageError
from sysphase.model.profile_runs import in_some_runs
from sysphase.policy import formats
from sysphase.policy.explain import explain
from sysphase.policy.generate import generate
from sysphase.policy.ir import DEFAULT_ACTIONS, Policy
from sysphase.policy.manual_calls import ManualSpec, parse_spec

_SPEC = "NAME[,NAME...][@PROGRAM[:PHASE]]"
_FUNCTIONS = "FUNCTION[,FUNCTION...][@PROGRAM[:PHASE]]"


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
        help="also allow each call's equivalents (read/readv/pread64, open/openat, "
        "stat/statx, ...)",
    )
    p.add_argument(
        "--args",
        action="store_true",
        help="add argument conditions inferred from the recorded values",
    )
    p.add_argument(
        "--landlock",
        action="store_true",
        help="add to each phase a Landlock ruleset (paths and their rights, TCP ports, scopes) "
        "made of what the profile recorded with record --paths (format sysphase only)",
    )
    _add_manual_arguments(p)
    p.add_argument(
        "--explain",
        action="store_true",
        help="print where each allowed call came from, marked seen, reachable (from the "
        "program's code) or added (to stderr)",
    )
    p.add_argument(
        "-o",
        dest="output",
        default="-",
        metavar="OUT",
        help="output file (default: standard output)",
    )


def _add_manual_arguments(p: argparse.ArgumentParser) -> None:
    """--allow, --deny and what a program seen only in complain-mode reports gets."""
    p.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar=_SPEC,
        help="also allow these calls: in every program, every phase of PROGRAM (a path or "
        "its basename), or its PHASE and the phases before it (repeatable)",
    )
    p.add_argument(
        "--deny",
        action="append",
        default=[],
        metavar=_SPEC,
        help="refuse these calls: in every program, every phase of PROGRAM, or its PHASE and "
        "the phases after it (repeatable; never exit, exit_group, rt_sigreturn, "
        "restart_syscall, nor what phase switches need)",
    )
    p.add_argument(
        "--allow-reachable",
        action="append",
        default=[],
        metavar=_FUNCTIONS,
        help="also allow what these imported functions can reach in the program's code and "
        "libraries, targeted as --allow is (repeatable)",
    )
    fragments = p.add_mutually_exclusive_group()
    fragments.add_argument(
        "--allow-fragments",
        dest="fragments",
        action="store_const",
        const="allow",
        default="refuse",
        help="a program seen only in complain-mode reports gets the reports' calls as its "
        "whole policy (refused by default)",
    )
    fragments.add_argument(
        "--omit-fragments",
        dest="fragments",
        action="store_const",
        const="omit",
        help="a program seen only in complain-mode reports gets no policy of its own: it runs "
        "under the filters of the program that starts it",
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
    if args.landlock and args.format != "sysphase":
        raise UsageError(
            f"--landlock: the {args.format} format has no Landlock rules (only --format "
            "sysphase holds them, for sysphase run)"
        )
    # before anything is read or written: `policy P -o P` would replace its own input
    files.refuse_overwriting_inputs(args.output, [args.profile], f"-o {args.output}")
    manual: list[ManualSpec] = [
        *(parse_spec("allow", text) for text in args.allow),
        *(parse_spec("deny", text) for text in args.deny),
    ]
    profile = files.read_profile(args.profile)
    reach = None
    if args.allow_reachable or args.explain:  # the analysis takes seconds: only when asked
        from sysphase.cli.policy_reach import PolicyReach

        reach = PolicyReach(profile, args.profile)
        manual += reach.specs(args.allow_reachable)
    policy = generate(
        profile,
        default_action=args.default_action,
        portable=args.portable,
        args=args.args,
        fragments=args.fragments,
        manual=manual,
        landlock=args.landlock,
    )
    # compiled for every format: proves each phase fits the kernel's limits
    bpf = compile_phases(policy)
    out = formats.render(args.format, policy, bpf)
    if reach is not None and args.explain:
        marker, legend, unknown = reach.marks()
        seen = {(f.program, f.phase, f.syscall): f for f in profile.first_seen}
        full = profile.recording.get("full", 0)
        some = {
            (
                x.program,
                x.phase,
                x.syscall,
            ): f"{x.program} {x.phase}: seen in {x.runs} of {full} runs"
            for x in in_some_runs(profile)
        }
        print(explain(policy, marker, legend, unknown, seen, some), end="", file=sys.stderr)
    if isinstance(out, bytes):
        files.write_bytes_atomic(args.output, out)
    else:
        files.write_atomic(args.output, out)
    return 0
