"""Run one command through a tiny C helper and measure it: wall time, peak RSS, CPU time.

Wall time is :func:`time.perf_counter` around :func:`subprocess.run`. Memory
and CPU time come from ``wait4``'s rusage, taken by a tiny C helper
(:data:`MEASURE_SOURCE`) that starts the command and reaps it: Linux counts
the memory of the process that forks a child into the child's ``ru_maxrss``
(at exec, the peak of the replaced address space is kept), so a child reaped
straight by this ~20 MiB Python process would never show less than that. The
helper is ~1 MiB. ``ru_maxrss`` is the largest of the command and the
processes it reaped: for the traced modes, in practice the tracer.

stdin and stdout are /dev/null; stderr goes to a temporary file so a failure
can be reported (its last line).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sysphase.bench.cbuild import compile_cached
from sysphase.bench.errors import BenchError
from sysphase.bench.stats import Sample

__all__ = [
    "MEASURE_SOURCE",
    "RunResult",
    "bench_env",
    "build_measure",
    "describe_exit",
    "last_line",
    "measured",
    "parse_measure_output",
    "read_tail",
    "run_once",
]

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


def last_line(text: str) -> str:
    """The last non-empty line of ``text``, stripped ("" if none)."""
    return next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "")


def read_tail(f: IO[bytes]) -> str:
    """The last non-empty line of the last 4 KiB of ``f`` (a process's stderr file)."""
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - 4096))
    return last_line(f.read().decode("utf-8", "replace"))


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


def measured(
    returncode: int, stdout: bytes, argv: Sequence[str], tail: str, elapsed: float
) -> tuple[int, Sample]:
    """The helper's exit and output -> (the command's exit code, its sample).

    Raises :class:`BenchError` when the helper could not measure.
    """
    try:
        if returncode != 0:
            raise ValueError(returncode)
        exit_code, rss, cpu = parse_measure_output(stdout.decode("ascii", "replace"))
    except ValueError:
        what = describe_exit(returncode) if returncode else "printed no measurement"
        detail = f": {tail}" if tail else ""
        raise BenchError(f"the measuring helper {what} running {argv[0]}{detail}") from None
    return exit_code, Sample(elapsed, rss, cpu)


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
        tail = read_tail(err)
    exit_code, sample = measured(proc.returncode, proc.stdout, argv, tail, elapsed)
    return RunResult(sample, exit_code, tail)
