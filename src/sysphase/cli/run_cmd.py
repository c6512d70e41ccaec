"""`sysphase run`: run a program under a policy's seccomp filter, or in complain mode.

The spawned program sets no_new_privs and installs the filter itself, just
before exec; sysphase stays attached only for process events (no stop per
syscall), to name the call when the filter kills a process, and in
complain mode to record each call outside the policy and let it run.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from sysphase._host import files, seccomp, tracer
from sysphase.errors import PolicyInvalid, UsageError
from sysphase.model import profile as prof
from sysphase.model import syscalls
from sysphase.model.tree import NodeEnd, ProcessTree
from sysphase.policy import bpf_sim, codec
from sysphase.policy.ir import Policy, PolicyPhase, ProgramPolicy


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--policy",
        required=True,
        metavar="POLICY",
        help="a sysphase-policy/1 file (sysphase policy --format sysphase)",
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


def _read_policy(path: str) -> Policy:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise PolicyInvalid(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise PolicyInvalid(f"{path}: cannot read it ({err})") from err
    return codec.decode(text, path)


def _program(policy: Policy, argv0: str) -> ProgramPolicy:
    exe = os.path.realpath(tracer.resolve_program(argv0, os.environ))
    return policy.program(exe) or policy.root_program


AUDIT_ARCH = {
    "x86_64": bpf_sim.AUDIT_ARCH_X86_64,
    "i386": bpf_sim.AUDIT_ARCH_I386,
    "x32": bpf_sim.AUDIT_ARCH_X86_64,
}


def _killer(result: tracer.TraceResult, bpf: bytes) -> tuple[str, int, str] | None:
    """(syscall, number, program) of the call the filter killed a process for, if any."""
    for node in result.tree.nodes:
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
            return name, node.exit_nr, node.exe
    return None


def _report(
    result: tracer.TraceResult, phase: PolicyPhase, command: list[str], out: str | None
) -> None:
    rows: dict[tuple[str, str], int] = {}
    for c in result.violations:
        key = (
            result.tree.nodes[c.node].exe,
            c.name if c.arch == "x86_64" else f"{c.arch}:{c.name}",
        )
        rows[key] = rows.get(key, 0) + c.calls
    total = sum(rows.values())
    print(f"sysphase: complain: {total} call(s) outside the policy", file=sys.stderr)
    for (exe, name), calls in sorted(rows.items()):
        print(f"  {exe}  phase {phase.name}  {name}  {calls}", file=sys.stderr)
    if out:
        tree = ProcessTree(result.tree.nodes, result.violations, result.tree.phase_names)
        files.write_atomic(out, prof.encode(prof.from_tree(tree, command, "x86_64")))


def run(args: argparse.Namespace) -> int:
    if not args.command_argv:
        raise UsageError("run needs a command after '--'")
    if args.report and not args.complain:
        raise UsageError("--report goes with --complain")
    policy = _read_policy(args.policy)
    if policy.arch != "x86_64":
        raise UsageError(f"{args.policy}: a policy for {policy.arch}; this machine runs x86_64")
    program = _program(policy, args.command_argv[0])
    phase = program.phases[0]
    if len(program.phases) > 1:
        print(
            f"sysphase: note: enforcing phase {phase.name!r} (the widest) for the whole run; "
            "switching to later phases is not built yet",
            file=sys.stderr,
        )
    action = "trace" if args.complain else policy.default_action
    bpf = seccomp.compile_filter(phase.allow_list(), action, phase=phase.name)
    result = tracer.trace_command(
        args.command_argv, seccomp_filter=bpf, syscall_stops=False, complain=args.complain
    )
    if args.complain:
        _report(result, phase, args.command_argv, args.report)
    else:
        killed = _killer(result, bpf)
        if killed is not None:
            name, nr, exe = killed
            print(f"killed by seccomp: {name} ({nr}) in {exe}, phase {phase.name}", file=sys.stderr)
    if result.interrupted:
        return 128 + result.interrupted
    return result.exit_status
