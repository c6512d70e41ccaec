"""`sysphase run`: run a program under a policy's seccomp filters, or in complain mode.

The program keeps the pid of the sysphase command (sysphase._host.keep_pid):
this process sets no_new_privs, installs the first phase's filter and execs
it, traced by a detached process. With later phases, that tracer stays a
light supervisor: it watches for each process's syscall triggers and makes
the triggering thread install the next filter (TSYNC); after a process's last
switch only process events (fork, exec, exit) and signals stop it. Signals
sent to the program are its own (a SIGTERM is its shutdown, traced); each
kill by a filter, and in complain mode each call outside the policy, is
reported as it happens (sysphase.cli.run_live).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sysphase._host import attach_enforcement, enforcement, files, tracer
from sysphase.cli.run_live import LiveReport
from sysphase.errors import TracerError, UsageError
from sysphase.model import profile_build, profile_codec
from sysphase.model.profile_fragment import to_fragment
from sysphase.model.tree import ProcessTree
from sysphase.policy.ir import Policy
from sysphase.report.escape import terminal_safe


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--policy",
        required=True,
        metavar="POLICY",
        help="a sysphase-policy/1 file (sysphase policy --format sysphase)",
    )
    p.add_argument(
        "-p",
        "--pid",
        type=int,
        metavar="PID",
        help="sandbox a running process (no restart): every thread switches to --phase's "
        "filter; sysphase follows the later phases, then detaches",
    )
    p.add_argument(
        "--phase",
        metavar="NAME",
        help="with -p: the phase whose filter the process gets (default: its first)",
    )
    p.add_argument(
        "--program",
        metavar="PATH",
        help="run the command as this program of the policy (a renamed or rebuilt copy); "
        "by default the command's program must be one of the policy's, by path or build-id",
    )
    p.add_argument(
        "--kill-after",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="after the program gets SIGINT or SIGTERM, kill it and its children if they "
        "have not ended within SECONDS (default 10; 0: never), as systemd's TimeoutStopSec",
    )
    p.add_argument(
        "--events",
        metavar="FILE",
        help="append each seccomp kill and complain-mode violation to FILE as a JSON line, "
        "flushed as it happens (for a log shipper)",
    )
    p.add_argument(
        "--complain",
        action="store_true",
        help="enforce nothing: record every call outside the policy and report it",
    )
    p.add_argument(
        "--report-every",
        type=seconds,
        metavar="SECONDS",
        help="with --report: also write the report every SECONDS while the program runs "
        "(for a service learned over hours)",
    )
    p.add_argument(
        "--report",
        metavar="FILE",
        help="with --complain: write the calls outside the policy as a profile "
        "fragment that sysphase merge accepts",
    )


def seconds(text: str) -> float:
    """--kill-after's value: a non-negative number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e9:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return value


def _landlock(plan: enforcement.Enforcement, complain: bool) -> dict[str, Any]:
    """The policy's Landlock rulesets for tracer.Enforce (none in complain mode: Landlock
    cannot complain), with a line on stderr for each thing this kernel leaves out."""
    first, later, notes = (-1, {}, []) if complain else plan.landlock()
    if complain and (plan.program.phases[0].landlock is not None or plan.later_landlock):
        notes = ["complain mode does not apply the policy's Landlock rules"]
    for note in notes:
        print(f"sysphase: {terminal_safe(note)}", file=sys.stderr)
    return {"landlock_first": first, "landlock": later}


def note_kill_after(interrupted: int, kill_after: float) -> None:
    """A service's tree killed by --kill-after gets one line on stderr (interrupted: SIGKILL)."""
    if interrupted == signal.SIGKILL:
        print(
            f"sysphase: killed the program and every process it left running: they had not "
            f"ended {kill_after:g} s after a SIGTERM or SIGINT, or after the program's own "
            f"end (--kill-after)",
            file=sys.stderr,
        )


def keeps_pid(args: argparse.Namespace) -> bool:
    """The program runs as the process the user started (sysphase._host.keep_pid)."""
    return args.pid is None


def _summary(result: tracer.TraceResult, first: str) -> None:
    """Complain mode's summary at exit, from the core's exact counters."""
    rows = enforcement.outside_policy(result, first)
    print(
        f"sysphase: complain: {sum(v.calls for v in rows)} call(s) outside the policy",
        file=sys.stderr,
    )
    for v in rows:
        line = f"  {v.executable}  phase {v.phase}  {v.syscall}  {v.calls}"
        print(terminal_safe(line), file=sys.stderr)


def _report_writer(
    policy: Policy, plan: enforcement.Enforcement, command: list[str], out: str
) -> Callable[[tracer.TraceResult, bool], None]:
    """Writes the complain report: the calls outside the policy so far, as a fragment."""
    root = plan.program
    names = {
        enforcement.label(p, root, ph.name): ph.name for p in policy.programs for ph in p.phases
    }

    def write(result: tracer.TraceResult, final: bool = True) -> None:
        """FINAL: the run has ended (else: the report so far, marked incomplete)."""
        tree = ProcessTree(result.tree.nodes, result.violations, result.tree.phase_names)
        complete = final and not result.interrupted
        profile = profile_build.from_tree(tree, command, "x86_64", complete=complete)
        files.write_atomic(out, profile_codec.encode(to_fragment(profile, names)))

    return write


def _run_attached(args: argparse.Namespace, policy: Policy) -> int:
    """-p PID: the running process switched to one phase's filter (_host/attach_enforcement)."""
    if args.command_argv:
        raise UsageError("run -p takes no command after '--'")
    if args.complain or args.report:
        raise UsageError(
            "run -p enforces: --complain would leave a filter that fails calls once sysphase "
            "detaches"
        )
    plan = attach_enforcement.prepare(
        policy, args.pid, args.phase, policy.default_action, args.policy, program=args.program
    )
    if any(p.landlock is not None for prog in policy.programs for p in prog.phases):
        print("sysphase: run -p does not apply the policy's Landlock rules", file=sys.stderr)
    live = LiveReport(policy, plan.program, args.events)
    result = tracer.attach_enforced(args.pid, replace(plan.enforce, on_violation=live), plan.phase)
    live.finish()
    if result.switches == 0:
        raise TracerError(f"process {args.pid} ended before its filter was installed")
    threads = sum(1 for n in result.tree.nodes if n.tgid == args.pid)
    after = f"; {plan.phases_after} later phase(s) followed" if plan.phases_after else ""
    gone = result.root_status is not None
    print(
        terminal_safe(
            f"sysphase: process {args.pid} ({plan.program}, {threads} thread(s)) runs under "
            f"phase {plan.phase}'s filter{after}; "
            + ("it has ended" if gone else "detached, the filter stays")
        ),
        file=sys.stderr,
    )
    return 128 + result.interrupted if result.interrupted else 0


def run(args: argparse.Namespace) -> int:
    if args.pid is not None:
        return _run_attached(args, files.read_policy(args.policy)[0])
    if args.phase:
        raise UsageError("--phase goes with -p")
    if not args.command_argv:
        raise UsageError("run needs a command after '--'")
    if args.report and not args.complain:
        raise UsageError("--report goes with --complain")
    if args.report_every and not args.report:
        raise UsageError("--report-every goes with --report")
    policy, _ = files.read_policy(args.policy)
    action = "trace" if args.complain else policy.default_action
    plan = enforcement.prepare(
        policy, args.command_argv[0], action, args.policy, program=args.program
    )
    first = plan.program.phases[0]
    service = tracer.Service(args.kill_after) if args.keep_pid else None
    live = LiveReport(policy, plan.program.executable, args.events)
    report = _report_writer(policy, plan, args.command_argv, args.report) if args.report else None
    enforce = replace(
        plan.enforce(args.complain),
        on_violation=live,
        on_snapshot=(lambda r: report(r, False)) if report and args.report_every else None,
        snapshot_every=args.report_every or 0.0,
        **_landlock(plan, args.complain),
    )
    result = tracer.trace_command(args.command_argv, enforce=enforce, service=service)
    live.finish()
    if args.complain:
        _summary(result, first.name)
    if report is not None:
        report(result, True)
    if args.keep_pid:
        note_kill_after(result.interrupted, args.kill_after)
    if result.interrupted:
        return 128 + result.interrupted
    return result.exit_status
