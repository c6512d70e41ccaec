"""A minimal memcached client (the text protocol) for the memcached workload's driver.

Enough for scenario steps: a command line with an optional data block, sent
once or pipelined, and whole replies read back as their lines (a data block
is one line of its own): ``STORED``; ``VALUE k 0 5``, ``hello``, ``END``;
``STAT ...`` lines (or metadump's ``key=...``) up to ``END``; a meta ``VA 5 ...``
and its data. Text is
Latin-1 both ways, so any byte survives. :func:`encode` and :class:`Parser`
are pure; only :class:`Connection` touches a socket.
"""

from __future__ import annotations

import socket

__all__ = ["Closed", "Connection", "Parser", "ProtocolError", "encode", "is_error"]

#: reply lines that continue until END
_LISTING = ("STAT ", "ITEM ", "PREFIX ", "key=")
#: the most bytes one reply line may take
MAX_LINE = 64 << 10


class Closed(Exception):
    """The server closed the connection before a whole reply came."""


class ProtocolError(Exception):
    """The server sent something that is not a text-protocol reply."""


def encode(line: str, data: bytes | None = None) -> bytes:
    """A command line ended by CRLF, then its data block and CRLF when there is one."""
    out = line.encode("latin-1") + b"\r\n"
    return out if data is None else out + data + b"\r\n"


def is_error(reply: list[str]) -> bool:
    """ERROR, CLIENT_ERROR or SERVER_ERROR."""
    return bool(reply) and reply[0].split(" ", 1)[0] in ("ERROR", "CLIENT_ERROR", "SERVER_ERROR")


class _NeedMore(Exception):
    pass


class Parser:
    """Incremental reply parser: feed bytes, take whole replies (lists of lines)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> None:
        self.buf += data

    def take(self) -> list[str] | None:
        """The next whole reply, or None until more bytes come."""
        pos = 0
        lines: list[str] = []
        try:
            while True:
                text, pos = self._line(pos)
                parts = text.split("\n")  # metadump ends its lines with LF alone, END with CRLF
                lines += parts
                line = parts[-1]
                if line.startswith(("VALUE ", "VA ")):
                    words = line.split()
                    size = words[3] if words[0] == "VALUE" and len(words) > 3 else words[1]
                    block, pos = self._block(pos, size)
                    lines.append(block)
                    if words[0] == "VA":
                        break
                elif not line.startswith(_LISTING):
                    break
        except _NeedMore:
            return None
        del self.buf[:pos]
        return lines

    def _line(self, pos: int) -> tuple[str, int]:
        end = self.buf.find(b"\r\n", pos)
        if end < 0:
            if len(self.buf) - pos > MAX_LINE:
                raise ProtocolError(f"no end of line in {MAX_LINE} bytes")
            raise _NeedMore
        return bytes(self.buf[pos:end]).decode("latin-1"), end + 2

    def _block(self, pos: int, size: str) -> tuple[str, int]:
        if not size.isdigit():
            raise ProtocolError(f"a data block of size {size[:20]!r}")
        end = pos + int(size)
        if len(self.buf) < end + 2:
            raise _NeedMore
        if self.buf[end : end + 2] != b"\r\n":
            raise ProtocolError("a data block not ended by CRLF")
        return bytes(self.buf[pos:end]).decode("latin-1"), end + 2


class Connection:
    """One TCP connection to a memcached server on 127.0.0.1."""

    def __init__(self, port: int, timeout: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.parser = Parser()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self) -> list[str]:
        while True:
            reply = self.parser.take()
            if reply is not None:
                return reply
            data = self.sock.recv(1 << 16)
            if not data:
                raise Closed("the server closed the connection")
            self.parser.feed(data)

    def close(self) -> None:
        self.sock.close()
