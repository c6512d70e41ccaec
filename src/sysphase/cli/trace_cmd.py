"""`sysphase trace`: strace-like live lines, or a -c summary, for a whole process tree."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import IO

from sysphase._host import tracer
from sysphase.errors import UsageError
from sysphase.model import syscalls
from sysphase.model.events import I386, X86_64, SyscallEvent
from sysphase.model.tree import totals
from sysphase.report import decode
from sysphase.report.live import LiveRenderer
from sysphase.report.summary import render_summary
from sysphase.report.tree_view import render_tree


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c",
        "--summary-only",
        dest="summary",
        action="store_true",
        help="count calls, errors and time per syscall; print a table at exit",
    )
    p.add_argument(
        "--tree", action="store_true", help="print the process tree with per-process totals at exit"
    )
    p.add_argument(
        "-e",
        dest="expr",
        metavar="trace=SET",
        help="only these syscalls: names and strace classes (%%file, %%process, ...), "
        "comma separated; a leading ! inverts",
    )
    p.add_argument("-o", dest="output", metavar="FILE", help="write the trace here, not to stderr")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p.add_argument(
        "-p",
        dest="pid",
        type=int,
        metavar="PID",
        help="attach to a running process (all its threads); Ctrl-C detaches",
    )
    p.add_argument(
        "--backend",
        choices=("ptrace", "ebpf"),
        default="ptrace",
        help="ptrace (default) or ebpf: counts kept in the kernel, with -c only, root "
        "(docs/performance.md)",
    )
    p.add_argument(
        "--no-seccomp-filter",
        action="store_true",
        help="with -e: stop at every syscall and select afterwards, instead of stopping "
        "only on the selected ones through a seccomp filter",
    )


def parse_selection(expr: str) -> tuple[frozenset[str], bool]:
    """'trace=open,%file' -> (names, inverted). Unknown names are a UsageError."""
    spec = expr.split("=", 1)[1] if expr.startswith("trace=") else expr
    if "=" in spec:
        raise UsageError(f"-e {expr}: only trace=SET is supported")
    inverted = spec.startswith("!")
    spec = spec.lstrip("!")
    names: set[str] = set()
    known = syscalls.names(X86_64) | syscalls.names(I386)
    for item in filter(None, spec.split(",")):
        if item.startswith("%"):
            try:
                names |= syscalls.class_members(item)
            except (KeyError, ValueError):
                raise UsageError(f"-e {expr}: unknown syscall class {item!r}") from None
        elif item in ("all", "none"):
            inverted = inverted != (item == "all")
        elif item in known:
            names.add(item)
        else:
            raise UsageError(f"-e {expr}: unknown syscall {item!r}")
    return frozenset(names), inverted


def run(args: argparse.Namespace) -> int:
    if not args.command_argv and args.pid is None:
        raise UsageError("trace needs a command after '--' or -p PID")
    if args.command_argv and args.pid is not None:
        raise UsageError("give either -p PID or a command, not both")
    if args.backend == "ebpf" and (args.pid is not None or not args.summary):
        raise UsageError(
            "--backend ebpf only counts, for a command it starts: use it with -c, without -p"
        )
    selected = None
    if args.expr:
        names, inverted = parse_selection(args.expr)
        selected = lambda name: (name in names) != inverted  # noqa: E731
    out: IO[str]
    if args.output:
        try:
            out = open(args.output, "w", encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
        except OSError as err:
            raise UsageError(f"-o {args.output}: {err.strerror}") from err
    else:
        out = sys.stderr
    try:
        return _trace(args, out, selected)
    finally:
        if out is not sys.stderr:
            out.close()


def _trace(args: argparse.Namespace, out: IO[str], selected) -> int:  # type: ignore[no-untyped-def]
    live = not args.summary
    sink = None
    kinds = None
    if live:
        color = args.color == "always" or (
            args.color == "auto"
            and not args.json
            and out.isatty()
            and os.environ.get("NO_COLOR") is None
        )
        ev_filter = None
        if selected is not None:
            ev_filter = lambda ev: selected(syscalls.name(ev.arch, ev.nr))  # noqa: E731
        renderer = LiveRenderer(color=color, as_json=args.json, selected=ev_filter)

        def sink(events: list[SyscallEvent]) -> None:
            text = renderer.render(events)
            if text:
                out.write(text)
                out.flush()

        kinds = {X86_64: decode.arg_kinds(X86_64), I386: decode.arg_kinds(I386)}
    if args.backend == "ebpf":
        from sysphase._host import ebpf

        result = ebpf.trace_command(args.command_argv)
        ebpf.warn_lost(result)
    elif args.pid is not None:
        result = tracer.attach(args.pid, sink=sink, arg_kinds=kinds)
    else:
        select = None  # -e: only the selected calls stop, through a seccomp filter
        if args.expr and not args.no_seccomp_filter:
            select = tracer.Selection(*parse_selection(args.expr))
        result = tracer.trace_command(args.command_argv, sink=sink, arg_kinds=kinds, select=select)
    counts = result.tree.counts
    if selected is not None:
        counts = [c for c in counts if selected(c.name)]
    if args.summary:
        rows = totals(counts)
        if args.json:
            out.write(
                json.dumps(
                    {
                        "totals": {
                            (r.name if r.arch == X86_64 else f"{r.arch}:{r.name}"): {
                                "calls": r.calls,
                                "errors": r.errors,
                                "time_ns": r.time_ns if args.backend != "ebpf" else None,
                                "unfinished": r.unfinished,
                            }
                            for r in rows
                        }
                    }
                )
                + "\n"
            )
        else:
            out.write(render_summary(rows, timed=args.backend != "ebpf"))
    if args.tree:
        out.write(render_tree(result.tree))
    if result.interrupted:
        name = syscalls.signal_name(result.interrupted)
        verb = "detached from" if result.attached else "killed"
        print(f"sysphase: interrupted by {name}; {verb} every traced process", file=sys.stderr)
        return 128 + result.interrupted
    return result.exit_status
