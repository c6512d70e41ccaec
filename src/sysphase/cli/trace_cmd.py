"""`sysphase trace`: strace-like live lines, or a -c summary, for a whole process tree.

The -c table and --tree are rich on a terminal and plain text in a pipe or -o FILE
(cli/terminal.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import IO

from sysphase._host import tracer
from sysphase.cli import terminal
from sysphase.errors import UsageError
from sysphase.model import syscalls
from sysphase.model.events import I386, X86_64, SyscallEvent
from sysphase.model.tree import ProcessTree, SyscallTotal, totals
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


def _live(
    args: argparse.Namespace, out: IO[str], selected: Callable[[str], bool] | None
) -> tuple[tracer.EventSink | None, dict[str, bytes] | None]:
    """The sink that prints each call, and the argument kinds the core copies (none for -c)."""
    if args.summary:
        return None, None
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

    return sink, {X86_64: decode.arg_kinds(X86_64), I386: decode.arg_kinds(I386)}


def _run(
    args: argparse.Namespace,
    sink: tracer.EventSink | None,
    kinds: dict[str, bytes] | None,
) -> tracer.TraceResult:
    if args.backend == "ebpf":
        from sysphase._host import ebpf

        result = ebpf.trace_command(args.command_argv)
        ebpf.warn_lost(result)
        return result
    if args.pid is not None:
        return tracer.attach(args.pid, sink=sink, arg_kinds=kinds)
    select = None  # -e: only the selected calls stop, through a seccomp filter
    if args.expr and not args.no_seccomp_filter:
        select = tracer.Selection(*parse_selection(args.expr))
    return tracer.trace_command(args.command_argv, sink=sink, arg_kinds=kinds, select=select)


def _summary_json(rows: list[SyscallTotal], timed: bool) -> str:
    totals_by_key = {
        (r.name if r.arch == X86_64 else f"{r.arch}:{r.name}"): {
            "calls": r.calls,
            "errors": r.errors,
            "time_ns": r.time_ns if timed else None,
            "unfinished": r.unfinished,
        }
        for r in rows
    }
    return json.dumps({"totals": totals_by_key}) + "\n"


def _trace(args: argparse.Namespace, out: IO[str], selected: Callable[[str], bool] | None) -> int:
    sink, kinds = _live(args, out, selected)
    result = _run(args, sink, kinds)
    counts = result.tree.counts
    if selected is not None:
        counts = [c for c in counts if selected(c.name)]
    if args.summary:
        rows = totals(counts)
        timed = args.backend != "ebpf"
        if args.json:
            out.write(_summary_json(rows, timed))
        else:
            _show_summary(out, args.color, rows, timed=timed)
    if args.tree:
        _show_tree(out, args.color, result.tree)
    if result.interrupted:
        name = syscalls.signal_name(result.interrupted)
        verb = "detached from" if result.attached else "killed"
        print(f"sysphase: interrupted by {name}; {verb} every traced process", file=sys.stderr)
        return 128 + result.interrupted
    return result.exit_status


def _show_summary(out: IO[str], color: str, rows: list[SyscallTotal], timed: bool) -> None:
    """The -c table: a rich table on a terminal, strace's layout anywhere else."""
    console = terminal.console_for(out, color)
    if console is None:
        out.write(render_summary(rows, timed=timed))
        return
    from sysphase.report import rich_views

    view = rich_views.summary(rows, timed=timed)
    terminal.show(console, view, lambda: render_summary(rows, timed=timed))


def _show_tree(out: IO[str], color: str, tree: ProcessTree) -> None:
    """--tree: a rich tree on a terminal (when it fits), plain text anywhere else."""
    console = terminal.console_for(out, color)
    if console is None:
        out.write(render_tree(tree))
        return
    from sysphase.report import rich_views

    terminal.show(console, rich_views.trace_tree(tree, console.width), lambda: render_tree(tree))
