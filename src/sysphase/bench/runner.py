"""Run the benchmark's processes and measure them.

Each run is one process: the workload alone (``native``), the real
``python -m sysphase trace -c`` command line (``sysphase``), the same tracing
``/bin/true`` (``sysphase-startup``, the interpreter's start-up) and
``strace -f -c`` (``strace``). stdin and stdout are /dev/null; stderr goes to
a temporary file so a failure can be reported.

Wall time is :func:`time.perf_counter` around :func:`subprocess.run`. Memory
and CPU time come from ``wait4``'s rusage, taken by a tiny C helper
(:data:`MEASURE_SOURCE`) that starts the command and reaps it: Linux counts
the memory of the process that forks a child into the child's ``ru_maxrss``
(at exec, the peak of the replaced address space is kept), so a child reaped
straight by this ~20 MiB Python process would never show less than that. The
helper is ~1 MiB. ``ru_maxrss`` is the largest of the command and the
processes it reaped: for the traced modes, in practice the tracer.

Modes alternate within each round, and the order rotates from round to
round, so slow drifts of the machine hit every mode alike. One untimed
native run per workload comes first: it warms the page cache and checks
that the workload works at all.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sysphase.bench.cbuild import compile_cached
from sysphase.bench.errors import BenchError
from sysphase.bench.report import BenchInfo
from sysphase.bench.stats import NATIVE, STARTUP, STRACE, SYSPHASE, Sample
from sysphase.bench.workloads import Workload

__all__ = [
    "MEASURE_SOURCE",
    "RunResult",
    "WorkloadRuns",
    "bench_env",
    "bench_info",
    "build_measure",
    "describe_exit",
    "mode_argv",
    "parse_measure_output",
    "rotated",
    "run_benchmark",
    "run_once",
]

Progress = Callable[[str], None]

MEASURE_SOURCE = r"""/*
 * measure.c - run a command and report wait4's rusage (sysphase benchmark).
 *
 * Usage: measure CMD [ARGS...]
 *
 * Runs CMD with stdout on /dev/null (stdin and stderr inherited), reaps it
 * with wait4 and prints one line on its own stdout:
 *
 *   STATUS MAXRSS_KIB UTIME_US STIME_US
 *
 * STATUS is the raw wait status.  Being small, this process adds ~1 MiB,
 * not its parent's size, to CMD's ru_maxrss.  CMD dies with it
 * (PR_SET_PDEATHSIG).  Exit status: 0, or 2 when it could not measure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: measure CMD [ARGS...]\n");
        return 2;
    }
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0) {
        perror("measure: /dev/null");
        return 2;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("measure: fork");
        return 2;
    }
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(126);
        if (dup2(devnull, STDOUT_FILENO) < 0)
            _exit(126);
        execvp(argv[1], argv + 1);
        fprintf(stderr, "measure: cannot run %s: %m\n", argv[1]);
        _exit(errno == ENOENT ? 127 : 126);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            perror("measure: wait4");
            return 2;
        }
    }
    printf("%d %ld %lld %lld\n", status, ru.ru_maxrss,
           (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
           (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);
    return fflush(stdout) == 0 ? 0 : 2;
}
"""
"""The measuring helper's C source (compiled once by :func:`build_measure`)."""


@dataclass(frozen=True)
class RunResult:
    """One finished process: its measurements, exit code and last stderr line."""

    sample: Sample
    exit_code: int
    """As :attr:`subprocess.Popen.returncode`: negative for a death by signal."""
    stderr_tail: str


@dataclass
class WorkloadRuns:
    """Every sample of one workload, per mode, and the error that stopped it."""

    workload: Workload
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    error: str | None = None


def mode_argv(
    mode: str,
    argv: Sequence[str],
    *,
    python: str = sys.executable,
    strace: str | None = "strace",
    true: str = "/bin/true",
) -> list[str]:
    """The command line that runs ``argv`` in ``mode``."""
    if mode == NATIVE:
        return list(argv)
    if mode == SYSPHASE:
        return [python, "-m", "sysphase", "trace", "-c", "-o", os.devnull, "--", *argv]
    if mode == STARTUP:
        return [python, "-m", "sysphase", "trace", "-c", "-o", os.devnull, "--", true]
    if mode == STRACE:
        if strace is None:
            raise ValueError("the strace mode needs strace")
        return [strace, "-f", "-c", "-o", os.devnull, *argv]
    raise ValueError(f"unknown mode {mode!r}")


def rotated(modes: Sequence[str], round_index: int) -> list[str]:
    """``modes`` rotated left by ``round_index``: each round starts with another mode."""
    if not modes:
        return []
    k = round_index % len(modes)
    return [*modes[k:], *modes[:k]]


def describe_exit(code: int) -> str:
    """'exited with status 1' or 'was killed by SIGSEGV'."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def bench_env() -> dict[str, str]:
    """The environment of every run: ours, with ``LC_ALL=C`` (ls sorts bytes, fast)."""
    env = dict(os.environ)
    env["LC_ALL"] = "C"
    return env


def _tail(f: IO[bytes]) -> str:
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - 4096))
    text = f.read().decode("utf-8", "replace")
    return next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "")


def build_measure(*, gcc: str = "gcc", outdir: Path | None = None) -> Path:
    """Compile the measuring helper (once); raises :class:`BenchError` without gcc."""
    return compile_cached(
        "measure", MEASURE_SOURCE, "the benchmark's measuring helper", gcc=gcc, outdir=outdir
    )


def parse_measure_output(text: str) -> tuple[int, int, float]:
    """The helper's line -> (exit code as Popen gives it, max RSS KiB, CPU seconds).

    Raises ValueError for anything but four integers.
    """
    status, rss, utime_us, stime_us = (int(f) for f in text.split())
    return os.waitstatus_to_exitcode(status), rss, (utime_us + stime_us) / 1e6


def run_once(argv: Sequence[str], env: Mapping[str, str], *, measure: Path) -> RunResult:
    """Run ``argv`` through the helper; measure wall time, peak RSS and CPU time."""
    with tempfile.TemporaryFile(prefix="sysphase-bench-") as err:
        start = time.perf_counter()
        proc = subprocess.run(
            [str(measure), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=dict(env),
            check=False,
        )
        elapsed = time.perf_counter() - start
        tail = _tail(err)
    try:
        if proc.returncode != 0:
            raise ValueError(proc.returncode)
        exit_code, rss, cpu = parse_measure_output(proc.stdout.decode("ascii", "replace"))
    except ValueError:
        what = describe_exit(proc.returncode) if proc.returncode else "printed no measurement"
        detail = f": {tail}" if tail else ""
        raise BenchError(f"the measuring helper {what} running {argv[0]}{detail}") from None
    return RunResult(Sample(elapsed, rss, cpu), exit_code, tail)


def _failure(what: str, result: RunResult) -> str:
    text = f"{what} {describe_exit(result.exit_code)}"
    return f"{text}: {result.stderr_tail}" if result.stderr_tail else text


def run_benchmark(
    workloads: Sequence[Workload],
    *,
    rounds: int,
    strace: str | None,
    measure: Path,
    env: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> list[WorkloadRuns]:
    """Run every workload in every mode, ``rounds`` times; return the samples.

    A workload whose run fails (a non-zero exit) stops there with an error;
    the others go on. ``strace=None`` leaves the strace mode out.
    """
    env = bench_env() if env is None else env
    say = progress if progress is not None else (lambda _msg: None)
    true = shutil.which("true") or "/bin/true"
    modes = [NATIVE, SYSPHASE, STARTUP] + ([STRACE] if strace is not None else [])
    runs = [WorkloadRuns(w, {m: [] for m in modes}) for w in workloads]

    for r in runs:
        say(f"warm-up   {r.workload.name:<6} native")
        result = run_once(r.workload.argv, env, measure=measure)
        if result.exit_code != 0:
            r.error = _failure(f"the {r.workload.name} workload on its own", result)

    for index in range(rounds):
        for r in runs:
            if r.error is not None:
                continue
            for mode in rotated(modes, index):
                argv = mode_argv(mode, r.workload.argv, strace=strace, true=true)
                result = run_once(argv, env, measure=measure)
                if result.exit_code != 0:
                    r.error = _failure(f"the {mode} run of the {r.workload.name} workload", result)
                    break
                r.samples[mode].append(result.sample)
                say(
                    f"round {index + 1}/{rounds} {r.workload.name:<6} {mode:<17}"
                    f"{result.sample.seconds:9.3f} s"
                )
    return runs


def _strace_version(strace: str | None) -> str | None:
    if strace is None:
        return None
    try:
        out = subprocess.run(
            [strace, "-V"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "strace (version unknown)"
    first = out.splitlines()[0] if out.strip() else "strace (version unknown)"
    return first.replace(" -- version", "")


def bench_info(rounds: int, strace: str | None) -> BenchInfo:
    """Python, strace and kernel versions and the CPU count, for the report."""
    return BenchInfo(
        rounds=rounds,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        strace=_strace_version(strace),
        kernel=platform.release(),
        cpus=os.cpu_count() or 1,
    )
