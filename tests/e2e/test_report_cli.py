"""`sysphase report` on the command line: the page written, bad inputs refused in one sentence.

Each run is a fresh interpreter (``python -m sysphase``). The inputs are the
sample profile of tests/unit/profile_samples.py and its policy, written as
files; a missing, invalid or special file is one sentence naming it and a
non-zero exit, never a traceback, and the output never replaces an input.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sysphase.model import profile_codec
from sysphase.policy import codec
from sysphase.policy.generate import generate
from tests.conftest import TRACEE_ENV, sysphase_cmd
from tests.unit.profile_samples import sample_profile


def sysphase(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(sysphase_cmd(*args), capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, env=TRACEE_ENV)  # fmt: skip


def one_sentence(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode != 0, p.stderr
    assert "Traceback" not in p.stderr, p.stderr
    (line,) = p.stderr.splitlines()
    assert line.startswith("sysphase: ")
    return line


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[str, str]:
    prof, pol = tmp_path / "p.json", tmp_path / "p.policy"
    prof.write_text(profile_codec.encode(sample_profile()))
    pol.write_text(codec.encode(generate(sample_profile())))
    return str(prof), str(pol)


def test_report_writes_one_page(inputs, tmp_path) -> None:
    prof, pol = inputs
    out = tmp_path / "r.html"
    p = sysphase("report", prof, "--policy", pol, "--diff", prof, "-o", str(out))
    assert p.returncode == 0 and p.stderr == "" and p.stdout == "", p.stderr
    page = out.read_text()
    for anchor in ("tree", "time", "syscalls", "heatmap", "policy", "diff"):
        assert f'id="{anchor}"' in page
    assert "no differences in system calls" in page
    # an existing output is replaced; '-' is standard output
    assert sysphase("report", prof, "-o", str(out)).returncode == 0
    assert 'id="policy"' not in out.read_text()
    stdout = sysphase("report", prof, "-o", "-")
    assert stdout.returncode == 0 and stdout.stdout.startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.json"], "missing.json"),
        (["bad.json"], "bad.json"),
        (["{prof}", "--policy", "{prof}"], "p.json"),
        (["{prof}", "--policy", "missing.policy"], "missing.policy"),
        (["{prof}", "--diff", "bad.json"], "bad.json"),
        (["{prof}", "--diff", "/dev/null"], "/dev/null"),
    ],
)
def test_a_bad_input_is_one_sentence_naming_it(inputs, tmp_path, args, message) -> None:
    prof, _ = inputs
    (tmp_path / "bad.json").write_text('{"format": "sysphase-profile/1", "runs": ')
    argv = [a.format(prof=prof) if "{" in a else str(tmp_path / a) if "." in a and "/" not in a
            else a for a in args]  # fmt: skip
    out = tmp_path / "r.html"
    line = one_sentence(sysphase("report", *argv, "-o", str(out)))
    assert message in line
    assert not out.exists()


def test_the_output_is_never_an_input(inputs) -> None:
    prof, pol = inputs
    before = Path(pol).read_bytes()
    line = one_sentence(sysphase("report", prof, "--policy", pol, "-o", pol))
    assert f"-o {pol} is the input {pol}" in line
    assert Path(pol).read_bytes() == before


def test_the_output_is_required(inputs) -> None:
    p = sysphase("report", inputs[0])
    assert p.returncode == 2 and "-o" in p.stderr
