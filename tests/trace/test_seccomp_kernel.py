"""Filters compiled by sysphase._host.seccomp, enforced by the real kernel.

The allow-lists come from tracing the fixture programs; tests/fixtures/sandboxed.c
installs a raw filter (no_new_privs, then seccomp(SECCOMP_SET_MODE_FILTER)) and
execs the program, so what the kernel decides shows in the exit status: 0, a
fixture's own failure code, or death by SIGSYS (returncode -31).

Seccomp filters with no_new_privs need no privilege, so these tests do not
need root; they need libseccomp and a kernel with seccomp filters, and skip
without them on a developer machine (CI fails instead).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from sysphase._host.tracer import trace_command
from sysphase.errors import PolicyError
from sysphase.model.events import X86_64
from tests.conftest import IN_CI, TRACEE_ENV

SIGSYS = -signal.SIGSYS  # a subprocess killed by its filter

# Calls sandboxed.c makes after installing the filter, and the one no trace counts
# as finished (it has no exit stop; it shows as unfinished, added anyway).
AFTER_INSTALL = ("execve", "exit_group")


def _skip_or_fail(msg: str) -> None:
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="module")
def seccomp():
    """sysphase._host.seccomp, on a kernel that takes seccomp filters, with libseccomp loaded."""
    with open("/proc/self/status") as f:
        if "\nSeccomp_filters:" not in f.read():
            _skip_or_fail("this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER)")
    from sysphase._host import seccomp as mod

    try:
        mod.load_library()
    except PolicyError as err:
        _skip_or_fail(f"libseccomp cannot be loaded ({err}); CI installs it")
    return mod


def traced_names(*argv: str) -> set[str]:
    """The x86_64 syscalls a traced run of argv makes (finished or not)."""
    result = trace_command(list(argv), env=TRACEE_ENV)
    assert result.exit_status == 0 or argv[0].endswith(("x32", "int80")), result.exit_status
    return {c.name for c in result.tree.counts if c.arch == X86_64 and c.calls + c.unfinished > 0}


def write_filter(seccomp, tmp_path: Path, names: Iterable[str], default: str = "kill") -> str:
    bpf = seccomp.compile_filter({name: [] for name in sorted(names)}, default)
    path = tmp_path / f"filter-{default}.bpf"
    path.write_bytes(bpf)
    return str(path)


def sandboxed(fx, bpf_path: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [fx["sandboxed"], bpf_path, *argv],
        env=TRACEE_ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def startup_names(fx, seccomp) -> set[str]:
    """What markers, int80 and x32 need natively (x86_64): every call but the foreign ones."""
    names = traced_names(fx["markers"], "3", "0")
    names |= traced_names(fx["int80"])
    names |= traced_names(fx["x32"])
    assert "fchdir" not in names
    return names | set(AFTER_INSTALL)


def test_the_allow_list_runs_the_program(fx, seccomp, startup_names, tmp_path):
    bpf = write_filter(seccomp, tmp_path, startup_names)
    proc = sandboxed(fx, bpf, fx["markers"], "3", "0")
    assert proc.returncode == 0, proc.stderr


def test_a_call_outside_the_list_kills(fx, seccomp, startup_names, tmp_path):
    bpf = write_filter(seccomp, tmp_path, startup_names)
    assert sandboxed(fx, bpf, fx["markers"], "3", "2").returncode == SIGSYS


def test_i386_calls_through_int80_are_killed(fx, seccomp, startup_names, tmp_path):
    # int80's x86_64 calls are all allowed; its i386 getpid is what the filter rejects
    bpf = write_filter(seccomp, tmp_path, startup_names)
    assert sandboxed(fx, bpf, fx["int80"]).returncode == SIGSYS


def test_x32_calls_are_killed(fx, seccomp, startup_names, tmp_path):
    bpf = write_filter(seccomp, tmp_path, startup_names)
    assert sandboxed(fx, bpf, fx["x32"]).returncode == SIGSYS


def test_errno_default_fails_calls_instead_of_killing(fx, seccomp, startup_names, tmp_path):
    bpf = write_filter(seccomp, tmp_path, startup_names, default="errno")
    # markers exits 1 when fchdir(-1) fails with anything but EBADF: here EPERM
    assert sandboxed(fx, bpf, fx["markers"], "3", "2").returncode == 1
    assert sandboxed(fx, bpf, fx["markers"], "3", "0").returncode == 0
    # the foreign ABIs get EPERM too: int80's i386 getpid returns -EPERM (exit 1);
    # x32 getpid returns -EPERM, neither the pid (0) nor ENOSYS (1): exit 2
    assert sandboxed(fx, bpf, fx["int80"]).returncode == 1
    assert sandboxed(fx, bpf, fx["x32"]).returncode == 2


def test_trap_default_raises_sigsys(fx, seccomp, startup_names, tmp_path):
    bpf = write_filter(seccomp, tmp_path, startup_names, default="trap")
    assert sandboxed(fx, bpf, fx["markers"], "3", "2").returncode == SIGSYS
    assert sandboxed(fx, bpf, fx["x32"]).returncode == SIGSYS


def test_log_default_lets_calls_through_but_not_foreign_abis(fx, seccomp, startup_names, tmp_path):
    bpf = write_filter(seccomp, tmp_path, startup_names, default="log")
    assert sandboxed(fx, bpf, fx["markers"], "3", "2").returncode == 0
    assert sandboxed(fx, bpf, fx["int80"]).returncode == SIGSYS
    assert sandboxed(fx, bpf, fx["x32"]).returncode == SIGSYS


def test_no_new_privs_and_filter_mode_are_set(fx, seccomp, tmp_path):
    names = traced_names("/bin/cat", "/proc/self/status") | set(AFTER_INSTALL)
    bpf = write_filter(seccomp, tmp_path, names)
    proc = sandboxed(fx, bpf, "/bin/cat", "/proc/self/status")
    assert proc.returncode == 0, proc.stderr
    assert "NoNewPrivs:\t1" in proc.stdout.splitlines()
    assert "Seccomp:\t2" in proc.stdout.splitlines()


def test_sandboxed_reports_a_bad_filter_file(fx, tmp_path):
    bad = tmp_path / "bad.bpf"
    bad.write_bytes(b"\x06\x00\x00")
    proc = sandboxed(fx, str(bad), "/bin/true")
    assert proc.returncode == 1
    assert "not a BPF program" in proc.stderr


# -- install() in a forked child -----------------------------------------------------------


def in_child(body: Callable[[], bytes]) -> tuple[int, bytes]:
    """Run body in a forked child; (its wait status, what it returned through a pipe)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(r)
            out = body()
        except BaseException as err:  # report anything, then leave
            out = f"{type(err).__name__}: {err}".encode()
        try:
            os.write(w, out)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    return status, data


def test_install_enforces_in_the_calling_process(seccomp):
    # After install, only write and exit_group work: getcwd fails with EPERM.
    bpf = seccomp.compile_filter({"write": [], "exit_group": []}, "errno")

    def body() -> bytes:
        seccomp.install(bpf)
        try:
            os.getcwd()
        except PermissionError as err:
            return b"EPERM" if err.errno == errno.EPERM else b"other"
        return b"getcwd worked"

    status, out = in_child(body)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert out == b"EPERM"


def test_install_with_tsync_kills_on_a_forbidden_call(seccomp):
    bpf = seccomp.compile_filter({"write": [], "exit_group": []}, "kill")

    def body() -> bytes:
        seccomp.install(bpf, tsync=True)
        os.getcwd()
        return b"not killed"

    status, out = in_child(body)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS
    assert out == b""


def test_install_refuses_a_malformed_program(seccomp):
    status, out = in_child(lambda: seccomp.install(b"\x06\x00\x00") or b"installed")
    assert os.WIFEXITED(status)
    assert out.startswith(b"PolicyError: cannot install the filter")
