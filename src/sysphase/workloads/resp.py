"""A minimal Redis client (RESP2 over TCP) for the redis workload's driver.

Enough for scenario steps: send a command (or the same command many times,
pipelined), read replies and pushed pub/sub messages. Replies become plain
Python values: simple and bulk strings -> str, integers -> int, arrays ->
list, nil -> None, errors -> :class:`ReplyError` (returned, not raised, so a
step can expect one). :func:`encode` and :class:`Parser` are pure; only
:class:`Connection` touches a socket.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["Closed", "Connection", "Parser", "ReplyError", "encode"]


@dataclass(frozen=True, slots=True)
class ReplyError:
    """An error reply (``-ERR ...``)."""

    message: str


Reply: TypeAlias = "str | int | list[Reply] | ReplyError | None"


class Closed(Exception):
    """The server closed the connection."""


class ProtocolError(Exception):
    """The server sent something that is not RESP2."""


def encode(args: Sequence[str]) -> bytes:
    """A command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        data = a.encode("utf-8", "surrogateescape")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Parser:
    """Incremental RESP2 parser: feed bytes, take whole replies."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.pos = 0

    def feed(self, data: bytes) -> None:
        if self.pos:
            del self.buf[: self.pos]
            self.pos = 0
        self.buf += data

    def take(self) -> tuple[bool, Reply]:
        """(True, reply) when a whole reply is buffered, else (False, None)."""
        start = self.pos
        try:
            return True, self._value()
        except _NeedMore:
            self.pos = start
            return False, None

    def _line(self) -> bytes:
        end = self.buf.find(b"\r\n", self.pos)
        if end < 0:
            raise _NeedMore
        line = bytes(self.buf[self.pos : end])
        self.pos = end + 2
        return line

    def _value(self) -> Reply:
        line = self._line()
        if not line:
            raise ProtocolError("empty reply line")
        kind, rest = line[:1], line[1:].decode("utf-8", "replace")
        if kind == b"+":
            return rest
        if kind == b"-":
            return ReplyError(rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            if len(self.buf) < self.pos + n + 2:
                raise _NeedMore
            data = bytes(self.buf[self.pos : self.pos + n])
            self.pos += n + 2
            return data.decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._value() for _ in range(n)]
        raise ProtocolError(f"unknown reply type {kind!r}")


class _NeedMore(Exception):
    pass


class Connection:
    """One TCP connection to a Redis server."""

    def __init__(self, port: int, timeout: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.parser = Parser()

    def send(self, args: Sequence[str], times: int = 1) -> None:
        self.sock.sendall(encode(args) * times)

    def read(self) -> Reply:
        while True:
            whole, reply = self.parser.take()
            if whole:
                return reply
            data = self.sock.recv(65536)
            if not data:
                raise Closed("the server closed the connection")
            self.parser.feed(data)

    def call(self, args: Sequence[str]) -> Reply:
        self.send(args)
        return self.read()

    def close(self) -> None:
        self.sock.close()
