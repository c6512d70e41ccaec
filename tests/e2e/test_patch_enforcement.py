"""Patched programs enforce their policy: seccomp with no_new_privs, SIGSYS outside it.

A patched cat runs under one seccomp filter with no_new_privs; a patched
fixture is killed (SIGSYS) by a call its profile never saw while the
original is not sandboxed. What cannot be sandboxed fails closed: static
binaries are refused, and a filter the kernel refuses stops the program
before main.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess

from sysphase._host import patch
from sysphase.policy import guard_source as guard
from sysphase.policy.ir import PolicyPhase, ProgramPolicy
from tests.e2e.patch_helpers import (
    SIGSYS,
    build_c,
    one_sentence,
    record_policy,
    run,
    sha256,
    sysphase,
)


def test_patched_cat_is_under_seccomp_with_no_new_privs(tools, tmp_path):
    cat = os.path.realpath("/bin/cat")
    policy = record_policy(tmp_path, "cat", [cat, "/proc/self/status"])
    sysphase("patch", "--policy", policy, cat, "-o", str(tmp_path / "cat"))
    p = run([tmp_path / "cat", "/proc/self/status"])
    assert p.returncode == 0, p.stderr
    status = dict(line.split(":\t", 1) for line in p.stdout.decode().splitlines() if ":\t" in line)
    assert status["Seccomp"] == "2"
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp_filters"] == "1"
    unpatched = run([cat, "/proc/self/status"]).stdout.decode()
    assert "Seccomp:\t0" in unpatched


def test_patched_program_is_killed_outside_its_policy(tools, fx, tmp_path):
    policy = record_policy(tmp_path, "markers", [fx["markers"], "2", "0"])
    before = sha256(fx["markers"])
    out = tmp_path / "markers"
    sysphase("patch", "--policy", policy, fx["markers"], "-o", str(out))
    assert sha256(fx["markers"]) == before
    assert run([out, "2", "0"]).returncode == 0
    bad = run([out, "2", "1"])  # one fchdir the profile never saw
    assert bad.returncode == SIGSYS, bad.stderr
    assert run([fx["markers"], "2", "1"]).returncode == 0  # the original is not sandboxed


def test_static_binaries_are_refused(tools, fx, tmp_path):
    static = build_c(tmp_path, "static", "int main(void) { return 0; }\n", "-static")
    policy = record_policy(tmp_path, "markers", [fx["markers"], "2", "0"])
    p = sysphase("patch", "--policy", policy, static, "-o", str(tmp_path / "x"), ok=False)
    assert p.returncode == 2
    msg = one_sentence(p)
    assert "static binaries cannot load a guard library; use sysphase run" in msg


def test_a_filter_the_kernel_refuses_stops_the_program_before_main(tools, fx, tmp_path):
    """Fail closed: one line on stderr, exit 126, and main never runs unsandboxed."""
    bad = struct.pack("<HBBI", 0xFFFF, 0, 0, 0)  # no such BPF instruction: EINVAL
    program = ProgramPolicy(fx["markers"], (PolicyPhase("start", "start", ()),))
    source = guard.guard_source(program, [bad], {}, {"test": True})
    patch.build_guard(source, str(tmp_path / "m.sysphase-guard.so"), "gcc", "m.sysphase-guard.so")
    shutil.copy(fx["markers"], tmp_path / "m")
    subprocess.run(
        ["patchelf", "--add-needed", "$ORIGIN/m.sysphase-guard.so", tmp_path / "m"], check=True
    )
    p = run([tmp_path / "m", "2", "0"])
    assert p.returncode == 126
    assert p.stderr == (
        b'sysphase-guard: m: seccomp(SECCOMP_SET_MODE_FILTER) failed for phase "start": '
        b"EINVAL; refusing to run unsandboxed\n"
    )
