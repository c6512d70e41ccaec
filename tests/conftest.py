"""Shared test set-up: fixture programs built once per session, strace helpers.

The C fixtures (tests/fixtures/*.c) are compiled without sanitizers into a
session folder. TRACEE_ENV is the environment traced programs get: the test
process's own, less anything a sanitizer build of the C core needs
(LD_PRELOAD, *SAN_OPTIONS), so fixture counts stay exact when the suite runs
under AddressSanitizer.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_SANITIZER_ENV = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
TRACEE_ENV = {k: v for k, v in os.environ.items() if k not in _SANITIZER_ENV}
TRACEE_ENV["LC_ALL"] = "C"
IN_CI = os.environ.get("CI") == "true"


def _load_build():
    build_py = ROOT / "tests/fixtures/build.py"
    spec = importlib.util.spec_from_file_location("fixtures_build", build_py)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def fx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """{fixture name: path of its binary}, compiled once per session."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the C fixture programs")
    paths = _load_build().build_fixtures(tmp_path_factory.mktemp("fixtures"))
    return {name: str(path) for name, path in paths.items()}


def need_root() -> None:
    """Skip (outside CI) or fail (in CI) when not root: ptrace of any pid, seccomp."""
    if os.geteuid() != 0:
        msg = "needs root (ptrace attach and seccomp tests); CI runs as root"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)


def need_ebpf() -> None:
    """Skip (outside CI) or fail (in CI) where the eBPF backend cannot load: root, BTF, clang."""
    need_root()
    from sysphase._host import ebpf
    from sysphase.errors import BackendUnavailable

    try:
        ebpf.check_available()
        ebpf.object_path()
    except BackendUnavailable as err:
        if IN_CI:
            pytest.fail(str(err))
        pytest.skip(str(err))


def need_strace() -> str:
    """The strace binary; CI installs it, so only a developer machine may skip."""
    path = shutil.which("strace")
    if path is None:
        msg = "strace is not installed (apt-get install strace); CI installs it"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


_ROW = re.compile(
    r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(?P<calls>\d+)\s+(?P<errors>\d+)?\s+(?P<name>\w+)\s*$"
)


def strace_counts(
    argv: list[str], cwd: str | None = None, stdout: int | None = subprocess.DEVNULL
) -> dict[tuple[str, str], tuple[int, int]]:
    """Run argv under `strace -f -c` and return {(arch, syscall): (calls, errors)}.

    strace prints one table per personality; the 32-bit one is named i386
    and the x32 one x32, as sysphase names them.
    """
    strace = need_strace()
    proc = subprocess.run(
        [strace, "-f", "-c", "-qq", "-o", "/dev/stderr", *argv],
        env=TRACEE_ENV,
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        check=False,
    )
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    arch = "x86_64"
    for line in proc.stderr.splitlines():
        if "32 bit mode" in line:
            arch = "i386"
        elif "x32 mode" in line:
            arch = "x32"
        m = _ROW.match(line)
        if m and m.group("name") != "total":
            counts[(arch, m.group("name"))] = (int(m.group("calls")), int(m.group("errors") or 0))
    return counts


def alive(pid: int) -> bool:
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone, or being torn down (ESRCH)
        return False


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    """Wait until none of pids is alive; the ones still alive after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [p for p in pids if alive(p)]:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def sysphase_cmd(*args: str) -> list[str]:
    """The command line that runs sysphase's CLI in a fresh interpreter."""
    return [sys.executable, "-m", "sysphase", *args]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under `make asan`, prove the sanitized core is the one being tested."""
    if os.environ.get("SYSPHASE_EXPECT_SANITIZED"):
        import sysphase._core as core

        with open(core.__file__, "rb") as f:
            if b"__asan_init" not in f.read():
                raise pytest.UsageError(f"{core.__file__} is not an ASan build")


def make_policy(profile: os.PathLike[str] | str, policy: os.PathLike[str] | str) -> str:
    """`sysphase policy --format sysphase -o POLICY PROFILE`, which must succeed; POLICY."""
    made = subprocess.run(
        sysphase_cmd("policy", "--format", "sysphase", "-o", str(policy), str(profile)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    return str(policy)
