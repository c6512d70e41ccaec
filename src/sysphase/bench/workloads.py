"""The benchmark workloads, and building the ``loop`` program they need.

``redis`` is a server workload: redis-server on a free port of 127.0.0.1
with a temporary folder and no persistence (``--save ""``), driven by
``redis-benchmark -q -n N -t set,get`` (requests per second) and stopped with
``redis-cli SHUTDOWN NOSAVE``; in a traced mode the server is the traced
program.

``loop`` makes N ``getppid`` calls as fast as it can (tests/fixtures/loop.c).
In a repository checkout that file is compiled; from an installed package
without the tests folder, the copy embedded here (:data:`LOOP_SOURCE`, kept
identical by a unit test) is. Either way :mod:`.cbuild` compiles it with
fixed flags and no sanitizer settings from the environment into a cache folder.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sysphase.bench.cbuild import compile_cached
from sysphase.bench.errors import BenchError

__all__ = [
    "DEFAULT_LOOP_CALLS",
    "DEFAULT_REDIS_REQUESTS",
    "LOOP_SOURCE",
    "QUICK_LOOP_CALLS",
    "QUICK_REDIS_REQUESTS",
    "QUICK_WORKLOADS",
    "WORKLOAD_NAMES",
    "Workload",
    "build_loop",
    "free_port",
    "make_workloads",
    "redis_workload",
    "repo_loop_source",
]

WORKLOAD_NAMES = ("loop", "find", "ls", "redis")
QUICK_WORKLOADS = ("loop", "ls")
DEFAULT_LOOP_CALLS = 1_000_000
QUICK_LOOP_CALLS = 100_000
DEFAULT_REDIS_REQUESTS = 100_000
QUICK_REDIS_REQUESTS = 10_000

LOOP_SOURCE = r"""/*
 * loop.c - a syscall-heavy benchmark workload.
 *
 * Usage: loop [N]        (N defaults to 1000000)
 *
 * The main (only) thread makes N getppid() calls through syscall(2), as
 * fast as it can, and exits 0.  Under a tracer:
 *
 *   getppid: calls = N, errors = 0
 *   fchdir:  calls = 0
 *
 * Each getppid costs about 0.1 us natively and two ptrace stops (entry and
 * exit) when traced, so (traced - native) time over N measures a tracer's
 * per-syscall overhead.  Exit status: 0, or 2 on bad arguments.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = 1000000;

    if (argc > 2) {
        fprintf(stderr, "usage: loop [N]\n");
        return 2;
    }
    if (argc == 2) {
        char *end;
        errno = 0;
        n = strtol(argv[1], &end, 10);
        if (errno != 0 || end == argv[1] || *end != '\0' || n < 0) {
            fprintf(stderr, "loop: N must be a non-negative integer, not '%s'\n", argv[1]);
            return 2;
        }
    }
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    return 0;
}
"""
"""A copy of tests/fixtures/loop.c, for installs without the tests folder."""


@dataclass(frozen=True)
class Workload:
    """One program to time; its output goes to /dev/null."""

    name: str
    description: str
    argv: tuple[str, ...]
    calls: int | None = None
    """How many system calls it makes, when known (for a per-call cost)."""
    server: bool = False
    """A server: started, driven by :attr:`client` on :attr:`port`, stopped by :attr:`stop`."""
    port: int = 0
    client: tuple[str, ...] | None = None
    """The client command, without ``-h``, ``-p`` and ``-q`` (added by the runner)."""
    stop: tuple[str, ...] | None = None
    """The command that stops the server, without host, port and the command itself."""


def repo_loop_source() -> Path | None:
    """tests/fixtures/loop.c when running from a repository checkout, else ``None``."""
    path = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "loop.c"
    return path if path.is_file() else None


def build_loop(*, gcc: str = "gcc", outdir: Path | None = None) -> Path:
    """Compile the loop program (once per source and flags); return its path.

    Uses tests/fixtures/loop.c in a checkout, :data:`LOOP_SOURCE` otherwise.
    Raises :class:`BenchError` when gcc is missing or the build fails.
    """
    repo_source = repo_loop_source()
    source = repo_source.read_text(encoding="utf-8") if repo_source else LOOP_SOURCE
    return compile_cached("loop", source, "the loop workload", gcc=gcc, outdir=outdir)


def _program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BenchError(f"cannot run the {name} workload: {name!r} is not on PATH")
    return path


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_workload(requests: int) -> Workload:
    """redis-server on a free port with a temporary folder, and its client commands.

    Raises :class:`BenchError` when redis-server, redis-benchmark or
    redis-cli is not on PATH.
    """
    server, bench, cli = (_program(p) for p in ("redis-server", "redis-benchmark", "redis-cli"))
    folder = tempfile.mkdtemp(prefix="sysphase-bench-redis-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    port = free_port()
    argv: tuple[str, ...] = (server, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder)
    argv += ("--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "")
    return Workload(
        "redis",
        f"redis-server under redis-benchmark -n {requests:,} -t set,get (requests per second)",
        argv,
        server=True,
        port=port,
        client=(bench, "-n", str(requests), "-t", "set,get"),
        stop=(cli,),
    )


def make_workloads(
    names: Sequence[str],
    *,
    loop_calls: int,
    loop_binary: Path | None = None,
    redis_requests: int = DEFAULT_REDIS_REQUESTS,
) -> list[Workload]:
    """The chosen workloads, in the order given, with programs resolved to absolute paths.

    ``loop_binary`` defaults to :func:`build_loop`'s result. Raises
    :class:`BenchError` naming the first workload that cannot run.
    """
    workloads = []
    for name in names:
        if name == "redis":
            workloads.append(redis_workload(redis_requests))
            continue
        if name == "loop":
            binary = loop_binary if loop_binary is not None else build_loop()
            workloads.append(
                Workload(
                    "loop",
                    f"getppid() loop, {loop_calls:,} calls",
                    (str(binary), str(loop_calls)),
                    calls=loop_calls,
                )
            )
        elif name == "find":
            if not Path("/usr").is_dir():
                raise BenchError("cannot run the find workload: /usr is not a directory")
            workloads.append(Workload("find", "find /usr > /dev/null", (_program("find"), "/usr")))
        elif name == "ls":
            if not Path("/usr/share").is_dir():
                raise BenchError("cannot run the ls workload: /usr/share is not a directory")
            workloads.append(
                Workload(
                    "ls", "ls -laR /usr/share > /dev/null", (_program("ls"), "-laR", "/usr/share")
                )
            )
        else:
            raise BenchError(f"unknown workload {name!r} (choose from {', '.join(WORKLOAD_NAMES)})")
    return workloads
