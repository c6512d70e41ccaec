"""Run a workload's scenarios under the tracer: record the train set, validate on the test set.

OS layer. Each scenario run gets a fresh temporary folder ({tmp}; {db} is
``{tmp}/test.db``) with the scenario's files written in it; the fixture
({tree}) is built once per call and shared. The program runs with {tmp} as
its working directory, stdin from the scenario's text (else /dev/null) and
stdout and stderr to files, then its exit status and stdout are checked.
With the ``redis`` driver the program is a server: the runner writes its
redis.conf (a free loopback port, data in {tmp}), starts an untraced replica
when the scenario asks, and a driver thread (redis_driver) plays the steps
against the traced server while this thread traces it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from importlib import resources
from pathlib import Path

from sysphase._host import enforcement, files, tracer
from sysphase._host.enforcement import Violation
from sysphase.errors import SysphaseError, UsageError, WorkloadError
from sysphase.model import profile as prof
from sysphase.model.phases import check_distinct, parse_trigger
from sysphase.policy.ir import Policy
from sysphase.workloads import fixtures, redis_driver
from sysphase.workloads.scenario import Scenario, Workload, parse

__all__ = [
    "BUILTIN",
    "Progress",
    "Violation",
    "WorkloadError",
    "WorkloadInterrupted",
    "load",
    "record_workload",
    "validate_workload",
]

BUILTIN = ("ls", "sqlite", "redis")

#: progress(scenario, run, new syscalls found in that run)
Progress = Callable[[str, int, list[str]], None]


class WorkloadInterrupted(SysphaseError):
    """A signal stopped a traced scenario run; ``partial`` is what was recorded until then."""

    def __init__(self, sig: int, partial: prof.Profile | None) -> None:
        super().__init__(f"interrupted by signal {sig}")
        self.sig = sig
        self.exit_code = 128 + sig
        self.partial = partial


def load(name_or_file: str) -> Workload:
    """A built-in workload by name, or a scenario file by path."""
    if name_or_file in BUILTIN:
        text = (
            resources.files("sysphase.workloads")
            .joinpath(f"scenarios/{name_or_file}.toml")
            .read_text(encoding="utf-8")
        )
        return parse(text, f"{name_or_file}.toml")
    if not name_or_file.endswith(".toml") and not os.path.exists(name_or_file):
        raise UsageError(
            f"--workload {name_or_file}: neither a built-in workload "
            f"({', '.join(BUILTIN)}) nor a scenario file"
        )
    # a regular file of at most 64 MiB: a FIFO or /dev/zero is one sentence, never a hang
    text = files.read_text_bounded(name_or_file, files.TEXT_LIMIT, "a scenario file")
    return parse(text, name_or_file)


def _fill(text: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


@contextmanager
def _fixture(workload: Workload) -> Iterator[str]:
    """The shared fixture folder ({tree}); empty string when the workload has none."""
    if workload.fixture == "none":
        yield ""
        return
    root = Path(tempfile.mkdtemp(prefix="sysphase-fixture-"))
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


def _run_one(
    workload: Workload,
    scenario: Scenario,
    tree: str,
    **trace_args: object,
) -> tracer.TraceResult:
    """Run one scenario in a fresh {tmp} and check it; raises WorkloadError on a failed check."""
    tmp = tempfile.mkdtemp(prefix=f"sysphase-{workload.name}-")
    try:
        values = {"tmp": tmp, "db": os.path.join(tmp, "test.db"), "tree": tree}
        if workload.driver == "redis":
            values["port"] = str(redis_driver.free_port())
            values["replica_port"] = str(redis_driver.free_port())
        for rel, content in scenario.files:
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(_fill(content, values))
        if workload.driver == "redis":
            with open(os.path.join(tmp, "redis.conf"), "w", encoding="utf-8") as f:
                config = [(k, _fill(v, values)) for k, v in scenario.config]
                f.write(redis_driver.config_text(tmp, int(values["port"]), config))
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
                    result, problem = _drive_redis(scenario, values, argv, env, trace_args)
                else:
                    result, problem = tracer.trace_command(argv, env=env, **trace_args), None  # type: ignore[arg-type]
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
    return result


def _drive_redis(
    scenario: Scenario,
    values: Mapping[str, str],
    argv: list[str],
    env: dict[str, str],
    trace_args: Mapping[str, object],
) -> tuple[tracer.TraceResult, str | None]:
    """Trace the server on this thread while a driver thread plays the steps against it."""
    ports = {"server": int(values["port"]), "replica": int(values["replica_port"])}
    with ExitStack() as stack:
        if scenario.replica:
            stack.enter_context(
                redis_driver.replica_server(values["tmp"], ports["replica"], ports["server"])
            )
        driver = redis_driver.Driver(scenario.steps, ports, lambda text: _fill(text, values))
        driver.start()
        try:
            result = tracer.trace_command(argv, env=env, **trace_args)  # type: ignore[arg-type]
        finally:
            driver.finished.set()
            driver.join(redis_driver.STEP_TIMEOUT)
    return result, driver.error


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
    if result.exit_status != scenario.exit:
        raise WorkloadError(
            f"{where}: exit status {result.exit_status}, expected {scenario.exit}{said}"
        )
    for text in scenario.stdout_contains:
        if text not in stdout:
            raise WorkloadError(f"{where}: stdout lacks {text!r}{said}")


def _keys(p: prof.Profile) -> set[tuple[str, str, str]]:
    return {(n.executable, ph.name, k) for n in p.processes for ph in n.phases for k in ph.syscalls}


def record_workload(
    name_or_file: str,
    runs: int = 1,
    until_stable: int | None = None,
    progress: Progress | None = None,
    progress_profile: Callable[[prof.Profile], None] | None = None,
    *,
    sets_only: bool = True,
    baseline: prof.Profile | None = None,
) -> prof.Profile:
    """Record every train scenario (each ``runs`` times, or until ``until_stable`` quiet runs).

    By default (``sets_only``) a run stops once per call, at its entry, and lets
    the calls already known for their (program, phase) — from ``baseline`` and
    every run so far — run without a stop (docs/performance.md): syscall sets
    stay exact, counts are lower bounds and errors and times are not measured.
    ``sets_only=False`` traces every call's entry and exit in every run.

    Returns the merge of every run's profile; its command is the workload's program
    (so the policy's root program is that program). When a signal stops a traced run,
    raises WorkloadInterrupted carrying the profile recorded so far (marked incomplete);
    a KeyboardInterrupt or other exception between runs leaves ``partial`` as the last
    merged profile, which ``progress_profile`` (when given) also receives after each run.
    """
    workload = load(name_or_file)
    train = workload.tagged("train")
    if not train:
        raise UsageError(f"{name_or_file}: no scenario is tagged 'train'")
    merged: prof.Profile | None = baseline
    with _fixture(workload) as tree:
        for scenario in train:
            stable = 0
            for k in range(1, runs + 1):
                fast = {"sets_only": True, "baseline": merged} if sets_only else {}
                result = _run_one(workload, scenario, tree, phases=_phases(workload), **fast)
                one = prof.from_tree(
                    result.tree, list(scenario.argv), "x86_64", complete=not result.interrupted
                )
                new = _keys(one) - (_keys(merged) if merged else set())
                merged = one if merged is None else prof.merge(merged, one)
                if progress_profile is not None:
                    progress_profile(_named(workload, merged))
                if result.interrupted:
                    raise WorkloadInterrupted(result.interrupted, _named(workload, merged))
                if progress is not None:
                    progress(scenario.name, k, sorted({key[2] for key in new}))
                stable = 0 if new else stable + 1
                if until_stable is not None and k > 1 and stable >= until_stable:
                    break
    assert merged is not None
    return _named(workload, merged)


def _named(workload: Workload, merged: prof.Profile) -> prof.Profile:
    """The merged profile with the workload as its command."""
    return prof.Profile(
        (workload.program, f"<workload {workload.name}>"),
        merged.arch,
        merged.runs,
        merged.complete,
        merged.processes,
    )


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
            result = _run_one(workload, scenario, tree, **plan.trace_args(complain=True))
            out.append(
                (scenario.name, enforcement.outside_policy(result, plan.program.phases[0].name))
            )
    return out
