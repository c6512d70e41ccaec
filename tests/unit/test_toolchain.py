"""sysphase._host.toolchain: one cleaned environment and one sentence for every C build.

The environment drops the union of what the patch, eBPF, benchmark and
fixture builds each dropped before they shared it; a missing tool or header
and a failed build are each one sentence naming who needed it and for what.
"""

from __future__ import annotations

import shutil

import pytest

from sysphase._host import ebpf_object, toolchain
from sysphase.errors import BackendUnavailable, PatchError


def test_clean_env_drops_what_changes_a_build() -> None:
    dirty = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "LANG": "de_DE.UTF-8",
        "LC_ALL": "de_DE.UTF-8",
        **{name: "x" for name in toolchain.SCRUBBED_ENV},
        "ASAN_OPTIONS": "detect_leaks=0",
        "UBSAN_OPTIONS": "halt_on_error=1",
        "TSAN_OPTIONS": "x",
    }
    env = toolchain.clean_env(dirty)
    assert env == {"PATH": "/usr/bin", "HOME": "/root", "LANG": "de_DE.UTF-8", "LC_ALL": "C"}
    for name in ("CFLAGS", "LDFLAGS", "LD_PRELOAD", "LD_LIBRARY_PATH", "CPATH", "GCC_EXEC_PREFIX"):
        assert name in toolchain.SCRUBBED_ENV


def test_a_missing_tool_or_header_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    build = toolchain.Build("patch", "build the guard library", PatchError)
    with pytest.raises(PatchError) as err:
        build.tool("gcc")
    assert str(err.value) == "patch needs gcc to build the guard library (apt-get install gcc)"
    with pytest.raises(BackendUnavailable) as unavailable:
        ebpf_object._BUILD.header("/nonexistent/bpf_helpers.h", "libbpf's headers")
    assert str(unavailable.value) == (
        "the eBPF backend needs libbpf's headers (/nonexistent/bpf_helpers.h) to build its BPF "
        "program (apt-get install clang libbpf-dev)"
    )


def test_run_uses_the_clean_environment_and_names_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sh = shutil.which("sh")
    assert sh is not None
    monkeypatch.setenv("CFLAGS", "-fsanitize=address")
    monkeypatch.setenv("MSAN_OPTIONS", "x")
    build = toolchain.Build("the test suite", "build a probe", RuntimeError)
    out = build.run([sh, "-c", 'echo "${CFLAGS-unset} ${MSAN_OPTIONS-unset} $LC_ALL"'])
    assert out == b"unset unset C\n"
    with pytest.raises(RuntimeError) as err:
        build.run([sh, "-c", "echo one >&2; echo >&2; echo two >&2; echo three >&2; exit 3"])
    assert str(err.value) == "the test suite could not build a probe: sh: one two three"
    with pytest.raises(RuntimeError) as err:
        build.run([sh, "-c", "exit 4"])
    assert str(err.value) == "the test suite could not build a probe: sh: exit status 4"
