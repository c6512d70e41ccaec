"""The redis workload's client side: configure a server, drive it through a scenario's steps.

The runner traces ``redis-server`` on the calling thread while a
:class:`Driver` thread talks to it over loopback (no child processes: the
tracer's ``waitpid(-1)`` would collect them). The driver waits for the port,
runs the steps (commands, pushed messages, pauses), ends with SHUTDOWN, and
keeps the first failure for the runner to report. When it fails, or the
server never answers, it SIGKILLs the server so the trace ends. An optional
replica (or a peer: a standalone server the traced one replicates from or
migrates keys to) is a second, untraced ``redis-server`` started before the
trace. A generated ``probe`` step runs on a connection of its own and accepts
any reply. The driver logs when each step began (``steps_began``: monotonic
ns, what it covers) so a recording can say which step first made a call.
:func:`check` (a reply against a step's expectations) and :func:`label` are pure.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sysphase.workloads import children, resp
from sysphase.workloads.scenario import Expected, Step

__all__ = ["Driver", "check", "config_text", "free_port", "label", "side_server"]

#: seconds a step (or the server's start) may take before the scenario fails
STEP_TIMEOUT = 60.0
#: seconds a probe's command may take: a generated call never blocks long
PROBE_TIMEOUT = 10.0
#: commands whose second word names a subcommand (provenance says "CONFIG SET", not "CONFIG")
CONTAINERS = frozenset(
    {"ACL", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DEBUG", "FUNCTION", "LATENCY", "MEMORY",
     "MODULE", "OBJECT", "PUBSUB", "SCRIPT", "SLOWLOG", "XGROUP", "XINFO"}
)  # fmt: skip
#: between two tries of an ``until`` step
POLL = 0.05


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config_text(tmp: str, port: int, extra: Sequence[tuple[str, str]]) -> str:
    """redis.conf for a scenario: loopback only, data in ``tmp``, no automatic saves, then EXTRA."""
    lines = [
        f"port {port}",
        "bind 127.0.0.1",
        f"dir {tmp}",
        'save ""',
        "appendonly no",
        "daemonize no",
        'logfile ""',
        "enable-debug-command yes",
        "protected-mode yes",
    ]
    lines += [f"{k} {v}" for k, v in extra]
    return "\n".join(lines) + "\n"


@contextmanager
def side_server(
    tmp: str, name: str, port: int, extra: Sequence[tuple[str, str]] = ()
) -> Iterator[None]:
    """An untraced redis-server on PORT, data in ``tmp/NAME``, for the block.

    The replica has ``extra`` = replicaof the traced server; a peer has none.
    """
    folder = os.path.join(tmp, name)
    os.makedirs(folder, exist_ok=True)
    conf = os.path.join(folder, "redis.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(config_text(folder, port, extra))
    log = open(os.path.join(folder, "out.log"), "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        ["redis-server", conf], stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=folder
    )
    try:
        yield
    finally:
        proc.kill()
        proc.wait()
        log.close()


def _text(reply: resp.Reply) -> str:
    if isinstance(reply, list):
        return "\n".join(_text(r) for r in reply)
    if isinstance(reply, resp.ReplyError):
        return reply.message
    return "" if reply is None else str(reply)


def _equal(reply: resp.Reply, want: Expected) -> bool:
    if want is False:
        return reply is None
    if isinstance(want, tuple):
        return (
            isinstance(reply, list)
            and len(reply) == len(want)
            and all(_equal(r, w) for r, w in zip(reply, want, strict=True))
        )
    return type(reply) is type(want) and reply == want


def check(step: Step, reply: resp.Reply) -> str | None:
    """What is wrong with REPLY for STEP, or None when it is what the step expects."""
    if isinstance(reply, resp.ReplyError):
        if step.error is None:
            return f"error reply {reply.message!r}"
        if not reply.message.startswith(step.error):
            return f"error reply {reply.message!r}, expected one starting {step.error!r}"
        return None
    if step.error is not None:
        return f"reply {reply!r}, expected an error starting {step.error!r}"
    if step.reply is not None and not _equal(reply, step.reply):
        return f"reply {reply!r}, expected {step.reply!r}"
    if step.contains is not None and step.contains not in _text(reply):
        return f"reply {_text(reply)[:200]!r} lacks {step.contains!r}"
    return None


def _waiting(step: Step, reply: resp.Reply) -> bool:
    """An ``until``/``until_not`` step whose condition does not hold yet."""
    text = _text(reply)
    if step.until is not None and step.until not in text:
        return True
    return step.until_not is not None and step.until_not in text


def label(step: Step) -> str:
    """What a step covers, as provenance names it: ``SET``, ``CONFIG SET``, ``SHUTDOWN``."""
    if step.label:
        return step.label
    if step.kind in ("cmd", "probe", "shutdown") and step.args:
        words = [a.upper() for a in step.args[:2]]
        return " ".join(words) if words[0] in CONTAINERS and len(words) > 1 else words[0]
    return step.kind if step.kind != "read" else f"read {step.conn}"


def _describe(step: Step) -> str:
    if step.kind in ("cmd", "probe"):
        shown = " ".join(step.args)
        return repr(shown if len(shown) <= 60 else shown[:57] + "...")
    if step.kind == "read":
        return f"read on {step.conn!r}"
    return step.kind


class Driver(threading.Thread):
    """Runs a scenario's steps against the server on ``port``; ``error`` holds the first failure."""

    def __init__(
        self, steps: Sequence[Step], ports: dict[str, int], fill: Callable[[str], str]
    ) -> None:
        super().__init__(name="sysphase-redis-driver", daemon=True)
        self.steps = steps
        self.ports = ports
        self.fill = fill
        self.error: str | None = None
        self.finished = threading.Event()  # set by the runner when the trace has ended
        self.conns: dict[tuple[str, str], resp.Connection] = {}
        #: (CLOCK_MONOTONIC ns, label) as each step began, in order
        self.steps_began: list[tuple[int, str]] = []

    def run(self) -> None:
        children.quiet_thread()
        try:
            self._wait_for_server()
            for i, step in enumerate(self.steps, 1):
                self.steps_began.append((time.monotonic_ns(), label(step)))
                problem = self._step(step)
                if problem is not None:
                    self.error = f"step {i} ({_describe(step)}): {problem}"
                    break
            if self.error is None and (not self.steps or self.steps[-1].kind != "shutdown"):
                self._shutdown(("SHUTDOWN", "NOSAVE"))
        except (OSError, resp.Closed, resp.ProtocolError, TimeoutError) as err:
            self.error = self.error or f"talking to redis-server: {err}"
        finally:
            for c in self.conns.values():
                c.close()
            if self.error is not None:
                children.kill_children("redis")  # the traced server: the trace ends

    def _wait_for_server(self) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT
        while not self.finished.is_set():
            try:
                self._conn("main", "server").call(["PING"])
                return
            except (OSError, resp.Closed):
                self.conns.pop(("main", "server"), None)
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"nothing answered on port {self.ports['server']} "
                        f"within {STEP_TIMEOUT:.0f} s"
                    ) from None
                time.sleep(POLL)
        raise resp.Closed("redis-server exited before it answered")

    def _conn(self, name: str, on: str) -> resp.Connection:
        """The connection NAME to ON; a replica or peer (started with the trace) is waited for."""
        key = (name, on)
        deadline = time.monotonic() + STEP_TIMEOUT
        while key not in self.conns:
            try:
                self.conns[key] = resp.Connection(self.ports[on], STEP_TIMEOUT)
            except ConnectionRefusedError:
                if on == "server" or time.monotonic() > deadline:
                    raise
                time.sleep(POLL)
        return self.conns[key]

    def _step(self, step: Step) -> str | None:
        if step.kind == "sleep":
            time.sleep(step.seconds)
            return None
        if step.kind == "shutdown":
            return self._shutdown(step.args)
        if step.kind == "probe":
            return self._probe(step)
        if step.kind == "read":
            if (step.conn, "server") not in self.conns:
                return f"no connection named {step.conn!r} was opened before"
            return check(step, self.conns[(step.conn, "server")].read())
        args = [self.fill(a) for a in step.args]
        if step.until is not None or step.until_not is not None:
            return self._until(step, args)
        names = [step.conn] + [f"{step.conn}#{k}" for k in range(1, step.clients)]
        conns = [self._conn(n, step.on) for n in names]
        for c in conns:
            c.send(args, step.repeat)
        problem = None
        for c in conns:
            for _ in range(step.repeat):
                problem = problem or check(step, c.read())
        return problem

    def _probe(self, step: Step) -> str | None:
        """SETUP then the command on a connection of its own; any reply or a close passes.

        Only a server that refuses the connection or does not answer within
        PROBE_TIMEOUT fails the step.
        """
        conn = resp.Connection(self.ports[step.on], PROBE_TIMEOUT)
        try:
            for args in step.setup:
                conn.call([self.fill(a) for a in args])
            if tuple(a.upper() for a in step.args[:2]) == ("CLIENT", "REPLY"):
                _quiet_call(conn, step.args)
            else:
                conn.call([self.fill(a) for a in step.args])
        except (resp.Closed, resp.ProtocolError, ConnectionResetError):
            pass  # QUIT, HELLO 3, CLIENT KILL of itself: the command's own doing
        except TimeoutError:
            return f"no reply within {PROBE_TIMEOUT:.0f} s"
        finally:
            conn.close()
        return None

    def _until(self, step: Step, args: list[str]) -> str | None:
        conn = self._conn(step.conn, step.on)
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            reply = conn.call(args)
            if isinstance(reply, resp.ReplyError) or not _waiting(step, reply):
                return check(step, reply)
            if time.monotonic() > deadline:
                want = f"{step.until!r}" if step.until else f"no {step.until_not!r}"
                return f"still no reply with {want} after {STEP_TIMEOUT:.0f} s"
            time.sleep(POLL)

    def _shutdown(self, args: Sequence[str]) -> str | None:
        """SHUTDOWN: the server closes the connection; an error reply means it refused."""
        try:
            reply = self._conn("main", "server").call(list(args))
        except resp.Closed:
            return None
        return f"SHUTDOWN answered {reply!r} instead of exiting"


def _quiet_call(conn: resp.Connection, args: Sequence[str]) -> None:
    """A command that may silence its connection (CLIENT REPLY OFF / SKIP), then replies on.

    ``CLIENT REPLY ON`` and ``PING MARK`` follow it; the replies are read until
    PING's, whatever the command did to the ones before.
    """
    mark = "sysphase-probe-end"
    conn.send(list(args))
    conn.send(["CLIENT", "REPLY", "ON"])
    conn.send(["PING", mark])
    while conn.read() != mark:
        pass
