"""Run the benchmark's processes and measure them.

Each run is one process: the workload alone (``native``), the real
``python -m sysphase trace -c`` command line (``sysphase``), the same tracing
``/bin/true`` (``sysphase-startup``, the interpreter's start-up),
``strace -f -c`` (``strace``), ``record --sets-only``, ``record --baseline``
(with a profile recorded once before the rounds), ``trace -c --backend
ebpf`` and a bpftrace one-liner. stdin and stdout are /dev/null; stderr goes
to a temporary file so a failure can be reported.

A server workload (redis) runs the server in the mode, waits until it
answers PING, drives it with ``redis-benchmark`` (requests per second) and
stops it with ``SHUTDOWN NOSAVE`` through ``redis-cli``.

A mode that cannot run (the sysphase command line rejects its flag with a
usage error, exit 2; bpftrace or strace missing; any failure on its first
run) is reported as unavailable with the reason, and the others go on.

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

import contextlib
import os
import platform
import shlex
import shutil
import signal
import socket
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
from sysphase.bench.stats import (
    BASELINE,
    BPFTRACE,
    EBPF,
    MODES,
    NATIVE,
    PYTHON_MODES,
    SETS_ONLY,
    STARTUP,
    STRACE,
    SYSPHASE,
    Sample,
    parse_redis_benchmark,
)
from sysphase.bench.workloads import Workload

__all__ = [
    "BPFTRACE_PROGRAM",
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
    unavailable: dict[str, str] = field(default_factory=dict)
    """Modes that could not run, with the reason."""
    baseline: str | None = None
    """The profile recorded for the baseline mode."""


BPFTRACE_PROGRAM = "tracepoint:raw_syscalls:sys_enter /pid == cpid/ { @[args->id] = count(); }"
"""The bpftrace mode's one-liner (issue 7), on the process bpftrace -c starts."""


def mode_argv(
    mode: str,
    argv: Sequence[str],
    *,
    python: str = sys.executable,
    strace: str | None = "strace",
    true: str = "/bin/true",
    bpftrace: str | None = "bpftrace",
    baseline: str | None = None,
    out: str | None = None,
) -> list[str]:
    """The command line that runs ``argv`` in ``mode``.

    ``out`` is where the record modes write their profile; ``baseline`` the
    profile ``record --baseline`` starts from.
    """
    sysphase = [python, "-m", "sysphase"]
    if mode == NATIVE:
        return list(argv)
    if mode == SYSPHASE:
        return [*sysphase, "trace", "-c", "-o", os.devnull, "--", *argv]
    if mode == STARTUP:
        return [*sysphase, "trace", "-c", "-o", os.devnull, "--", true]
    if mode == STRACE:
        if strace is None:
            raise ValueError("the strace mode needs strace")
        return [strace, "-f", "-c", "-o", os.devnull, *argv]
    if mode in (SETS_ONLY, BASELINE):
        if out is None:
            raise ValueError(f"the {mode} mode needs a profile to write")
        if mode == SETS_ONLY:
            return [*sysphase, "record", "--sets-only", "-o", out, "--", *argv]
        if baseline is None:
            raise ValueError("the baseline mode needs a baseline profile")
        return [*sysphase, "record", "--baseline", baseline, "-o", out, "--", *argv]
    if mode == EBPF:
        return [*sysphase, "trace", "-c", "--backend", "ebpf", "-o", os.devnull, "--", *argv]
    if mode == BPFTRACE:
        if bpftrace is None:
            raise ValueError("the bpftrace mode needs bpftrace")
        return [bpftrace, "-e", BPFTRACE_PROGRAM, "-c", shlex.join(argv)]
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


def _measured(
    returncode: int, stdout: bytes, argv: Sequence[str], tail: str, elapsed: float
) -> tuple[int, Sample]:
    """The helper's exit and output -> (the command's exit code, its sample)."""
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
        tail = _tail(err)
    exit_code, sample = _measured(proc.returncode, proc.stdout, argv, tail, elapsed)
    return RunResult(sample, exit_code, tail)


# --- server workloads (redis) ---------------------------------------------------

READY_TIMEOUT_S = 60.0
"""How long a server may take to answer PING (under a tracer too)."""


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if _answers_ping(port):
            return True
        time.sleep(0.05)
    return False


def _drive(workload: Workload, env: Mapping[str, str]) -> tuple[tuple[str, float], ...]:
    """redis-benchmark against the server: requests per second per test."""
    assert workload.client is not None
    try:
        proc = subprocess.run(
            [*workload.client, "-h", "127.0.0.1", "-p", str(workload.port), "-q"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=dict(env),
            timeout=900,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchError("redis-benchmark did not finish within 900 s") from None
    text = proc.stdout.decode("utf-8", "replace")
    try:
        return parse_redis_benchmark(text)
    except ValueError:
        last = _last_line(proc.stderr.decode("utf-8", "replace") or text)
        raise BenchError(
            f"redis-benchmark {describe_exit(proc.returncode)} without a rate"
            + (f": {last}" if last else "")
        ) from None


def _stop_server(workload: Workload, env: Mapping[str, str]) -> None:
    assert workload.stop is not None
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(
            [*workload.stop, "-h", "127.0.0.1", "-p", str(workload.port), "SHUTDOWN", "NOSAVE"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=dict(env),
            timeout=60,
            check=False,
        )


def _last_line(text: str) -> str:
    return next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "")


def run_server_once(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    measure: Path,
    workload: Workload,
    ready_timeout: float = READY_TIMEOUT_S,
) -> RunResult:
    """Start the server ``argv`` through the helper, drive it, stop it; measure it all.

    The sample carries redis-benchmark's requests per second. A server that
    exits before it answers (a mode that cannot run), does not answer in
    time, or a client that fails gives a failed result, not an exception.
    """
    problem = None
    rps: tuple[tuple[str, float], ...] = ()
    with tempfile.TemporaryFile(prefix="sysphase-bench-") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(measure), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            env=dict(env),
        )
        try:
            if _wait_ready(workload.port, proc, ready_timeout):
                try:
                    rps = _drive(workload, env)
                except BenchError as exc:
                    problem = str(exc)
                _stop_server(workload, env)
            elif proc.poll() is None:
                problem = f"the server did not answer PING within {ready_timeout:g} s"
                proc.kill()  # the helper's child dies with it (PR_SET_PDEATHSIG)
            try:
                out, _ = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                problem = problem or "the server did not stop after SHUTDOWN NOSAVE"
                proc.kill()
                out, _ = proc.communicate()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        elapsed = time.perf_counter() - start
        tail = _tail(err)
    if problem is not None:
        return RunResult(Sample(elapsed, 0, 0.0), proc.returncode or 1, problem)
    exit_code, sample = _measured(proc.returncode, out, argv, tail, elapsed)
    if exit_code == 0 and not rps:
        return RunResult(sample, 1, "the server stopped before it was driven")
    return RunResult(
        Sample(sample.seconds, sample.max_rss_kib, sample.cpu_seconds, rps), exit_code, tail
    )


# --- the benchmark ----------------------------------------------------------------


def _failure(what: str, result: RunResult) -> str:
    text = f"{what} {describe_exit(result.exit_code)}"
    return f"{text}: {result.stderr_tail}" if result.stderr_tail else text


@dataclass(frozen=True)
class Tools:
    """The programs the modes run; ``None`` for one that is not installed."""

    strace: str | None
    bpftrace: str | None = None
    true: str = "/bin/true"
    python: str = sys.executable


def selected_modes(modes: Sequence[str]) -> list[str]:
    """The modes to run, in report order: native always, the start-up baseline with Python modes."""
    chosen = set(modes) | {NATIVE}
    if chosen & set(PYTHON_MODES):
        chosen.add(STARTUP)
    return [m for m in MODES if m in chosen]


def run_benchmark(
    workloads: Sequence[Workload],
    *,
    rounds: int,
    strace: str | None,
    measure: Path,
    env: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    modes: Sequence[str] = MODES,
    bpftrace: str | None = None,
    python: str = sys.executable,
) -> list[WorkloadRuns]:
    """Run every workload in every mode, ``rounds`` times; return the samples.

    A workload whose native run fails stops there with an error; the others
    go on. A mode that cannot run is set aside with its reason
    (:attr:`WorkloadRuns.unavailable`). ``strace=None`` or ``bpftrace=None``
    skip those modes; ``python`` runs sysphase's command line.
    """
    env = bench_env() if env is None else env
    say = progress if progress is not None else (lambda _msg: None)
    tools = Tools(strace, bpftrace, shutil.which("true") or "/bin/true", python)
    chosen = selected_modes(modes)
    runs = []
    for w in workloads:
        wanted = [m for m in chosen if not (w.server and m == STARTUP)]
        runs.append(WorkloadRuns(w, {m: [] for m in wanted}))
    with tempfile.TemporaryDirectory(prefix="sysphase-bench-") as tmp:
        for r in runs:
            _skip_missing_tools(r, tools)
            say(f"warm-up   {r.workload.name:<6} native")
            result = _run(r.workload.argv, r.workload, env, measure)
            if result.exit_code != 0:
                r.error = _failure(f"the {r.workload.name} workload on its own", result)
            elif BASELINE in r.samples and BASELINE not in r.unavailable:
                _record_baseline(r, tools, tmp, env, measure, say)
        for index in range(rounds):
            for r in runs:
                if r.error is None:
                    _one_round(r, index, rounds, tools, tmp, env, measure, say)
    return runs


def _run(
    argv: Sequence[str], workload: Workload, env: Mapping[str, str], measure: Path
) -> RunResult:
    if workload.server:
        return run_server_once(argv, env, measure=measure, workload=workload)
    return run_once(argv, env, measure=measure)


def _skip_missing_tools(r: WorkloadRuns, tools: Tools) -> None:
    if STRACE in r.samples and tools.strace is None:
        r.unavailable[STRACE] = "skipped: strace is not installed"
    if BPFTRACE in r.samples and tools.bpftrace is None:
        r.unavailable[BPFTRACE] = "skipped: bpftrace is not installed"


def _record_baseline(
    r: WorkloadRuns, tools: Tools, tmp: str, env: Mapping[str, str], measure: Path, say: Progress
) -> None:
    """``record`` once (untimed): the profile the baseline mode starts from."""
    path = os.path.join(tmp, f"{r.workload.name}-baseline-profile.json")
    argv = [tools.python, "-m", "sysphase", "record", "-o", path, "--", *r.workload.argv]
    say(f"baseline  {r.workload.name:<6} record")
    result = _run(argv, r.workload, env, measure)
    if result.exit_code != 0:
        r.unavailable[BASELINE] = "unavailable: " + _failure(
            "recording the baseline profile", result
        )
    else:
        r.baseline = path


def _one_round(
    r: WorkloadRuns,
    index: int,
    rounds: int,
    tools: Tools,
    tmp: str,
    env: Mapping[str, str],
    measure: Path,
    say: Progress,
) -> None:
    for mode in rotated(list(r.samples), index):
        if mode in r.unavailable:
            continue
        argv = mode_argv(
            mode,
            r.workload.argv,
            python=tools.python,
            strace=tools.strace,
            true=tools.true,
            bpftrace=tools.bpftrace,
            baseline=r.baseline,
            out=os.path.join(tmp, f"{r.workload.name}-{mode}.json"),
        )
        result = _run(argv, r.workload, env, measure)
        if result.exit_code != 0:
            what = f"the {mode} run of the {r.workload.name} workload"
            if mode == NATIVE:
                r.error = _failure(what, result)
                return
            if r.samples[mode]:
                r.unavailable[mode] = f"failed in round {index + 1}: " + _failure(what, result)
            else:
                r.unavailable[mode] = "unavailable: " + _failure(what, result)
            continue
        r.samples[mode].append(result.sample)
        rate = result.sample.throughput
        shown = f"{rate:12,.0f} req/s" if rate is not None else ""
        say(
            f"round {index + 1}/{rounds} {r.workload.name:<6} {mode:<17}"
            f"{result.sample.seconds:9.3f} s{shown}"
        )


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


def _bpftrace_version(bpftrace: str | None) -> str | None:
    if bpftrace is None:
        return None
    try:
        out = subprocess.run(
            [bpftrace, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "bpftrace (version unknown)"
    return out.strip().splitlines()[0] if out.strip() else "bpftrace (version unknown)"


def bench_info(
    rounds: int,
    strace: str | None,
    *,
    modes: Sequence[str] = MODES,
    bpftrace: str | None = None,
) -> BenchInfo:
    """Python, strace, bpftrace and kernel versions and the CPU count, for the report."""
    return BenchInfo(
        rounds=rounds,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        strace=_strace_version(strace),
        kernel=platform.release(),
        cpus=os.cpu_count() or 1,
        modes=tuple(modes),
        bpftrace=_bpftrace_version(bpftrace) if BPFTRACE in modes else None,
    )
