"""The service workloads end to end: nginx (a master and worker processes) and memcached
(a multi-threaded server), recorded, turned into a policy, then checked on test traffic.

`sysphase record --workload` records the train scenarios, `policy` generates the
phases, `validate` plays the test scenarios the recording never saw in complain mode
(zero calls outside the policy, each server stopped by its signal with exit 0), and
the serving phase of the processes that serve drops execve, socket, bind and listen.
Then `sysphase run` enforces the policy (default action kill) on a test scenario's
traffic, played from this process by the workload's own driver: no kill, exit 0
after the stop signal. Each workload's record and validate must stay well inside
CI's time budget; the times are printed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from sysphase.policy import codec
from sysphase.workloads import memcached_driver, nginx_driver, redis_driver, runner, service_driver
from tests.conftest import IN_CI, TRACEE_ENV, sysphase_cmd

#: what start-up does and serving must not
STARTUP_ONLY = {"execve", "socket", "bind", "listen"}
#: seconds record (2 runs a scenario) + validate may take on CI's 2-core machine
BUDGET = 90

SERVICES = ["nginx", "memcached"]


def sysphase(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=timeout, env=TRACEE_ENV
    )


def _installed(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        msg = f"{program} is not installed (apt-get install {program}); CI installs it"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def _policy_phases(path: Path) -> dict[str, set[str]]:
    policy = codec.decode(path.read_text(), str(path))
    (prog,) = policy.programs
    return {ph.name: set(ph.allow_list()) for ph in prog.phases}


def _serving_processes(profile: Path) -> tuple[dict[str, set[str]], list[dict[str, set[str]]]]:
    """The root process's phases and those of every other process with a serve phase."""
    nodes = json.loads(profile.read_text())["processes"]
    phases = [{ph["name"]: set(ph["syscalls"]) for ph in n["phases"]} for n in nodes]
    (root,) = [p for n, p in zip(nodes, phases, strict=True) if n["parent"] is None]
    others = [p for n, p in zip(nodes, phases, strict=True) if n["parent"] is not None]
    return root, [p for p in others if "serve" in p]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, float]]:
    """{workload: (profile, policy, seconds record took)}, recorded once per module."""
    out = {}
    for workload in SERVICES:
        _installed(workload)
        d = tmp_path_factory.mktemp(workload)
        prof, pol = d / "p.json", d / "p.policy"
        started = time.monotonic()
        rec = sysphase("record", "-o", str(prof), "--workload", workload, "--runs", "2")
        took = time.monotonic() - started
        assert rec.returncode == 0, rec.stderr
        for scenario in runner.load(workload).tagged("train"):
            assert f"scenario {scenario.name}, run 2: " in rec.stderr, rec.stderr
        gen = sysphase("policy", str(prof), "-o", str(pol))
        assert gen.returncode == 0, gen.stderr
        out[workload] = (prof, pol, took)
    return out


@pytest.mark.parametrize("workload", SERVICES)
def test_record_policy_validate(recorded, workload):
    prof, pol, record_took = recorded[workload]
    phases = _policy_phases(pol)
    for name, allowed in phases.items():
        print(f"\n{workload} phase {name}: {len(allowed)} allowed: {' '.join(sorted(allowed))}")
    assert phases["start"] >= STARTUP_ONLY
    assert not STARTUP_ONLY & phases["serve"]
    assert phases["serve"] < phases["start"]
    root, servers = _serving_processes(prof)
    if workload == "nginx":
        # the master never waits in epoll: it stays in start-up; its workers serve
        assert set(root) == {"start"} and len(servers) >= 2
    else:
        # the main thread listens after its worker threads wait: listening, then serve
        assert list(root) == ["start", "listening", "serve"] and "listen" in root["listening"]
        servers = [root]
    for p in servers:
        assert not STARTUP_ONLY & p["serve"], p["serve"]
    started = time.monotonic()
    val = sysphase("validate", "--workload", workload, "--policy", str(pol))
    validate_took = time.monotonic() - started
    print(val.stdout + val.stderr)
    took = f"record {record_took:.1f} s (2 runs a scenario), validate {validate_took:.1f} s"
    print(f"{workload}: {took}")
    for scenario in runner.load(workload).tagged("test"):
        assert re.search(rf"^scenario {re.escape(scenario.name)}: ok$", val.stdout, re.M), (
            val.stdout
        )
    assert val.returncode == 0, val.stdout + val.stderr
    assert record_took + validate_took < BUDGET


Driver = nginx_driver.Driver | memcached_driver.Driver


def _enforced(
    workload: str, scenario_name: str, policy: Path, folder: str
) -> tuple[subprocess.Popen[str], Driver]:
    """A test scenario's server under `sysphase run`, and its driver (not started)."""
    (scenario,) = [s for s in runner.load(workload).tagged("test") if s.name == scenario_name]
    port = redis_driver.free_port()
    values = {"tmp": folder, "port": str(port)}

    def fill(text: str) -> str:
        for k, v in values.items():
            text = text.replace("{" + k + "}", v)
        return text

    program = _installed(workload)
    if workload == "nginx":
        nginx_driver.prepare(folder, port, [(k, fill(v)) for k, v in scenario.config])
        driver: Driver = nginx_driver.Driver(scenario.http_steps, port, program, folder, fill)
    else:
        driver = memcached_driver.Driver(scenario.cache_steps, port, program, folder, fill)
    argv = [fill(a) for a in scenario.argv]
    proc = subprocess.Popen(
        sysphase_cmd("run", "--policy", str(policy), "--", *argv),
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=TRACEE_ENV,
    )
    return proc, driver


@pytest.mark.parametrize(
    ("workload", "scenario"),
    [
        ("nginx", "many-clients"),
        # nginx's workers start 32 pool threads each, then switch at the event loop
        ("nginx", "thread-pool-aio-parallel"),
        ("memcached", "session-cache"),
    ],
)
def test_enforced_under_test_traffic(recorded, workload, scenario):
    """Enforcement (kill), not complain mode: the test traffic runs, the server stops cleanly."""
    _, pol, _ = recorded[workload]
    # like the runner's {tmp}: under /tmp, so nginx's workers (nobody) can reach the files
    folder = tempfile.mkdtemp(prefix=f"sysphase-test-{workload}-")
    try:
        proc, driver = _enforced(workload, scenario, pol, folder)
        driver.start()
        try:
            deadline = time.monotonic() + 60
            while not (pids := service_driver.server_pids(driver.program, folder)):
                assert time.monotonic() < deadline and proc.poll() is None, "no server"
                time.sleep(0.05)
            assert pids[0] == proc.pid  # the server (nginx's master) kept sysphase's pid
            _, err = proc.communicate(timeout=120)
        finally:
            driver.finished.set()
            driver.join(60)
            if proc.poll() is None:
                proc.kill()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert driver.error is None, driver.error
    assert "killed by seccomp" not in err, err
    assert proc.returncode == 0, err
