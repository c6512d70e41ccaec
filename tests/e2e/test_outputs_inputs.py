"""The CLI's outputs never destroy, its inputs cannot exhaust the machine (issue 11, 6 and 7).

Each command runs in a fresh interpreter. Outputs: a device, a FIFO and
/dev/stdout are written into (never replaced); an output that is one of
the command's inputs is refused before anything is written. Inputs: a
device, a FIFO (no hang: every command has a timeout), a file over the
64 MiB limit, a 5,000-digit number, a non-canonical format, a syscall key
beyond the tables and a trigger on a syscall that does not exist are each
one sentence on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TRACEE_ENV, sysphase_cmd

HUGE = "9" * 5000


def sysphase(*args: str, stdout: Any = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args),
        stdout=stdout,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=60,
        env=TRACEE_ENV,
    )


def one_sentence(p: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command printed: non-zero exit, no traceback."""
    assert p.returncode != 0, p.stderr
    assert "Traceback" not in p.stderr and "MemoryError" not in p.stderr, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sysphase: "), p.stderr
    assert len(lines[0]) < 400, lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A profile and its policy, of /bin/true."""
    d = tmp_path_factory.mktemp("outputs")
    prof, pol = str(d / "p.json"), str(d / "p.pol")
    p = sysphase("record", "-o", prof, "--", "/bin/true")
    assert p.returncode == 0, p.stderr
    p = sysphase("policy", prof, "-o", pol)
    assert p.returncode == 0, p.stderr
    return prof, pol


@pytest.fixture
def inputs(recorded: tuple[str, str], tmp_path: Path) -> tuple[Path, Path, Path]:
    """Copies of the profile, the policy and a program, in tmp_path."""
    prof, pol = tmp_path / "p.json", tmp_path / "p.pol"
    shutil.copy(recorded[0], prof)
    shutil.copy(recorded[1], pol)
    binary = tmp_path / "prog"
    shutil.copy("/bin/true", binary)
    return prof, pol, binary


def snapshot(*paths: Path) -> list[tuple[int, int, bytes]]:
    return [(p.stat().st_ino, p.stat().st_mode, p.read_bytes()) for p in paths]


# --- outputs --------------------------------------------------------------------------------


def test_record_to_dev_null_leaves_the_device(tmp_path: Path) -> None:
    before = os.stat("/dev/null")
    p = sysphase("record", "-o", "/dev/null", "--", "/bin/true")
    assert p.returncode == 0, p.stderr
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev, after.st_mode) == (
        before.st_ino,
        before.st_rdev,
        before.st_mode,
    )


def test_policy_to_dev_null_and_to_a_fifo(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    prof = inputs[0]
    assert sysphase("policy", str(prof), "-o", "/dev/null").returncode == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    p = sysphase("policy", str(prof), "-o", str(fifo))
    out, _ = reader.communicate(timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(out)["format"] == "sysphase-policy/1"
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_dev_stdout_is_the_file_the_shell_opened(
    inputs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "shell.out"
    with open(out, "w") as f:
        f.write("header\n")
        f.flush()
        inode = os.fstat(f.fileno()).st_ino
        p = sysphase("policy", str(inputs[0]), "-o", "/dev/stdout", stdout=f)
    assert p.returncode == 0, p.stderr
    assert out.stat().st_ino == inode  # written into, not replaced by a new file
    text = out.read_text()
    assert text.startswith("header\n{") and json.loads(text[len("header\n") :])


def test_policy_refuses_to_overwrite_its_profile(inputs: tuple[Path, Path, Path]) -> None:
    prof = inputs[0]
    (prof.parent / "hard.json").hardlink_to(prof)
    before = snapshot(prof)
    for output in (str(prof), str(prof.parent / "." / "p.json"), str(prof.parent / "hard.json")):
        line = one_sentence(sysphase("policy", str(prof), "-o", output))
        assert f"-o {output} is the input {prof}" in line
        assert "never modifies the original" in line
    assert snapshot(prof) == before


def test_patch_refuses_to_overwrite_its_inputs(inputs: tuple[Path, Path, Path]) -> None:
    _, pol, binary = inputs
    before = snapshot(pol, binary)
    cases = [
        (str(pol), f"-o {pol} is the input {pol}"),
        (str(binary), f"-o {binary} is the input {binary}"),
        (str(binary.parent), f"(the copy {binary}) is the input {binary}"),  # -o DIR
    ]
    for output, expected in cases:
        line = one_sentence(sysphase("patch", "--policy", str(pol), str(binary), "-o", output))
        assert expected in line and "never modifies the original" in line, line
    # the guard patch writes beside OUT would be the policy
    out = binary.parent / "copy"
    Path(f"{out}.sysphase-guard.so").hardlink_to(pol)
    line = one_sentence(sysphase("patch", "--policy", str(pol), str(binary), "-o", str(out)))
    assert f"the guard {out}.sysphase-guard.so of -o {out} is the input {pol}" in line
    assert not out.exists()
    assert snapshot(pol, binary) == before


def test_accumulating_into_an_input_stays_allowed(inputs: tuple[Path, Path, Path]) -> None:
    prof = inputs[0]
    p = sysphase("merge", "-o", str(prof), str(prof), str(prof))
    assert p.returncode == 0, p.stderr
    assert json.loads(prof.read_text())["runs"] == 2


# --- inputs: what is not a regular file -----------------------------------------------------


def test_dev_zero_is_refused() -> None:
    assert "/dev/zero is a character device, not a JSON profile" in one_sentence(
        sysphase("policy", "/dev/zero")
    )
    assert "/dev/zero is a character device, not a JSON policy" in one_sentence(
        sysphase("run", "--policy", "/dev/zero", "--", "true")
    )
    assert "/dev/zero is a character device" in one_sentence(
        sysphase("record", "--baseline", "/dev/zero", "-o", "/dev/null", "--", "true")
    )


def test_a_fifo_is_refused_without_hanging(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    pol = inputs[1]
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    commands = [
        ("policy", str(fifo)),
        ("run", "--policy", str(fifo), "--", "true"),
        ("validate", "--workload", "ls", "--policy", str(fifo)),
        ("merge", "-o", str(tmp_path / "m.json"), str(fifo)),
        ("diff", str(fifo), str(fifo)),
        ("patch", "--policy", str(pol), str(fifo), "-o", str(tmp_path / "x")),
        ("patch", "--check", str(fifo)),
        ("record", "-o", str(tmp_path / "w.json"), "--workload", str(fifo)),
    ]
    for args in commands:
        line = one_sentence(sysphase(*args))  # times out (fails) instead of hanging
        assert f"{fifo} is a FIFO, not " in line, (args, line)
    assert not (tmp_path / "x").exists()


def test_a_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(64 * 1024 * 1024 + 1)  # sparse: nothing is written
    line = one_sentence(sysphase("policy", str(big)))
    assert line == f"sysphase: {big} is larger than 64 MiB, the limit for a JSON profile"
    line = one_sentence(sysphase("run", "--policy", str(big), "--", "true"))
    assert line == f"sysphase: {big} is larger than 64 MiB, the limit for a JSON policy"


def test_a_file_at_the_limit_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(64 * 1024 * 1024)  # NUL bytes: read whole, then not valid JSON
    line = one_sentence(sysphase("policy", str(big)))
    assert line.startswith(f"sysphase: {big}: not valid JSON")


# --- inputs: what is in the file ------------------------------------------------------------


def _mutated(path: Path, tmp_path: Path, name: str, change: Any) -> Path:
    data = json.loads(path.read_text())
    text = change(data)
    out = tmp_path / name
    out.write_text(text if isinstance(text, str) else json.dumps(data))
    return out


def _set(keys: list[Any], value: Any) -> Any:
    def change(data: Any) -> None:
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value

    return change


def test_bad_contents_are_one_sentence(inputs: tuple[Path, Path, Path], tmp_path: Path) -> None:
    prof, pol, _ = inputs
    phase0 = ["processes", 0, "phases", 0]
    pphase0 = ["programs", 0, "phases", 0]
    cases = [
        # (command over the file, file, expected fragment)
        ("policy", _mutated(prof, tmp_path, "v.json", _set(["format"], "sysphase-profile/" + HUGE)),
         '$.format: "sysphase-profile/9999999999999999999... is not a sysphase profile format'),
        ("policy", _mutated(prof, tmp_path, "v01.json", _set(["format"], "sysphase-profile/01")),
         '$.format: "sysphase-profile/01" is not a sysphase profile format'),
        ("policy", _mutated(prof, tmp_path, "n.json",
                            lambda d: json.dumps(d).replace('"runs": 1', f'"runs": {HUGE}')),
         "$.runs: a number of 5000 characters is too long (at most 40)"),
        ("policy", _mutated(prof, tmp_path, "k.json",
                            _set([*phase0, "syscalls", "syscall_0x99999999"], {"calls": 1})),
         '.syscalls.syscall_0x99999999: unknown syscall "syscall_0x99999999" for x86_64'),
        ("policy", _mutated(prof, tmp_path, "t.json",
                            _set([*phase0, "trigger"], "syscall:nosuchcall")),
         'trigger "syscall:nosuchcall": unknown syscall "nosuchcall" for x86_64'),
        ("run", _mutated(pol, tmp_path, "v.pol", _set(["format"], "sysphase-policy/01")),
         '$.format: "sysphase-policy/01" is not a sysphase policy format'),
        ("run", _mutated(pol, tmp_path, "k.pol",
                         _set([*pphase0, "allowed", 0, "syscall"], "syscall_0x99999999")),
         '.allowed[0].syscall: unknown syscall "syscall_0x99999999" for x86_64'),
        ("run", _mutated(pol, tmp_path, "t.pol", _set([*pphase0, "trigger"], "syscall:nosuchcall")),
         '$.programs[0].phases[0].trigger: trigger "syscall:nosuchcall": unknown syscall'),
    ]  # fmt: skip
    for command, path, expected in cases:
        args = ("policy", str(path)) if command == "policy" else ("run", "--policy", str(path))
        p = sysphase(*args) if command == "policy" else sysphase(*args, "--", "true")
        line = one_sentence(p)
        assert line.startswith(f"sysphase: {path}: "), line
        assert expected in line, (line, expected)


def test_a_scenario_with_a_huge_number_is_one_sentence(tmp_path: Path) -> None:
    scen = tmp_path / "huge.toml"
    scen.write_text(
        'workload = "w"\nprogram = "true"\n[[scenario]]\nname = "s"\ntag = "train"\n'
        f'argv = ["true"]\nexit = {HUGE}\n'
    )
    line = one_sentence(sysphase("record", "-o", str(tmp_path / "p.json"), "--workload", str(scen)))
    assert line == f"sysphase: {scen}: not valid TOML (an integer with too many digits)"
