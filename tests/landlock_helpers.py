"""What the Landlock tests share: the kernel check, the served site, the fixture's lines.

The site is the one tests/fixtures/landlock_server.c serves: a config file
read at start-up, a data directory with a page, a free TCP port.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sysphase._host import landlock
from tests.conftest import IN_CI, need_root


def need_landlock(min_abi: int = 4) -> int:
    """The kernel's Landlock ABI; skip (outside CI) or fail (in CI) below MIN_ABI (4: TCP
    ports). CI's kernel has ABI 7."""
    need_root()
    version = landlock.abi()
    if version < min_abi:
        msg = f"needs Landlock ABI {min_abi} or later (this kernel: {version}); CI's has 7"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return version


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_site(tmp: Path) -> tuple[Path, Path, int]:
    """TMP/etc/app.conf, TMP/data (with a page) and a free port."""
    conf = tmp / "etc" / "app.conf"
    conf.parent.mkdir()
    conf.write_text("port\n")
    data = tmp / "data"
    data.mkdir()
    (data / "page").write_text("hello\n")
    return conf, data, free_port()


def lines_of(out: str) -> dict[str, str]:
    """The fixture's "WHO WHAT RESULT" lines as {"WHO WHAT": RESULT}."""
    words = [line.split() for line in out.splitlines()]
    return {" ".join(w[:2]): w[2] for w in words if len(w) == 3}
