"""`record --paths`, `policy --landlock` and `run` against the real kernel (issue 16).

A fixture reads its config at start-up and then serves files from one
directory (tests/fixtures/landlock_server.c). Trained with `record --paths`,
its policy's serving phase refuses, in both of its threads, what training
never did: opening the config again, binding a new TCP port, connecting to
a port it never used (seccomp allows bind, so Landlock is what refuses it:
EACCES), while everything training did still works. Kernel features used:
Landlock ABI 4 (TCP ports) and later; the machine's kernel has ABI 7.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import sysphase_cmd
from tests.landlock_helpers import lines_of, make_site, need_landlock


def _sysphase(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture()
def trained(fx: dict[str, str], tmp_path: Path) -> tuple[list[str], Path, int]:
    """The fixture's command line (without its mode), its policy, its port."""
    need_landlock()
    conf, data, port = make_site(tmp_path)
    argv = [fx["landlock_server"], str(conf), str(data), str(port)]
    profile, policy = tmp_path / "p.json", tmp_path / "policy.json"
    rec = _sysphase(
        "record",
        "--paths",
        "--phase",
        "serve=syscall:getppid",
        "-o",
        str(profile),
        "--",
        *argv,
        "train",
    )
    assert rec.returncode == 0, rec.stderr
    made = _sysphase("policy", "--landlock", "--allow", "bind", "-o", str(policy), str(profile))
    assert made.returncode == 0, made.stderr
    return argv, policy, port


def test_serving_phase_refuses_what_training_never_did(
    trained: tuple[list[str], Path, int],
) -> None:
    argv, policy, port = trained
    with socket.socket() as other:  # so that only the policy can refuse the connect
        other.bind(("127.0.0.1", port + 2))
        other.listen(8)
        run = _sysphase("run", "--policy", str(policy), "--", *argv, "attack")
    said = lines_of(run.stdout)
    assert run.returncode == 0, run.stderr
    assert said["main start-conf"] == "ok"
    for who in ("main", "thread"):
        for what in ("read-page", "create", "write", "rename", "unlink", "connect-used"):
            assert said[f"{who} {what}"] == "ok", (who, what, run.stdout)
        for what in ("read-conf", "bind-new", "connect-new"):
            assert said[f"{who} {what}"] == "EACCES", (who, what, run.stdout)


def test_training_runs_with_zero_denials(trained: tuple[list[str], Path, int]) -> None:
    argv, policy, _port = trained
    run = _sysphase("run", "--policy", str(policy), "--", *argv, "train")
    assert run.returncode == 0, run.stderr
    assert set(lines_of(run.stdout).values()) == {"ok"}
    assert run.stderr == ""


def test_sections_narrow_and_the_enforcer_call_is_allowed(
    trained: tuple[list[str], Path, int],
) -> None:
    _argv, policy, port = trained
    doc = json.loads(policy.read_text())
    (program,) = doc["programs"]
    start, serve = program["phases"]
    allowed = {p["name"]: {a["syscall"] for a in p["allowed"]} for p in (start, serve)}
    assert "landlock_restrict_self" in allowed["start"] & allowed["serve"]
    assert "landlock_create_ruleset" not in allowed["serve"] | allowed["start"]
    assert "landlock_add_rule" not in allowed["serve"] | allowed["start"]
    assert start["landlock"]["bind_tcp"] == [port] and serve["landlock"]["bind_tcp"] == []
    assert serve["landlock"]["connect_tcp"] == [port]
    start_paths = {r["path"] for r in start["landlock"]["rules"]}
    assert {r["path"] for r in serve["landlock"]["rules"]} <= start_paths
    assert not any(p.endswith("app.conf") for p in {r["path"] for r in serve["landlock"]["rules"]})


def test_complain_mode_says_it_applies_no_landlock(trained: tuple[list[str], Path, int]) -> None:
    argv, policy, _port = trained
    run = _sysphase("run", "--complain", "--policy", str(policy), "--", *argv, "train")
    assert run.returncode == 0
    assert "complain mode does not apply the policy's Landlock rules" in run.stderr


def test_an_io_uring_personality_cannot_carry_start_up_rules_past_the_switch(
    fx: dict[str, str], tmp_path: Path
) -> None:
    """A personality keeps the credentials of its registration (Landlock domain included):
    a Landlock policy's filters refuse to register one, even where io_uring_register is
    allowed, so the program is killed before it can hold start-up's rules."""
    need_landlock()
    profile, policy = tmp_path / "p.json", tmp_path / "pol.json"
    argv = [fx["uring_personality"]]
    rec = _sysphase("record", "--paths", "--phase", "serve=syscall:getppid", "-o", str(profile),
                    "--", *argv, "plain")  # fmt: skip
    assert rec.returncode == 0, rec.stderr
    made = _sysphase(
        "policy", "--landlock", "--allow", "io_uring_register", "-o", str(policy), str(profile)
    )
    assert made.returncode == 0, made.stderr
    plain = _sysphase("run", "--policy", str(policy), "--", *argv, "plain")
    assert plain.returncode == 0 and plain.stdout == "ring ok\n", plain.stderr
    attack = _sysphase("run", "--policy", str(policy), "--", *argv, "personality")
    assert attack.returncode == -31 and "personality" not in attack.stdout  # SIGSYS
    assert "killed by seccomp: io_uring_register" in attack.stderr
