"""A minimal HTTP/1.1 client for the nginx workload's driver: keep-alive, pipelining, gzip.

Enough for scenario steps: requests with headers and a body, sent one at a
time or pipelined on a persistent connection, and responses read back with
their bodies (``Content-Length``, chunked, or up to the close; none for HEAD,
1xx, 204 and 304). :func:`encode` and :class:`Parser` are pure; only
:class:`Connection` touches a socket.
"""

from __future__ import annotations

import socket
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Closed", "Connection", "Parser", "ProtocolError", "Response", "encode"]

#: the most bytes a response's header lines may take
MAX_HEAD = 64 << 10


class Closed(Exception):
    """The server closed the connection before a whole response came."""


class ProtocolError(Exception):
    """The server sent something that is not HTTP/1.1."""


@dataclass(frozen=True, slots=True)
class Response:
    """One response: status, header lines (name, value) in order, the body as sent."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header NAME (any case), or None."""
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def head_text(self) -> str:
        """The header lines as ``name: value``, lower-cased, one a line."""
        return "\n".join(f"{k}: {v}" for k, v in self.headers).lower()

    def text(self) -> str:
        """The body as text, gunzipped when the response is gzip-encoded."""
        body = self.body
        if (self.header("Content-Encoding") or "").lower() == "gzip":
            body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
        return body.decode("utf-8", "replace")


def encode(
    method: str, target: str, host: str, headers: Sequence[tuple[str, str]], body: bytes
) -> bytes:
    """A request: the request line, Host, the headers, Content-Length when there is a body."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in headers]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _NeedMore(Exception):
    pass


class Parser:
    """Incremental HTTP/1.1 response parser: feed bytes, take whole responses."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.eof = False

    def feed(self, data: bytes) -> None:
        if data:
            self.buf += data
        else:
            self.eof = True

    def take(self, head: bool = False) -> Response | None:
        """The next whole response (HEAD: no body follows), or None until more bytes come."""
        try:
            status, headers, start = self._head()
            body, end = self._body(status, headers, start, head)
        except _NeedMore:
            return None
        del self.buf[:end]
        return Response(status, headers, body)

    def _head(self) -> tuple[int, tuple[tuple[str, str], ...], int]:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                raise ProtocolError(f"no end of the header lines in {MAX_HEAD} bytes")
            raise _NeedMore
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        headers = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon:
                raise ProtocolError(f"not a header line: {line[:80]!r}")
            headers.append((name.strip(), value.strip()))
        return int(code), tuple(headers), end + 4

    def _body(
        self, status: int, headers: tuple[tuple[str, str], ...], start: int, head: bool
    ) -> tuple[bytes, int]:
        fields = {k.lower(): v for k, v in headers}
        if head or status < 200 or status in (204, 304):
            return b"", start
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return self._chunked(start)
        if "content-length" in fields:
            end = start + int(fields["content-length"])
            if len(self.buf) < end:
                raise _NeedMore
            return bytes(self.buf[start:end]), end
        if not self.eof:
            raise _NeedMore
        return bytes(self.buf[start:]), len(self.buf)

    def _chunked(self, pos: int) -> tuple[bytes, int]:
        out = bytearray()
        while True:
            eol = self.buf.find(b"\r\n", pos)
            if eol < 0:
                raise _NeedMore
            size = int(bytes(self.buf[pos:eol]).split(b";")[0], 16)
            pos = eol + 2
            if size == 0:
                end = self.buf.find(b"\r\n\r\n", pos - 2)
                if end < 0:
                    raise _NeedMore
                return bytes(out), end + 4
            if len(self.buf) < pos + size + 2:
                raise _NeedMore
            out += self.buf[pos : pos + size]
            pos += size + 2


class Connection:
    """One persistent TCP connection to an HTTP server on 127.0.0.1."""

    def __init__(self, port: int, timeout: float) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.host = f"127.0.0.1:{port}"
        self.parser = Parser()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, head: bool = False) -> Response:
        """The next response (HEAD: its request was a HEAD, no body follows)."""
        while True:
            response = self.parser.take(head)
            if response is not None:
                return response
            if self.parser.eof:
                raise Closed("the server closed the connection")
            self.parser.feed(self.sock.recv(1 << 16))

    def close(self) -> None:
        self.sock.close()
