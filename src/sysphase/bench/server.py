"""Server workloads (redis): start the server in a mode, drive it, stop it, measure it all.

The server runs through the measuring helper (:mod:`.measure`) in the mode's
command line; once it answers PING, ``redis-benchmark`` drives it (requests
per second per test) and ``redis-cli`` stops it with ``SHUTDOWN NOSAVE``.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from sysphase.bench.errors import BenchError
from sysphase.bench.measure import RunResult, describe_exit, last_line, measured, read_tail
from sysphase.bench.stats import Sample, parse_redis_benchmark
from sysphase.bench.workloads import Workload

__all__ = ["READY_TIMEOUT_S", "run_server_once"]

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
        last = last_line(proc.stderr.decode("utf-8", "replace") or text)
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
        tail = read_tail(err)
    if problem is not None:
        return RunResult(Sample(elapsed, 0, 0.0), proc.returncode or 1, problem)
    exit_code, sample = measured(proc.returncode, out, argv, tail, elapsed)
    if exit_code == 0 and not rps:
        return RunResult(sample, 1, "the server stopped before it was driven")
    return RunResult(
        Sample(sample.seconds, sample.max_rss_kib, sample.cpu_seconds, rps), exit_code, tail
    )
