"""The nginx workload's set-up and client side: nginx.conf, a document root, HTTP steps.

:func:`prepare` writes, in a scenario's folder, an nginx.conf of its own (a
free loopback port, the pid file, logs and temporary folders in the folder,
two worker processes, nothing from /etc/nginx) and a document root of
generated files; the runner then traces ``nginx -g 'daemon off; master_process
on;'`` while a :class:`Driver` thread (:mod:`service_driver`) plays the HTTP
steps over keep-alive connections (:mod:`http_client`) and stops the master
with SIGQUIT (a graceful shutdown) unless the steps did. As root, the
workers run as ``nobody`` (nginx's default user), so the folder is made
readable to them. :func:`config_text`, :func:`docroot_files` and
:func:`check` are pure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence

from sysphase.workloads import http_client
from sysphase.workloads.scenario_steps import HTTP_SIGNALS, HttpStep
from sysphase.workloads.service_driver import STEP_TIMEOUT, ServiceDriver

__all__ = ["Driver", "check", "config_text", "docroot_files", "prepare"]

#: the temporary-file folders nginx keeps (each its *_temp_path directive)
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
#: file name suffix -> MIME type (the generated config's own types, not /etc/nginx/mime.types)
TYPES = {
    "html": "text/html",
    "txt": "text/plain",
    "css": "text/css",
    "js": "application/javascript",
    "json": "application/json",
    "bin": "application/octet-stream",
}


def config_text(tmp: str, port: int, extra: Sequence[tuple[str, str]], as_root: bool) -> str:
    """nginx.conf for a scenario: loopback, everything in TMP, then EXTRA's lines per context.

    EXTRA maps a context (main, events, http, server) to directives added to it.
    """
    add = {ctx: "\n".join(text for c, text in extra if c == ctx) for ctx in dict(extra)}
    types = " ".join(f"{t} {s};" for s, t in TYPES.items())
    temps = "\n".join(f"    {name}_temp_path {tmp}/temp/{name};" for name in TEMP_PATHS)
    lines = [
        "user nobody nogroup;" if as_root else "",
        "worker_processes 2;",
        f"pid {tmp}/nginx.pid;",
        f"error_log {tmp}/logs/error.log info;",
        add.get("main", ""),
        "events {",
        "    worker_connections 512;",
        add.get("events", ""),
        "}",
        "http {",
        f"    types {{ {types} }}",
        "    default_type application/octet-stream;",
        f"    access_log {tmp}/logs/access.log;",
        temps,
        add.get("http", ""),
        "    server {",
        f"        listen 127.0.0.1:{port};",
        "        server_name localhost;",
        f"        root {tmp}/html;",
        add.get("server", ""),
        "    }",
        "}",
    ]
    return "\n".join(line for line in lines if line) + "\n"


def _lorem(size: int) -> bytes:
    words = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    return (words * (size // len(words) + 1))[:size]


def _pattern(size: int) -> bytes:
    block = bytes(range(256)) * 16
    return (block * (size // len(block) + 1))[:size]


def docroot_files() -> Iterator[tuple[str, bytes]]:
    """(path under html/, content) of the generated document root."""
    yield "index.html", b"<html><body><h1>sysphase nginx workload</h1></body></html>\n"
    yield "404.html", b"<html><body>custom not found</body></html>\n"
    yield "style.css", b"body { color: #333; }\n" * 200
    yield "app.js", b"console.log('sysphase');\n" * 400
    yield "data.json", b'{"items": [' + b",".join(b"%d" % i for i in range(5000)) + b"]}\n"
    yield "text/lorem.txt", _lorem(256 << 10)
    yield "text/small.txt", b"small text file\n"
    yield "big.bin", _pattern(4 << 20)
    yield "files/a.txt", b"a\n"
    yield "files/b.txt", b"bb\n"
    yield "files/sub/c.txt", b"ccc\n"
    yield "upload/.keep", b""


def prepare(tmp: str, port: int, extra: Sequence[tuple[str, str]]) -> None:
    """Write TMP/nginx.conf, TMP/html (the document root), TMP/logs and TMP/temp.

    As root, TMP and everything in it becomes readable (the workers run as nobody)
    and html/upload writable by them (for WebDAV).
    """
    as_root = os.geteuid() == 0
    for rel, content in docroot_files():
        path = os.path.join(tmp, "html", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
    for folder in ("logs", "temp"):
        os.makedirs(os.path.join(tmp, folder), exist_ok=True)
    with open(os.path.join(tmp, "nginx.conf"), "w", encoding="utf-8") as f:
        f.write(config_text(tmp, port, extra, as_root))
    if as_root:
        os.chmod(tmp, 0o755)
        for root, _dirs, names in os.walk(os.path.join(tmp, "html")):
            os.chmod(root, 0o755)
            for name in names:
                os.chmod(os.path.join(root, name), 0o644)
        os.chmod(os.path.join(tmp, "html", "upload"), 0o777)


def check(step: HttpStep, response: http_client.Response) -> str | None:
    """What is wrong with RESPONSE for STEP, or None when it is what the step expects."""
    if step.status is not None and response.status != step.status:
        return f"status {response.status}, expected {step.status}"
    if step.length is not None and len(response.body) != step.length:
        return f"a body of {len(response.body)} bytes, expected {step.length}"
    if step.header is not None and step.header.lower() not in response.head_text():
        return f"no header line holds {step.header!r} ({response.head_text()[:200]!r})"
    if step.contains is not None and step.contains not in response.text():
        return f"the body {response.text()[:100]!r} lacks {step.contains!r}"
    return None


def describe(step: HttpStep) -> str:
    if step.kind == "request":
        return repr(f"{step.method} {step.target}")
    return f"signal SIG{step.signal}" if step.kind == "signal" else step.kind


class Driver(ServiceDriver[HttpStep]):
    """Plays HTTP steps against the nginx on ``port``; connections are kept alive by name."""

    errors = (http_client.Closed, http_client.ProtocolError)

    def __init__(
        self,
        steps: Sequence[HttpStep],
        port: int,
        program: str,
        folder: str,
        fill: Callable[[str], str],
    ) -> None:
        super().__init__(steps, port, program, folder, HTTP_SIGNALS, fill)
        self.conns: dict[str, http_client.Connection] = {}

    def describe(self, step: HttpStep) -> str:
        return describe(step)

    def close(self) -> None:
        for c in self.conns.values():
            c.close()
        self.conns.clear()

    def _conn(self, name: str) -> http_client.Connection:
        if name not in self.conns:
            self.conns[name] = http_client.Connection(self.port, STEP_TIMEOUT)
        return self.conns[name]

    def play(self, step: HttpStep) -> str | None:
        names = [step.conn] + [f"{step.conn}#{k}" for k in range(1, step.clients)]
        conns = [self._conn(n) for n in names]
        body = step.body.encode("utf-8") if step.body else b"x" * step.body_size
        headers = [(k, self.fill(v)) for k, v in step.headers]
        request = http_client.encode(
            step.method, self.fill(step.target), conns[0].host, headers, body
        )
        for c in conns:
            c.send(request * step.repeat)
        problem = None
        for name, c in zip(names, conns, strict=True):
            for _ in range(step.repeat):
                response = c.read(head=step.method == "HEAD")
                problem = problem or check(step, response)
            if (response.header("Connection") or "").lower() == "close":
                self.conns.pop(name).close()
        return problem
