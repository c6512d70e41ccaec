"""A real headless Chromium driven over the DevTools protocol, for the report tests.

:class:`Browser` starts Debian's ``chromium`` (``--headless --no-sandbox``:
root needs it) with ``--remote-debugging-pipe`` (the protocol on file
descriptors 3 and 4, NUL-separated JSON: no port, no websocket library),
opens one page, and records every event the page's session reports.
:meth:`Browser.load` navigates and waits for the load event; the requests
the page made are its ``Network.requestWillBeSent`` events. The page is
watched rather than the machine's network because Chromium itself calls
Google's services (component updates, accounts.google.com) whatever the
flags: a proxy or a listening socket would see those too. Every wait is
bounded (:data:`TIMEOUT`); :meth:`Browser.close` ends the browser, and kills
it if it does not end.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.e2e.patch_helpers import need

#: seconds any one step may take (a start, a load, a command)
TIMEOUT = 60.0
WIDTH, HEIGHT = 1400, 2000


def chromium() -> str:
    """Debian's chromium (CI installs it: .ci/run); skip, or fail in CI, without it."""
    return need("chromium", "chromium")


class Browser:
    """One headless Chromium with one page; see the module."""

    def __init__(self, profile_dir: Path) -> None:
        to_browser, self._out = os.pipe()
        self._in, from_browser = os.pipe()
        args = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--user-data-dir={profile_dir}", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", "--remote-debugging-pipe", f"--window-size={WIDTH},{HEIGHT}",
            "about:blank",
        ]  # fmt: skip
        # the protocol is on descriptors 3 (to the browser) and 4 (from it); bash, not dash,
        # moves descriptors numbered 10 and up
        script = f'exec "$0" "$@" 3<&{to_browser} 4>&{from_browser}'
        self.log = profile_dir / "chromium.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                ["bash", "-c", script, chromium(), *args],
                pass_fds=(to_browser, from_browser),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        os.close(to_browser)
        os.close(from_browser)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        attached = self.send("Target.attachToTarget", targetId=target, flatten=True)
        self.session: str = attached["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=True)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            session=True, width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False,
        )  # fmt: skip

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._in], [], [], max(left, 0))
            if not ready:
                raise TimeoutError(f"chromium did not answer in time (its log: {self.log})")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                said = self.log.read_text(errors="replace").splitlines()[-5:]
                raise EOFError("chromium closed its DevTools pipe: " + "\n".join(said))
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        """Run one protocol command (in the page's session if SESSION); its result."""
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def load(self, url: str) -> None:
        """Navigate the page to URL and wait for its load event."""
        self.events.clear()
        self.send("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._message(deadline))

    def requests(self) -> list[str]:
        """The URLs the page asked for since the last load (the page's own URL first).

        A request the browser then blocked is here too (see :meth:`blocked`).
        """
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def blocked(self) -> dict[str, str]:
        """URL -> why the browser stopped the request before it left (``csp``, ...)."""
        urls = {
            e["params"]["requestId"]: e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        }
        return {
            urls[e["params"]["requestId"]]: e["params"]["blockedReason"]
            for e in self.events
            if e.get("method") == "Network.loadingFailed" and e["params"].get("blockedReason")
        }

    def errors(self) -> list[str]:
        """Errors the page logged: exceptions, refused loads (a Content-Security-Policy)."""
        out = [
            e["params"]["entry"]["text"]
            for e in self.events
            if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"
        ]
        out += [
            json.dumps(e["params"]["exceptionDetails"])
            for e in self.events
            if e.get("method") == "Runtime.exceptionThrown"
        ]
        return out

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.send("Runtime.evaluate", session=True, expression=expression,
                           returnByValue=True)  # fmt: skip
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        """The page as the window shows it (WIDTH x HEIGHT), as a PNG file."""
        data = self.send("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, TimeoutError, RuntimeError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._out)
        os.close(self._in)
