"""Run a workload's scenarios under the tracer: record the train set, validate on the test set.

OS layer. Each scenario run gets a fresh temporary folder ({tmp}; {db} is
``{tmp}/test.db``) with the scenario's files written in it; the fixture
({tree}) is built once per call and shared. The program runs with {tmp} as
its working directory, stdin from the scenario's text (else /dev/null) and
stdout and stderr to files, then its exit status and stdout are checked.
With the ``redis`` driver the program is a server: the runner writes its
redis.conf (a free loopback port, data in {tmp}), starts an untraced replica
when the scenario asks, and a driver thread (redis_driver) plays the steps
against the traced server while this thread traces it. The ``nginx`` and
``memcached`` drivers work the same way (nginx_driver writes nginx.conf and a
document root; their driver threads are service_driver's).

Recording is the recording driver's (sysphase.recording.plan decides each
run's mode and when a scenario's series of runs stops, sysphase._host.recording
traces): this module supplies one run of a scenario, set up and checked.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Protocol

from sysphase._host import enforcement, files, recording, tracer
from sysphase._host.enforcement import Violation
from sysphase.errors import UsageError, WorkloadError
from sysphase.model import profile as prof
from sysphase.model.phases import check_distinct, parse_trigger
from sysphase.model.violations import ViolationEvent
from sysphase.policy.ir import Policy
from sysphase.recording.first_seen import first_seen
from sysphase.recording.plan import Recording, Run, RunMode, RunReport
from sysphase.workloads import (
    children,
    fixtures,
    help_options,
    layout,
    memcached_driver,
    nginx_driver,
    redis_commands,
    redis_driver,
    self_description,
    sqlite_catalog,
)
from sysphase.workloads.scenario import ANY_EXIT, Scenario, Workload, parse

__all__ = [
    "BUILTIN",
    "Violation",
    "WorkloadError",
    "load",
    "record_workload",
    "validate_workload",
]

BUILTIN = ("ls", "sqlite", "redis", "nginx", "memcached")

#: trace(argv, env): run the scenario's filled-in command under the tracer
Trace = Callable[[list[str], dict[str, str]], tracer.TraceResult]


def load(name_or_file: str, generated: int | None = None) -> Workload:
    """A built-in workload by name, or a scenario file by path, with its generated scenarios.

    ``generated``: keep only that many of the generated scenarios, spread evenly
    over them (:func:`evenly`); None keeps all.
    """
    if name_or_file in BUILTIN:
        text = (
            resources.files("sysphase.workloads")
            .joinpath(f"scenarios/{name_or_file}.toml")
            .read_text(encoding="utf-8")
        )
        return _generated(parse(text, f"{name_or_file}.toml"), generated)
    if not name_or_file.endswith(".toml") and not os.path.exists(name_or_file):
        raise UsageError(
            f"--workload {name_or_file}: neither a built-in workload "
            f"({', '.join(BUILTIN)}) nor a scenario file"
        )
    # a regular file of at most 64 MiB: a FIFO or /dev/zero is one sentence, never a hang
    text = files.read_text_bounded(name_or_file, files.TEXT_LIMIT, "a scenario file")
    return _generated(parse(text, name_or_file), generated)


def evenly(items: tuple[Scenario, ...], n: int | None) -> tuple[Scenario, ...]:
    """N of ITEMS taken evenly (the first, then every len/N-th), in order; all when N is None."""
    if n is None or n >= len(items):
        return items
    return tuple(items[(i * len(items)) // n] for i in range(n))


def _generated(workload: Workload, limit: int | None = None) -> Workload:
    """The workload with the train scenarios its ``generate`` key asks for added after its own.

    The program describes itself (sysphase.workloads.self_description, untraced);
    a pure generator turns that into scenarios (see GENERATORS).
    """
    if not workload.generate:
        return workload
    try:
        made = evenly(_generate(workload), limit)
    except WorkloadError as err:
        raise WorkloadError(f"workload {workload.name}: {err}") from err
    own = {s.name for s in workload.scenarios}
    for s in made:
        if s.name in own:
            raise UsageError(f"workload {workload.name}: scenario {s.name!r} is also generated")
    return replace(workload, scenarios=workload.scenarios + made)


def _generate(workload: Workload) -> tuple[Scenario, ...]:
    program = workload.program
    if workload.generate == "ls-help":
        specs = help_options.parse_help(self_description.help_text(program))
        return help_options.option_scenarios(program, specs, ("{tree}",))
    if workload.generate == "redis-commands":
        said = self_description.redis(program)
        argv = (program, "{tmp}/redis.conf")
        debug = redis_commands.parse_debug_help(said.debug_help)
        return (
            *redis_commands.command_scenarios(redis_commands.parse_docs(said.docs), argv),
            redis_commands.debug_scenario(debug, argv),
            redis_commands.config_scenario(said.config, argv),
        )
    catalog = sqlite_catalog.parse(self_description.sqlite(program, sqlite_catalog.QUERY))
    return sqlite_catalog.scenarios(program, catalog)


def _fill(text: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


@contextmanager
def _fixture(workload: Workload, stable: bool = False) -> Iterator[str]:
    """The shared fixture folder ({tree}); empty string when the workload has none."""
    if workload.fixture == "none":
        yield ""
        return
    root = Path(layout.fixture_root(workload.name, stable))
    try:
        yield str(fixtures.build_ls_tree(root))
    finally:
        fixtures.unlock(root)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def _redirected(stdin_path: str, stdout_path: str, stderr_path: str, cwd: str) -> Iterator[None]:
    """fds 0, 1, 2 and the working directory for the traced child (it inherits them)."""
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    old_cwd = os.getcwd()
    opened = [
        os.open(stdin_path, os.O_RDONLY),
        os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    try:
        for fd, new in enumerate(opened):
            os.dup2(new, fd)
        os.chdir(cwd)
        yield
    finally:
        os.chdir(old_cwd)
        for fd, old in enumerate(saved):
            os.dup2(old, fd)
        for fd in saved + opened:
            os.close(fd)


#: (CLOCK_MONOTONIC ns, what the step covers) as each step of a driver began
Steps = list[tuple[int, str]]


def _run_one(
    workload: Workload, scenario: Scenario, tree: str, trace: Trace, stable: bool = False
) -> tuple[tracer.TraceResult, Steps]:
    """Run one scenario in a fresh {tmp} through ``trace`` and check it.

    Returns the trace and when each step of a server driver began (none for
    ``stdin``). Raises WorkloadError on a failed check (not for a run a signal
    cut short). ``stable``: the stable layout's folder and ports (layout.py).
    """
    tmp = layout.scenario_dir(workload.name, stable)
    try:
        values = {"tmp": tmp, "db": os.path.join(tmp, "test.db"), "tree": tree}
        if workload.driver != "stdin":
            values.update(layout.ports(stable))
        for rel, content in scenario.files:
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(_fill(content, values))
        if workload.driver == "redis":
            with open(os.path.join(tmp, "redis.conf"), "w", encoding="utf-8") as f:
                config = [(k, _fill(v, values)) for k, v in scenario.config]
                f.write(redis_driver.config_text(tmp, int(values["port"]), config))
        if workload.driver == "nginx":
            config = [(k, _fill(v, values)) for k, v in scenario.config]
            nginx_driver.prepare(tmp, int(values["port"]), config)
        io = tempfile.mkdtemp(prefix="sysphase-io-")
        try:
            stdin_path = os.devnull
            if scenario.stdin is not None:
                stdin_path = os.path.join(io, "stdin")
                with open(stdin_path, "w", encoding="utf-8") as f:
                    f.write(_fill(scenario.stdin, values))
            out, err = os.path.join(io, "stdout"), os.path.join(io, "stderr")
            argv = [_fill(a, values) for a in scenario.argv]
            env = dict(os.environ)
            env.update({k: _fill(v, values) for k, v in scenario.env})
            with _redirected(stdin_path, out, err, tmp):
                if workload.driver == "redis":
                    result, problem, steps = _drive_redis(scenario, values, argv, env, trace)
                elif workload.driver != "stdin":
                    driver = _service(workload.driver, scenario, values, argv[0])
                    result, problem, steps = _drive(driver, argv, env, trace)
                else:
                    result, problem, steps = _bounded(trace, argv, env, scenario.timeout)
            stdout = Path(out).read_bytes().decode("utf-8", "replace")
            stderr = Path(err).read_bytes().decode("utf-8", "replace")
        finally:
            shutil.rmtree(io, ignore_errors=True)
    finally:
        fixtures.unlock(Path(tmp))
        shutil.rmtree(tmp, ignore_errors=True)
    if not result.interrupted:
        if problem is not None:
            raise WorkloadError(f"workload {workload.name}, scenario {scenario.name}: {problem}")
        _check(workload, scenario, result, stdout, stderr)
    return result, steps


def _bounded(
    trace: Trace, argv: list[str], env: dict[str, str], timeout: float
) -> tuple[tracer.TraceResult, str | None, Steps]:
    """Trace a stdin scenario's program; past TIMEOUT seconds its processes are killed.

    The traced program is this process's only child while it runs (the tracer
    is this thread). The watchdog is a process that is not our child (the
    tracer's waitpid(-1) must not collect it) and no thread of ours (a thread
    could take the Ctrl-C meant for the tracer): children.watchdog.
    """
    with children.watchdog(timeout) as expired:
        result = trace(argv, env)
    problem = f"{argv[0]} did not end within {timeout:g} s (killed)" if expired() else None
    return result, problem, []


def _drive_redis(
    scenario: Scenario,
    values: Mapping[str, str],
    argv: list[str],
    env: dict[str, str],
    trace: Trace,
) -> tuple[tracer.TraceResult, str | None, Steps]:
    """Trace the server on this thread while a driver thread plays the steps against it."""
    ports = {
        "server": int(values["port"]),
        "replica": int(values["replica_port"]),
        "peer": int(values["peer_port"]),
    }
    with ExitStack() as stack:
        if scenario.replica:
            master = [("replicaof", f"127.0.0.1 {ports['server']}")]
            stack.enter_context(
                redis_driver.side_server(values["tmp"], "replica", ports["replica"], master)
            )
        if scenario.peer:
            stack.enter_context(redis_driver.side_server(values["tmp"], "peer", ports["peer"]))
        driver = redis_driver.Driver(scenario.steps, ports, lambda text: _fill(text, values))
        return _drive(driver, argv, env, trace)


class _Driver(Protocol):
    """What the runner needs of a service driver thread (service_driver.ServiceDriver)."""

    error: str | None
    finished: threading.Event
    steps_began: Steps

    def start(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...


def _service(driver: str, scenario: Scenario, values: Mapping[str, str], program: str) -> _Driver:
    """The driver thread of an nginx or memcached scenario."""
    args = (int(values["port"]), shutil.which(program) or program, values["tmp"])

    def fill(text: str) -> str:
        return _fill(text, values)

    if driver == "nginx":
        return nginx_driver.Driver(scenario.http_steps, *args, fill)
    return memcached_driver.Driver(scenario.cache_steps, *args, fill)


def _drive(
    driver: _Driver, argv: list[str], env: dict[str, str], trace: Trace
) -> tuple[tracer.TraceResult, str | None, Steps]:
    """Trace the server on this thread while the driver thread plays the steps against it."""
    driver.start()
    try:
        result = trace(argv, env)
    finally:
        driver.finished.set()
        driver.join(redis_driver.STEP_TIMEOUT)
    return result, driver.error, list(driver.steps_began)


def _phases(workload: Workload) -> tracer.PhaseConfig:
    triggers = [parse_trigger(spec) for spec in workload.phases]
    check_distinct(triggers)
    return tracer.PhaseConfig(triggers=tuple(triggers))


def _check(
    workload: Workload, scenario: Scenario, result: tracer.TraceResult, stdout: str, stderr: str
) -> None:
    where = f"workload {workload.name}, scenario {scenario.name}"
    last = stderr.strip().splitlines()[-1:] if stderr.strip() else []
    said = f" (stderr: {last[0][:200]})" if last else ""
    if scenario.exit == ANY_EXIT and result.exit_status >= 128:
        raise WorkloadError(f"{where}: killed by signal {result.exit_status - 128}{said}")
    if scenario.exit != ANY_EXIT and result.exit_status != scenario.exit:
        raise WorkloadError(
            f"{where}: exit status {result.exit_status}, expected {scenario.exit}{said}"
        )
    for text in scenario.stdout_contains:
        if text not in stdout:
            raise WorkloadError(f"{where}: stdout lacks {text!r}{said}")


def record_workload(
    name_or_file: str,
    rec: Recording,
    report: recording.Report | None = None,
    generated: int | None = None,
    stable: bool = False,
) -> prof.Profile | None:
    """Record every train scenario, one series of runs each, as ``rec`` plans them.

    ``rec`` (sysphase.recording.plan) decides each run's mode — for ``record
    --workload`` set-only, each run knowing the sets of the baseline and of every
    run so far, or ``--full`` (docs/performance.md) — when a scenario's series
    stops, and merges. ``report`` receives the progress of every run a signal did
    not cut short. A signal ends the recording (``rec.interrupted``; the profile
    so far is marked incomplete); a failed check raises WorkloadError.

    ``generated`` bounds the generated scenarios recorded (see :func:`load`);
    ``stable``: every scenario in the stable layout (layout.py; ``--paths``).
    Returns the merged profile with the workload's program as its command (so the
    policy's root program is that program), or None if nothing was recorded.
    """
    workload = load(name_or_file, generated)
    train = workload.tagged("train")
    if not train:
        raise UsageError(f"{name_or_file}: no scenario is tagged 'train'")
    phases = _phases(workload)
    with recording.interruptible(rec), _fixture(workload, stable) as tree:
        for position, scenario in enumerate(train):
            rec.begin(scenario.name)
            run_once = _scenario_runs(workload, scenario, tree, phases, position, stable)
            recording.drive(rec, run_once, _completed(report))
            if rec.interrupted:
                break
    return None if rec.profile is None else _named(workload, rec.profile)


def _scenario_runs(
    workload: Workload,
    scenario: Scenario,
    tree: str,
    phases: tracer.PhaseConfig,
    position: int,
    stable: bool,
) -> recording.RunOnce:
    """One recorded run of the scenario (the workload's train scenario number ``position``).

    The run's profile says where each of its calls was first seen (scenario, step).
    """

    def run_once(mode: RunMode) -> Run:
        def trace(argv: list[str], env: dict[str, str]) -> tracer.TraceResult:
            return recording.trace(argv, mode, phases=phases, env=env)

        result, steps = _run_one(workload, scenario, tree, trace, stable)
        run = recording.to_run(result, scenario.argv, mode)
        seen = first_seen(result.tree, run.profile.arch, scenario.name, position, steps)
        return replace(run, profile=replace(run.profile, first_seen=seen))

    return run_once


def _completed(report: recording.Report | None) -> recording.Report | None:
    """``report`` for the runs that completed: a run cut short shows no progress line."""
    if report is None:
        return None

    def completed(progress: RunReport) -> None:
        if not progress.interrupted:
            report(progress)

    return completed


def _named(workload: Workload, merged: prof.Profile) -> prof.Profile:
    """The merged profile with the workload as its command."""
    return replace(merged, command=(workload.program, f"<workload {workload.name}>"))


def validate_workload(name_or_file: str, policy: Policy) -> list[tuple[str, list[Violation]]]:
    """Run every test scenario in complain mode under the policy, switching its phases.

    Each scenario's program starts under its first phase's filter (default action
    ``trace``: nothing is blocked) and switches at the policy's triggers as ``sysphase
    run --complain`` does. Returns (scenario name, calls outside the policy) per test
    scenario, in file order. A scenario whose checks fail raises WorkloadError.
    """
    workload = load(name_or_file)
    test = workload.tagged("test")
    if not test:
        raise UsageError(f"{name_or_file}: no scenario is tagged 'test'")
    out: list[tuple[str, list[Violation]]] = []
    with _fixture(workload) as tree:
        for scenario in test:
            plan = enforcement.prepare(policy, scenario.argv[0], "trace", "the policy")
            result, _ = _run_one(workload, scenario, tree, _complaining(plan))
            out.append(
                (scenario.name, enforcement.outside_policy(result, plan.program.phases[0].name))
            )
    return out


def validate_enforced(
    name_or_file: str, policy: Policy
) -> list[tuple[str, str | None, list[ViolationEvent]]]:
    """Run every test scenario under the policy, enforcing: its default action, its phase
    switches and its Landlock rules, in the stable layout (``record --paths`` recorded in it).

    Returns (scenario name, why its checks failed or None, the seccomp kills) per scenario.
    """
    workload = load(name_or_file)
    out: list[tuple[str, str | None, list[ViolationEvent]]] = []
    with _fixture(workload, stable=True) as tree:
        for scenario in workload.tagged("test"):
            plan = enforcement.prepare(policy, scenario.argv[0], policy.default_action, "policy")
            kills: list[ViolationEvent] = []
            enforce = replace(plan.enforce(complain=False), on_violation=kills.extend)
            try:
                _run_one(workload, scenario, tree, _landlocked(plan, enforce), stable=True)
                failed = None
            except WorkloadError as err:
                failed = str(err)
            out.append((scenario.name, failed, kills))
    return out


def _landlocked(plan: enforcement.Enforcement, enforce: tracer.Enforce) -> Trace:
    """Trace under ENFORCE with the policy's Landlock rulesets, built once the scenario's
    folders exist (a rule holds the directory it was built on, not a later one of its name)."""

    def trace(argv: list[str], env: dict[str, str]) -> tracer.TraceResult:
        first, later, _notes = plan.landlock()
        try:
            with_rules = replace(enforce, landlock_first=first, landlock=later)
            return tracer.trace_command(argv, env=env, enforce=with_rules)
        finally:
            for fd in [first, *later.values()]:
                if fd >= 0:
                    os.close(fd)

    return trace


def _tracing(enforce: tracer.Enforce) -> Trace:
    def trace(argv: list[str], env: dict[str, str]) -> tracer.TraceResult:
        return tracer.trace_command(argv, env=env, enforce=enforce)

    return trace


def _complaining(plan: enforcement.Enforcement) -> Trace:
    """Trace under the policy in complain mode, switching its phases as ``run`` does."""
    return _tracing(plan.enforce(complain=True))
