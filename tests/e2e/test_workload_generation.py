"""Generated scenarios against the real programs, and where a recording first saw each call.

The redis generator must probe every command the installed redis-server lists
(but the documented left-out ones), the sqlite generator every pragma, SQL
function and dot-command the installed sqlite3 lists; a workload recording
must say which scenario and step first made a call, and ``policy --explain``
must print it. The whole generated workloads are recorded by test_workloads.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from sysphase.workloads import redis_commands, runner, self_description, sqlite_catalog
from tests.conftest import TRACEE_ENV, sysphase_cmd


def _need(program: str) -> None:
    assert shutil.which(program) is not None, f"{program} is not installed (.ci/run installs it)"


def test_redis_workload_probes_every_command_the_server_lists():
    _need("redis-server")
    commands = redis_commands.parse_docs(self_description.redis("redis-server").docs)
    assert len(commands) > 300  # redis 7.0: 240 commands, containers as subcommands
    workload = runner.load("redis")
    probed = {st.label for s in workload.scenarios for st in s.steps if st.kind == "probe"}
    missing = [
        c.name
        for c in commands
        if c.name not in probed
        and not any(" ".join(c.words[:n]) in redis_commands.LEFT_OUT for n in (1, 2))
    ]
    assert missing == []
    names = {s.name for s in workload.tagged("train")}
    assert {"commands-string", "commands-server", "debug-subcommands", "config-set-each"} <= names
    # the roles the commands alone do not reach are hand-written
    assert {"replica-of", "migrate", "aof-truncated-load", "child-killed", "acl-file"} <= names
    assert {s.name for s in workload.tagged("test")}.isdisjoint(
        n for n in names if n.startswith(("commands-", "debug-", "config-set"))
    )


def test_sqlite_workload_covers_every_pragma_function_and_dot_command():
    _need("sqlite3")
    catalog = sqlite_catalog.parse(self_description.sqlite("sqlite3", sqlite_catalog.QUERY))
    assert len(catalog.pragmas) > 50 and len(catalog.functions) > 100 and len(catalog.dots) > 50
    names = {s.name for s in runner.load("sqlite").tagged("train")}
    wanted = [
        *(sqlite_catalog.scenario_name("pragma", p) for p in catalog.pragmas),
        *(sqlite_catalog.scenario_name("function", f) for f, _ in catalog.functions),
        *(sqlite_catalog.scenario_name("dot", d) for d, _ in catalog.dots),
    ]
    assert [n for n in wanted if n not in names and n not in sqlite_catalog.LEFT_OUT] == []


SCENARIOS = """
workload = "migrate-only"
program = "redis-server"
driver = "redis"
phases = ["serve=syscall:epoll_wait"]

[[scenario]]
name = "plain"
tag = "train"
argv = ["redis-server", "{tmp}/redis.conf"]
steps = [{ cmd = ["SET", "k", "v"], reply = "OK" }, { shutdown = "NOSAVE" }]

[[scenario]]
name = "migrate"
tag = "train"
argv = ["redis-server", "{tmp}/redis.conf"]
peer = true
steps = [
  { cmd = ["SET", "mk", "v"], reply = "OK" },
  { cmd = ["MIGRATE", "127.0.0.1", "{peer_port}", "mk", "0", "5000"], reply = "OK" },
  { cmd = ["GET", "mk"], on = "peer", reply = "v" },
  { shutdown = "NOSAVE" },
]
"""


def test_a_workload_profile_says_which_step_first_made_each_call(tmp_path):
    _need("redis-server")
    scenarios, prof, pol = tmp_path / "w.toml", tmp_path / "p.json", tmp_path / "p.policy"
    scenarios.write_text(SCENARIOS)
    run = subprocess.run(
        sysphase_cmd("record", "-o", str(prof), "--workload", str(scenarios), "--runs", "1"),
        capture_output=True,
        text=True,
        timeout=300,
        env=TRACEE_ENV,
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(prof.read_text())["first_seen"]
    serve = {f["syscall"]: f for f in seen if f["phase"] == "serve"}
    # the server connects out only to migrate: first seen at that step, not before
    assert serve["connect"]["scenario"] == "migrate" and serve["connect"]["step"] == "MIGRATE"
    assert serve["connect"]["order"] == [1, 2]
    assert serve["epoll_wait"]["scenario"] == "plain"
    start = {f["syscall"]: f for f in seen if f["phase"] == "start"}
    assert start["execve"]["step"] == "start"
    explained = subprocess.run(
        sysphase_cmd("policy", str(prof), "-o", str(pol), "--explain"),
        capture_output=True,
        text=True,
        timeout=300,
        env=TRACEE_ENV,
    )
    assert explained.returncode == 0, explained.stderr
    lines = explained.stderr.splitlines()
    at = [i for i, line in enumerate(lines) if line.strip().startswith("connect ")]
    assert at, explained.stderr
    assert "first seen: scenario migrate, step MIGRATE" in lines[at[-1] + 1]


@pytest.mark.parametrize("program", ["redis-server", "sqlite3"])
def test_a_program_that_cannot_describe_itself_is_one_sentence(tmp_path, program):
    fake = tmp_path / program
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    name = "redis" if program == "redis-server" else "sqlite"
    text = runner.resources.files("sysphase.workloads").joinpath(f"scenarios/{name}.toml")
    scenario_file = tmp_path / "w.toml"
    scenario_file.write_text(
        text.read_text(encoding="utf-8").replace(f'program = "{program}"', f'program = "{fake}"', 1)
    )
    run = subprocess.run(
        sysphase_cmd("record", "-o", str(tmp_path / "p.json"), "--workload", str(scenario_file)),
        capture_output=True,
        text=True,
        timeout=120,
        env=TRACEE_ENV,
    )
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert str(fake) in lines[0]
