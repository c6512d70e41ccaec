"""Entry point: parse the command line, run one command, map errors to exit codes.

Commands live in their own modules and are imported only when chosen, so
`sysphase --help` stays fast. This is the only place that turns exceptions
into a sentence on stderr and an exit status (a traceback only with --debug).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from sysphase import __version__
from sysphase._host import keep_pid
from sysphase.cli import survive
from sysphase.errors import SysphaseError
from sysphase.report.escape import terminal_safe

#: command name -> (module under sysphase.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "trace": ("trace_cmd", "trace every system call of a program and its children, like strace -f"),
    "record": ("record_cmd", "record a program's syscalls per process and phase into a profile"),
    "stats": ("stats_cmd", "show one or more profiles (merged) per program and phase"),
    "merge": ("merge_cmd", "merge profiles into one"),
    "diff": ("diff_cmd", "show what one profile adds to and removes from another"),
    "run": ("run_cmd", "run a program under a policy's seccomp filter (or --complain)"),
    "policy": (
        "policy_cmd",
        "generate a seccomp policy from a profile (sysphase, oci, k8s, systemd, c, c-bpf, bpf)",
    ),
    "validate": ("validate_cmd", "run a workload's test scenarios under a policy, report misses"),
    "patch": ("patch_cmd", "write a copy of a binary that sandboxes itself with a policy"),
    "audit": ("audit_cmd", "read the kernel's seccomp audit records: call, program, phase"),
    "coverage": (
        "coverage_cmd",
        "per program and phase: the syscalls seen against those its code can reach",
    ),
    "phases": ("phases_cmd", "propose phase triggers from a profile's timelines"),
    "report": ("report_cmd", "write one self-contained HTML page of a profile (and policy, diff)"),
    "export": ("export_cmd", "write a profile's timelines as a Perfetto / chrome://tracing trace"),
}

#: commands whose results survive a SIGKILL of the process the user started (cli/survive.py)
SURVIVE_SIGKILL = frozenset({"trace", "record"})


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one sentence and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"sysphase: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sysphase",
        description="Trace a program's system calls per phase "
        "and turn them into seccomp sandboxes.",
    )
    parser.add_argument("--version", action="version", version=f"sysphase {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split at the first '--': sysphase's own arguments, then the traced command."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    own, command = _split_command(args)
    debug = "--debug" in own
    if debug:
        own.remove("--debug")
    parser = build_parser()
    if not own or own[0] not in COMMANDS:
        parsed = parser.parse_args(own)  # prints help/version or a usage error
        parser.print_help()
        return 2
    name = own[0]
    module = importlib.import_module(f"sysphase.cli.{COMMANDS[name][0]}")
    sub = _Parser(prog=f"sysphase {name}", description=COMMANDS[name][1])
    module.add_arguments(sub)
    parsed = sub.parse_args(own[1:])
    parsed.command_argv = command
    # the program keeps this process's pid (_host/keep_pid.py): only from the command line,
    # never when main() is called inside another program (a test)
    parsed.keep_pid = argv is None and getattr(module, "keeps_pid", _never)(parsed)
    if argv is None and name in SURVIVE_SIGKILL and not parsed.keep_pid:
        # a process of its own: survive.split() returns only in the worker
        survive.split()
    try:
        status = _run(module, parsed, debug)
    finally:
        keep_pid.finish()  # in a tracer that kept the program's pid: let the program end
    if survive.front_gone():
        print(
            f"sysphase: process {survive.front_pid()} (the sysphase command) was killed; "
            f"its tracer, process {os.getpid()}, ended the trace and wrote the results",
            file=sys.stderr,
        )
    return status


def _never(_parsed: argparse.Namespace) -> bool:
    return False


def _run(module: ModuleType, parsed: argparse.Namespace, debug: bool) -> int:
    """Run one command; errors become a sentence on stderr and an exit status."""
    try:
        return int(module.run(parsed))
    except SysphaseError as err:
        if debug:
            raise
        print(terminal_safe(f"sysphase: {err}"), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        if debug:
            raise
        return 130
    except BrokenPipeError:
        # the reader went away (| head): not an error; silence the flush at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as err:
        if debug:
            raise
        where = f" {err.filename}" if err.filename else ""
        print(terminal_safe(f"sysphase:{where} {err.strerror or err}"), file=sys.stderr)
        return 1
