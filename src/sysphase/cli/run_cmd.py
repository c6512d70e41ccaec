"""`sysphase run`: run a program under a policy's seccomp filters, or in complain mode.

The spawned program sets no_new_privs and installs the first phase's filter
itself, just before exec. With later phases, sysphase stays attached as a
light supervisor: it watches for each process's syscall triggers and makes
the triggering thread install the next filter (TSYNC); after a process's last
switch only process events (fork, exec, exit) stop it. It names the call
when a filter kills a process, and in complain mode records each call
outside the policy and lets it run.
"""

from __future__ import annotations

import argparse
import signal
import sys

from sysphase._host import enforcement, files, tracer
from sysphase.errors import UsageError
from sysphase.model import profile_build, profile_codec, syscalls
from sysphase.model.tree import NodeEnd, ProcessTree
from sysphase.policy import bpf_sim
from sysphase.report.escape import terminal_safe

AUDIT_ARCH = {
    "x86_64": bpf_sim.AUDIT_ARCH_X86_64,
    "i386": bpf_sim.AUDIT_ARCH_I386,
    "x32": bpf_sim.AUDIT_ARCH_X86_64,
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--policy",
        required=True,
        metavar="POLICY",
        help="a sysphase-policy/1 file (sysphase policy --format sysphase)",
    )
    p.add_argument(
        "--program",
        metavar="PATH",
        help="run the command as this program of the policy (a renamed or rebuilt copy); "
        "by default the command's program must be one of the policy's, by path or build-id",
    )
    p.add_argument(
        "--complain",
        action="store_true",
        help="enforce nothing: record every call outside the policy and report it",
    )
    p.add_argument(
        "--report",
        metavar="FILE",
        help="with --complain: write the calls outside the policy as a profile "
        "fragment that sysphase merge accepts",
    )


def _killer(
    result: tracer.TraceResult, filters: dict[str, bytes], first: str
) -> tuple[str, int, str, str] | None:
    """(syscall, number, program, phase) of the call a filter killed a process for, if any."""
    for node in result.tree.nodes:
        phase = result.tree.phase_names[node.phases[-1]][0] if node.phases else first
        bpf = filters.get(phase, filters[first])
        if (
            node.end is NodeEnd.SIGNALED
            and node.end_value == signal.SIGSYS
            and node.exit_nr is not None
            and node.exit_arch in AUDIT_ARCH
            and bpf_sim.run(bpf, node.exit_nr, AUDIT_ARCH[node.exit_arch]) != bpf_sim.RET_ALLOW
        ):
            name = syscalls.name(node.exit_arch, node.exit_nr)
            if node.exit_arch != "x86_64":
                name = f"{name} [{node.exit_arch}]"
            return name, node.exit_nr, node.exe, phase if phase in filters else first
    return None


def _report(result: tracer.TraceResult, first: str, command: list[str], out: str | None) -> None:
    rows = enforcement.outside_policy(result, first)
    print(
        f"sysphase: complain: {sum(v.calls for v in rows)} call(s) outside the policy",
        file=sys.stderr,
    )
    for v in rows:
        line = f"  {v.executable}  phase {v.phase}  {v.syscall}  {v.calls}"
        print(terminal_safe(line), file=sys.stderr)
    if out:
        tree = ProcessTree(result.tree.nodes, result.violations, result.tree.phase_names)
        profile = profile_build.from_tree(tree, command, "x86_64")
        files.write_atomic(out, profile_codec.encode(profile))


def run(args: argparse.Namespace) -> int:
    if not args.command_argv:
        raise UsageError("run needs a command after '--'")
    if args.report and not args.complain:
        raise UsageError("--report goes with --complain")
    policy, _ = files.read_policy(args.policy)
    action = "trace" if args.complain else policy.default_action
    plan = enforcement.prepare(
        policy, args.command_argv[0], action, args.policy, program=args.program
    )
    first = plan.program.phases[0]
    result = tracer.trace_command(args.command_argv, enforce=plan.enforce(args.complain))
    if args.complain:
        _report(result, first.name, args.command_argv, args.report)
    else:
        killed = _killer(result, {first.name: plan.first_filter, **plan.later_filters}, first.name)
        if killed is not None:
            name, nr, exe, phase = killed
            line = f"killed by seccomp: {name} ({nr}) in {exe}, phase {phase}"
            print(terminal_safe(line), file=sys.stderr)
    if result.interrupted:
        return 128 + result.interrupted
    return result.exit_status
