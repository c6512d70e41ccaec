"""Ask a program to describe itself: the inputs of the generated scenarios.

OS layer, untraced. Each function runs the workload's program the way its
generator needs and returns the raw description (text or RESP replies); the
pure generators (help_options, redis_commands, sqlite_catalog) turn it into
scenarios. Every call is bounded in time (:data:`TIMEOUT`); a program that
cannot describe itself is a :class:`WorkloadError` naming it and what failed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass

from sysphase.errors import WorkloadError
from sysphase.workloads import redis_driver, resp

__all__ = ["TIMEOUT", "RedisDescription", "help_text", "redis", "sqlite"]

#: seconds a program may take to describe itself
TIMEOUT = 30.0


def _program(name: str) -> str:
    return shutil.which(name) or name


def help_text(program: str) -> str:
    """``PROGRAM --help`` under LC_ALL=C."""
    path = _program(program)
    env = {**os.environ, "LC_ALL": "C"}
    try:
        done = subprocess.run(
            [path, "--help"], capture_output=True, text=True, env=env, timeout=TIMEOUT, check=True
        )
    except (OSError, subprocess.SubprocessError) as err:
        raise WorkloadError(f"{path} --help failed ({err})") from err
    return done.stdout


@dataclass(frozen=True, slots=True)
class RedisDescription:
    """What an untraced redis-server says: COMMAND DOCS, DEBUG HELP and CONFIG GET * replies."""

    docs: resp.Reply
    debug_help: str
    config: resp.Reply


def redis(program: str) -> RedisDescription:
    """Start PROGRAM (a redis-server) on a free loopback port, ask it, shut it down."""
    path = _program(program)
    port = redis_driver.free_port()
    with tempfile.TemporaryDirectory(prefix="sysphase-describe-") as tmp:
        conf = os.path.join(tmp, "redis.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(redis_driver.config_text(tmp, port, ()))
        try:
            proc = subprocess.Popen(
                [path, conf],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=tmp,
            )
        except OSError as err:
            raise WorkloadError(f"cannot start {path} to ask it for its commands ({err})") from err
        try:
            conn = _connect(port, proc)
            try:
                docs = conn.call(["COMMAND", "DOCS"])
                debug = conn.call(["DEBUG", "HELP"])
                config = conn.call(["CONFIG", "GET", "*"])
            finally:
                conn.close()
        except (OSError, resp.Closed, resp.ProtocolError) as err:
            raise WorkloadError(f"{path} did not describe its commands ({err})") from err
        finally:
            proc.kill()
            proc.wait()
    if not isinstance(docs, list) or not docs:
        raise WorkloadError(f"{path} answered COMMAND DOCS with {str(docs)[:100]!r}")
    lines = "\n".join(str(x) for x in debug) if isinstance(debug, list) else ""
    return RedisDescription(docs, lines, config)


def _connect(port: int, proc: subprocess.Popen[bytes]) -> resp.Connection:
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return resp.Connection(port, TIMEOUT)
        except OSError:
            if proc.poll() is not None:
                raise OSError(f"it exited with status {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise OSError(f"nothing answered on port {port} in {TIMEOUT:.0f} s") from None
            time.sleep(0.02)


def sqlite(program: str, script: str) -> str:
    """PROGRAM (the sqlite3 shell) run on an in-memory database with SCRIPT on stdin: stdout."""
    path = _program(program)
    try:
        done = subprocess.run(
            [path, ":memory:"],
            input=script,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=True,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError) as err:
        raise WorkloadError(f"{path} could not list its pragmas and functions ({err})") from err
    return done.stdout
