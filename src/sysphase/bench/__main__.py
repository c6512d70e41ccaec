"""``python -m sysphase.bench``: time sysphase against native runs and strace.

Prints, per workload, the median time of each mode (requests per second for
redis), the overhead ratio ``(sysphase - native) / (strace - native)`` (raw,
and with the Python start-up subtracted) with PASS/MISS against the target,
the tracer's peak RSS, and the verdicts of every target of docs/design.md and
issue 7 (``record --sets-only``, ``record --baseline``, ``--backend ebpf``
against native and a bpftrace one-liner, redis throughput, tracer memory);
``--json`` prints the same as one JSON object. ``--enforce`` and
``--policy-gen`` (policy generation time and memory against the number of
phases, :mod:`.policygen`) measure instead. A mode that cannot run here
(its flag not in this sysphase yet, bpftrace not installed, no eBPF) is
reported as unavailable with the reason. Progress goes to stderr. Exit
status 0 when every workload ran natively, whatever the ratios; 1 with one
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
from sysphase.bench.measure import build_measure
from sysphase.bench.policygen import DEFAULT_SERIES
from sysphase.bench.report import render_text, to_json
from sysphase.bench.runner import bench_info, run_benchmark, selected_modes
from sysphase.bench.stats import MODES, STRACE_MISSING, summarise
from sysphase.bench.workloads import (
    DEFAULT_LOOP_CALLS,
    DEFAULT_REDIS_REQUESTS,
    QUICK_LOOP_CALLS,
    QUICK_REDIS_REQUESTS,
    QUICK_WORKLOADS,
    WORKLOAD_NAMES,
    Workload,
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


def _counts(minimum: int) -> Callable[[str], tuple[int, ...]]:
    one = _count(minimum)

    def parse(text: str) -> tuple[int, ...]:
        counts = tuple(one(n.strip()) for n in text.split(",") if n.strip())
        if not counts:
            raise argparse.ArgumentTypeError(f"{text!r}: no numbers (comma separated)")
        return counts

    return parse


def _names(choices: Sequence[str], what: str) -> Callable[[str], tuple[str, ...]]:
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        bad = [n for n in names if n not in choices]
        if bad or not names:
            raise argparse.ArgumentTypeError(
                f"{text!r}: {what} are {', '.join(choices)} (comma separated)"
            )
        return names

    return parse


def _add_other_jobs(p: argparse.ArgumentParser) -> None:
    """--quick, and the jobs that replace the overhead runs: --enforce, --policy-gen."""
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
    p.add_argument(
        "--policy-gen",
        action="store_true",
        help="instead: time and peak memory of policy generation for synthetic profiles of "
        "one program with 10, 100, 1,000 and 3,000 phases (see --phases)",
    )
    p.add_argument(
        "--phases",
        type=_counts(1),
        metavar="N,N",
        help="with --policy-gen: these phase counts (comma separated; default "
        f"{','.join(str(n) for n in DEFAULT_SERIES)})",
    )


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="Time workloads natively, under sysphase's modes (trace -c, record "
        "--sets-only, record --baseline, --backend ebpf), strace -f -c and a bpftrace one-liner; "
        "print overhead ratios, peak RSS and verdicts against the performance targets.",
    )
    p.add_argument(
        "--workload",
        action="append",
        choices=WORKLOAD_NAMES,
        metavar="NAME",
        help=f"one of {', '.join(WORKLOAD_NAMES)}; repeatable (default: all)",
    )
    p.add_argument(
        "--only",
        type=_names(WORKLOAD_NAMES, "workloads"),
        metavar="W,W",
        help="these workloads (comma separated); the same as repeating --workload",
    )
    p.add_argument(
        "--modes",
        type=_names(MODES, "modes"),
        metavar="M,M",
        help=f"these modes (comma separated, from {', '.join(MODES)}); native is always run, "
        "and sysphase-startup with any sysphase mode (default: all)",
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
        "--redis-requests",
        type=_count(1),
        metavar="N",
        help=f"redis-benchmark requests per test (default {DEFAULT_REDIS_REQUESTS:,}; "
        f"--quick: {QUICK_REDIS_REQUESTS:,})",
    )
    _add_other_jobs(p)
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
    modes: tuple[str, ...] = MODES
    redis_requests: int = DEFAULT_REDIS_REQUESTS
    explicit: bool = False
    """The workloads were named: one that cannot run is an error, not skipped."""


def settings_from_args(args: argparse.Namespace) -> Settings:
    chosen = [*(args.workload or ()), *(getattr(args, "only", None) or ())]
    if chosen:
        names = tuple(dict.fromkeys(chosen))
    else:
        names = QUICK_WORKLOADS if args.quick else WORKLOAD_NAMES
    rounds = args.rounds if args.rounds is not None else (1 if args.quick else DEFAULT_ROUNDS)
    if args.loop_calls is not None:
        calls = args.loop_calls
    else:
        calls = QUICK_LOOP_CALLS if args.quick else DEFAULT_LOOP_CALLS
    modes = tuple(selected_modes(getattr(args, "modes", None) or MODES))
    requests = getattr(args, "redis_requests", None)
    if requests is None:
        requests = QUICK_REDIS_REQUESTS if args.quick else DEFAULT_REDIS_REQUESTS
    return Settings(
        names, rounds, calls, bool(args.json), bool(args.quiet), modes, requests, bool(chosen)
    )


def _progress(message: str) -> None:
    print(f"sysphase bench: {message}", file=sys.stderr, flush=True)


def _workloads(settings: Settings, say: Callable[[str], None]) -> list[Workload]:
    """The workloads; redis, when not named, is left out with a note if it cannot run."""
    workloads = []
    for name in settings.workloads:
        try:
            workloads += make_workloads(
                [name], loop_calls=settings.loop_calls, redis_requests=settings.redis_requests
            )
        except BenchError as err:
            if name != "redis" or settings.explicit:
                raise
            say(f"skipped: {err}")
    return workloads


def _policy_gen(sizes: Sequence[int], settings: Settings) -> int:
    from sysphase.bench.policygen import render_series, run_series, to_json
    from sysphase.policy.generate import MAX_PHASES

    try:
        results = run_series(sizes, None if settings.quiet else _progress)
    except BenchError as err:
        print(f"sysphase bench: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("sysphase bench: interrupted", file=sys.stderr)
        return 130
    if settings.as_json:
        sys.stdout.write(json.dumps(to_json(results, MAX_PHASES), indent=2) + "\n")
    else:
        sys.stdout.write(render_series(results, MAX_PHASES))
    return 0


def _enforce(settings: Settings) -> int:
    from sysphase.bench.enforce import run_enforce_bench
    from sysphase.bench.workloads import build_loop

    try:
        sys.stdout.write(run_enforce_bench(build_loop(), settings.loop_calls, settings.rounds))
    except (BenchError, RuntimeError) as err:
        print(f"sysphase bench: {err}", file=sys.stderr)
        return 1
    return 0


def _overheads(settings: Settings) -> int:
    """Every workload in every mode; the report on stdout; 1 if a workload failed."""
    strace = shutil.which("strace")
    bpftrace = shutil.which("bpftrace")
    say = (lambda _msg: None) if settings.quiet else _progress
    try:
        workloads = _workloads(settings, say)
        measure = build_measure()
        if strace is None:
            _progress(STRACE_MISSING)
        runs = run_benchmark(
            workloads,
            rounds=settings.rounds,
            strace=strace,
            measure=measure,
            progress=None if settings.quiet else _progress,
            modes=settings.modes,
            bpftrace=bpftrace,
        )
        info = bench_info(settings.rounds, strace, modes=settings.modes, bpftrace=bpftrace)
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
            unavailable=r.unavailable,
            throughput=r.workload.server,
        )
        for r in runs
    ]
    _write(
        json.dumps(to_json(summaries, info), indent=2) + "\n"
        if settings.as_json
        else render_text(summaries, info)
    )
    failed = [r for r in runs if r.error is not None]
    for r in failed:
        print(f"sysphase bench: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def _write(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (| head): not an error; silence the flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from_args(args)
    if args.policy_gen:
        return _policy_gen(args.phases or DEFAULT_SERIES, settings)
    if args.phases:
        print("sysphase bench: --phases goes with --policy-gen", file=sys.stderr)
        return 2
    if args.enforce:
        return _enforce(settings)
    return _overheads(settings)


if __name__ == "__main__":
    raise SystemExit(main())
