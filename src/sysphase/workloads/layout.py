"""Where a workload scenario runs: its folder ({tmp}), the shared tree ({tree}), its ports.

By default every scenario gets a fresh random folder and free ports, so runs
never collide. A policy with Landlock rules names the folders and ports it
was recorded with, so ``record --workload W --paths`` and ``validate
--enforce`` use the stable layout instead: ``/tmp/sysphase-stable/W`` (emptied
before each scenario), ``/tmp/sysphase-stable/W-tree`` and the ports in
:data:`STABLE_PORTS`, as a deployed server keeps its data directory and port.
A stable port that something else listens on is one sentence.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile

from sysphase.errors import WorkloadError
from sysphase.workloads import redis_driver

__all__ = ["STABLE_PORTS", "STABLE_ROOT", "fixture_root", "ports", "scenario_dir"]

#: the stable layout's folders live here
STABLE_ROOT = "/tmp/sysphase-stable"
#: the stable layout's ports ({port}, {replica_port}, {peer_port})
STABLE_PORTS = {"port": 26379, "replica_port": 26380, "peer_port": 26381}


def _fresh(path: str) -> str:
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, mode=0o700)
    return path


def scenario_dir(workload: str, stable: bool) -> str:
    """The scenario's own folder, empty (the caller removes it)."""
    if not stable:
        return tempfile.mkdtemp(prefix=f"sysphase-{workload}-")
    os.makedirs(STABLE_ROOT, mode=0o700, exist_ok=True)
    return _fresh(os.path.join(STABLE_ROOT, workload))


def fixture_root(workload: str, stable: bool) -> str:
    """The folder the shared fixture tree is built in, empty (the caller removes it)."""
    if not stable:
        return tempfile.mkdtemp(prefix="sysphase-fixture-")
    os.makedirs(STABLE_ROOT, mode=0o700, exist_ok=True)
    return _fresh(os.path.join(STABLE_ROOT, f"{workload}-tree"))


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def ports(stable: bool) -> dict[str, str]:
    """{port}, {replica_port}, {peer_port}: free ones, or the stable ones (which must be free)."""
    if not stable:
        return {name: str(redis_driver.free_port()) for name in STABLE_PORTS}
    for name, port in STABLE_PORTS.items():
        if not _free(port):
            raise WorkloadError(
                f"port {port} ({{{name}}} of the stable layout) is in use: record --paths "
                "and validate --enforce need it free"
            )
    return {name: str(port) for name, port in STABLE_PORTS.items()}
