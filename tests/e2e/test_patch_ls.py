"""`sysphase patch` of /bin/ls: a copy that sandboxes itself, with no sysphase around.

ls is recorded, its policy generated (`--format sysphase`) and a copy
patched once per module; the copy must behave as the original in a minimal
environment (PATH=/usr/bin:/bin, no PYTHONPATH) and in a bubblewrap root
without sysphase and its Python. `patch --check` reports it; the ELF reader
agrees with patchelf; bad input and missing tools are one sentence.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from sysphase._host import patch
from sysphase.model import syscalls
from sysphase.policy import guard_source as guard
from tests.conftest import TRACEE_ENV
from tests.e2e.patch_helpers import need, one_sentence, record_policy, run, sha256, sysphase


@pytest.fixture(scope="module")
def patched_ls(tools, tmp_path_factory):
    """(original, patched copy, policy file, the original's sha256 before patching)."""
    tmp = tmp_path_factory.mktemp("ls")
    ls = os.path.realpath("/bin/ls")
    before = sha256(ls)
    policy = record_policy(tmp, "ls", [ls, "-la", "/usr/share"])
    out = tmp / "ls"
    p = sysphase("patch", "--policy", policy, "/bin/ls", "-o", str(out))
    assert f"wrote {out}" in p.stderr
    return ls, out, policy, before


def test_patched_ls_runs_without_sysphase(patched_ls):
    ls, out, _, before = patched_ls
    assert sha256(ls) == before  # the original is never written
    assert (out.parent / "ls.sysphase-guard.so").is_file()
    original = run([ls, "-la", "/usr/share"])
    copy = run([out, "-la", "/usr/share"])
    assert copy.returncode == 0, copy.stderr
    assert copy.stdout == original.stdout and copy.stdout
    # the guard needs libc and nothing else: no Python, no libseccomp
    with open(out.parent / "ls.sysphase-guard.so", "rb") as f:
        assert patch.read_elf(f.read(), "guard").needed == ("libc.so.6",)


def test_patched_ls_in_a_root_without_sysphase(patched_ls):
    """Under bwrap with only /usr, /etc and the copy's folder: no sysphase, no venv."""
    bwrap = need("bwrap", "bubblewrap")
    ls, out, _, _ = patched_ls
    folder = str(out.parent)
    box = [
        bwrap,
        *("--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"),
        *("--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib"),
        *("--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev"),
        *("--ro-bind", folder, folder, "--"),
    ]
    import sysphase

    hidden = os.path.dirname(os.path.dirname(sysphase.__file__))
    assert run([*box, "/usr/bin/test", "-e", hidden]).returncode == 1  # really not there
    copy = run([*box, out, "-la", "/usr/share"])
    assert copy.returncode == 0, copy.stderr
    assert copy.stdout == run([ls, "-la", "/usr/share"]).stdout


def test_check(patched_ls, tmp_path):
    ls, out, policy, _ = patched_ls
    p = sysphase("patch", "--check", str(out))
    guard = out.parent / "ls.sysphase-guard.so"
    assert p.stdout.splitlines()[0] == (
        f"{out} is patched with {policy} (sha256 {sha256(policy)}), guard {guard}"
    )
    assert p.stdout.splitlines()[1] == "  program /usr/bin/ls, phases: start"
    p = sysphase("patch", "--check", ls, ok=False)
    assert (p.returncode, p.stdout) == (1, f"{ls} is not patched by sysphase\n")
    # without its guard the copy is still recognised, and refuses to start
    shutil.copy(out, tmp_path / "ls")
    p = sysphase("patch", "--check", str(tmp_path / "ls"), ok=False)
    assert p.returncode == 1
    assert f"guard {tmp_path / 'ls.sysphase-guard.so'} is missing" in p.stdout
    assert run([tmp_path / "ls", "/"]).returncode == 127  # the loader stops it


def test_read_elf_agrees_with_patchelf(patched_ls, fx):
    patchelf = need("patchelf", "patchelf")
    _, out, _, _ = patched_ls
    for path in ("/bin/ls", str(out), fx["markers"]):
        listed = subprocess.run(
            [patchelf, "--print-needed", path], capture_output=True, text=True, check=True
        ).stdout.split()
        with open(path, "rb") as f:
            image = patch.read_elf(f.read(), path)
        assert list(image.needed) == listed
        assert image.machine == "x86_64" and image.interpreter
    assert guard.guard_entries(patch.read_elf(out.read_bytes(), "x").needed) == (
        "$ORIGIN/ls.sysphase-guard.so",
    )


def _foreign_elf(tmp_path) -> str:
    data = bytearray(Path("/bin/ls").read_bytes())
    struct.pack_into("<H", data, 18, 183)  # e_machine: aarch64
    path = tmp_path / "arm-ls"
    path.write_bytes(bytes(data))
    return str(path)


def _aarch64_policy(policy: str, tmp_path) -> str:
    data = json.loads(Path(policy).read_text())
    data["arch"] = "aarch64"
    known = syscalls.names("aarch64")
    for prog in data["programs"]:
        for phase in prog["phases"]:
            phase["allowed"] = [a for a in phase["allowed"] if a["syscall"] in known]
    path = tmp_path / "aarch64.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_bad_input_is_one_sentence(patched_ls, tmp_path):
    ls, out, policy, _ = patched_ls
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    truncated = tmp_path / "truncated"
    truncated.write_bytes(Path("/bin/ls").read_bytes()[:200])
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    x = str(tmp_path / "x")
    cases = [
        (["--policy", policy, str(tmp_path / "nope"), "-o", x], "nope: no such file"),
        (["--policy", policy, str(text), "-o", x], "notes.txt is not an ELF file"),
        (["--policy", policy, _foreign_elf(tmp_path), "-o", x], "is a program for aarch64"),
        (["--policy", policy, str(truncated), "-o", x], "truncated is a damaged ELF file"),
        (["--policy", policy, ls, "-o", ls], "never modifies the original"),
        (["--policy", policy, str(out), "-o", x], "is already patched by sysphase"),
        (["--policy", str(tmp_path / "none.json"), ls, "-o", x], "none.json: no such file"),
        (["--policy", str(bad_json), ls, "-o", x], "bad.json: not valid JSON"),
        (["--policy", _aarch64_policy(policy, tmp_path), ls, "-o", x], "a policy for aarch64"),
        (["--policy", policy, ls], "patch needs -o OUT"),
        (["--policy", policy, "-o", x], "patch needs a BINARY"),
        ([ls, "-o", x], "patch needs --policy POLICY"),
        (["--check", str(out), ls], "--check takes only the patched binary"),
        (["--check", str(text)], "notes.txt is not an ELF file"),
    ]
    for args, expected in cases:
        p = sysphase("patch", *args, ok=False)
        # a bad policy file is PolicyInvalid (1), as for sysphase run; the rest are usage errors
        assert p.returncode == (1 if "json" in expected else 2), (args, p.stderr)
        assert expected in one_sentence(p), (args, p.stderr)
    assert not os.path.exists(x)


def test_missing_tools_are_named_with_their_package(patched_ls, tmp_path):
    ls, _, policy, _ = patched_ls
    only_gcc = tmp_path / "bin"
    only_gcc.mkdir()
    (only_gcc / "gcc").symlink_to(shutil.which("gcc"))
    env = {**TRACEE_ENV, "PATH": str(only_gcc)}
    p = sysphase("patch", "--policy", policy, ls, "-o", str(tmp_path / "x"), ok=False, env=env)
    assert p.returncode == 1
    assert one_sentence(p) == (
        f"sysphase: patch needs patchelf to add the guard to a copy of {ls} "
        "(apt-get install patchelf)"
    )
