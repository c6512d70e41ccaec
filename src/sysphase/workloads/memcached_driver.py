"""The memcached workload's client side: text-protocol steps against a traced memcached.

The runner traces ``memcached -p PORT -l 127.0.0.1 -U 0 -t 4 -u nobody`` (the
scenario's argv: a free loopback port, TCP only, four worker threads; as root
it drops to nobody, as Debian's service drops to memcache) while a
:class:`Driver` thread (:mod:`service_driver`) plays the commands over named
connections (:mod:`memcache_client`) and stops the server with SIGTERM
unless the steps did. A command's ``{cas}`` is the CAS value of the last
``gets``/``gats`` reply on its connection. :func:`check` is pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sysphase.workloads import memcache_client
from sysphase.workloads.scenario_steps import CACHE_SIGNALS, CacheStep
from sysphase.workloads.service_driver import STEP_TIMEOUT, ServiceDriver

__all__ = ["Driver", "cas_of", "check"]


def check(step: CacheStep, reply: list[str]) -> str | None:
    """What is wrong with REPLY for STEP, or None when it is what the step expects."""
    text = "\n".join(reply)
    if step.reply is not None and text != step.reply:
        return f"reply {_short(text)!r}, expected {_short(step.reply)!r}"
    if step.contains is not None and step.contains not in text:
        return f"reply {_short(text)!r} lacks {step.contains!r}"
    if step.reply is None and step.contains is None and memcache_client.is_error(reply):
        return f"error reply {_short(text)!r}"
    return None


def cas_of(reply: list[str]) -> str | None:
    """The CAS value of the last ``VALUE key flags bytes cas`` line of REPLY, if any."""
    for line in reversed(reply):
        words = line.split(" ")
        if words[0] == "VALUE" and len(words) == 5:
            return words[4]
    return None


def _short(text: str) -> str:
    return text if len(text) <= 120 else text[:117] + "..."


def describe(step: CacheStep) -> str:
    if step.kind == "cmd":
        return repr(_short(step.line))
    return f"signal SIG{step.signal}" if step.kind == "signal" else step.kind


class Driver(ServiceDriver[CacheStep]):
    """Plays text-protocol steps against the memcached on ``port``; connections by name."""

    errors = (memcache_client.Closed, memcache_client.ProtocolError)

    def __init__(
        self,
        steps: Sequence[CacheStep],
        port: int,
        program: str,
        folder: str,
        fill: Callable[[str], str],
    ) -> None:
        super().__init__(steps, port, program, folder, CACHE_SIGNALS, fill)
        self.conns: dict[str, memcache_client.Connection] = {}
        self.cas: dict[str, str] = {}

    def describe(self, step: CacheStep) -> str:
        return describe(step)

    def close(self) -> None:
        for c in self.conns.values():
            c.close()
        self.conns.clear()

    def _conn(self, name: str) -> memcache_client.Connection:
        if name not in self.conns:
            self.conns[name] = memcache_client.Connection(self.port, STEP_TIMEOUT)
        return self.conns[name]

    def play(self, step: CacheStep) -> str | None:
        names = [step.conn] + [f"{step.conn}#{k}" for k in range(1, step.clients)]
        data = b"v" * step.size if step.size else None
        if step.data is not None:
            data = self.fill(step.data).encode("latin-1")
        for name in names:
            line = self.fill(step.line).replace("{cas}", self.cas.get(name, "0"))
            self._conn(name).send(memcache_client.encode(line, data) * step.repeat)
        if step.quiet:
            return None
        problem = None
        for name in names:
            for _ in range(step.repeat):
                reply = self._conn(name).read()
                problem = problem or check(step, reply)
                cas = cas_of(reply)
                if cas is not None:
                    self.cas[name] = cas
        return problem
