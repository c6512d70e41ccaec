"""``python -m sysphase.bench``: time sysphase against native runs and strace.

Prints, per workload, the median time of each mode, the overhead ratio
``(sysphase - native) / (strace - native)`` (raw, and with the Python
start-up subtracted) with PASS/MISS against the target, and the tracer's
peak RSS; ``--json`` prints the same as one JSON object. Progress goes to
stderr. Exit status 0 when everything ran, whatever the ratios; 1 with one
sentence on stderr when a workload could not be built or run; 2 for a bad
command line; 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sysphase.bench.errors import BenchError
from sysphase.bench.report import render_text, to_json
from sysphase.bench.runner import bench_info, build_measure, run_benchmark
from sysphase.bench.stats import STRACE_MISSING, summarise
from sysphase.bench.workloads import (
    DEFAULT_LOOP_CALLS,
    QUICK_LOOP_CALLS,
    QUICK_WORKLOADS,
    WORKLOAD_NAMES,
    make_workloads,
)

__all__ = ["Settings", "build_parser", "main", "settings_from_args"]

PROG = "python -m sysphase.bench"
DEFAULT_ROUNDS = 3


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one sentence and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"sysphase bench: {message} (see '{self.prog} --help')\n")


def _count(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", "").replace(",", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is below {minimum}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Time workloads natively, under 'sysphase trace -c' and under 'strace -f -c'; "
        "print the overhead ratio (sysphase - native) / (strace - native), target <= 1.0.",
    )
    p.add_argument(
        "--workload",
        action="append",
        choices=WORKLOAD_NAMES,
        metavar="NAME",
        help=f"one of {', '.join(WORKLOAD_NAMES)}; repeatable (default: all)",
    )
    p.add_argument(
        "--rounds",
        type=_count(1),
        metavar="R",
        help=f"rounds over every mode, alternated (default {DEFAULT_ROUNDS}; --quick: 1)",
    )
    p.add_argument(
        "--loop-calls",
        type=_count(0),
        metavar="N",
        help=f"getppid calls of the loop workload (default {DEFAULT_LOOP_CALLS:,}; "
        f"--quick: {QUICK_LOOP_CALLS:,})",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a fast smoke run: loop and ls, 100,000 loop calls, 1 round",
    )
    p.add_argument(
        "--enforce",
        action="store_true",
        help="instead: the getppid loop natively and under 'sysphase run' with a one- and a "
        "two-phase policy, and the phase switch's latency",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return p


@dataclass(frozen=True)
class Settings:
    """The command line, with --quick's defaults applied under explicit options."""

    workloads: tuple[str, ...]
    rounds: int
    loop_calls: int
    as_json: bool
    quiet: bool


def settings_from_args(args: argparse.Namespace) -> Settings:
    if args.workload:
        names = tuple(dict.fromkeys(args.workload))
    else:
        names = QUICK_WORKLOADS if args.quick else WORKLOAD_NAMES
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else DEFAULT_ROUNDS)
    if args.loop_calls is not None:
        calls = args.loop_calls
    else:
        calls = QUICK_LOOP_CALLS if args.quick else DEFAULT_LOOP_CALLS
    return Settings(names, rounds, calls, bool(args.json), bool(args.quiet))


def _progress(message: str) -> None:
    print(f"sysphase bench: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    if args.enforce:
        from sysphase.bench.enforce import run_enforce_bench
        from sysphase.bench.workloads import build_loop

        try:
            sys.stdout.write(run_enforce_bench(build_loop(), settings.loop_calls, settings.rounds))
        except (BenchError, RuntimeError) as err:
            print(f"sysphase bench: {err}", file=sys.stderr)
            return 1
        return 0
    strace = shutil.which("strace")
    try:
        workloads = make_workloads(settings.workloads, loop_calls=settings.loop_calls)
        measure = build_measure()
        if strace is None:
            _progress(STRACE_MISSING)
        runs = run_benchmark(
            workloads,
            rounds=settings.rounds,
            strace=strace,
            measure=measure,
            progress=None if settings.quiet else _progress,
        )
        info = bench_info(settings.rounds, strace)
    except BenchError as err:
        print(f"sysphase bench: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("sysphase bench: interrupted", file=sys.stderr)
        return 130
    summaries = [
        summarise(
            r.workload.name,
            r.workload.description,
            r.workload.argv,
            r.samples,
            calls=r.workload.calls,
            error=r.error,
            strace_installed=strace is not None,
        )
        for r in runs
    ]
    if settings.as_json:
        text = json.dumps(to_json(summaries, info), indent=2) + "\n"
    else:
        text = render_text(summaries, info)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (| head): not an error; silence the flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    failed = [r for r in runs if r.error is not None]
    for r in failed:
        print(f"sysphase bench: {r.error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
