"""Run the benchmark: every workload in every mode, alternating, over several rounds.

Each run is one process: the workload alone (``native``), the real
``python -m sysphase trace -c`` command line (``sysphase``), the same tracing
``/bin/true`` (``sysphase-startup``, the interpreter's start-up),
``strace -f -c`` (``strace``), ``record --sets-only``, ``record --baseline``
(with a profile recorded once before the rounds, by the real ``record``
command line and so by the recording driver), ``trace -c --backend ebpf``
and a bpftrace one-liner. Each is measured by :mod:`.measure`; a server
workload (redis) is started, driven and stopped by :mod:`.server`.

A mode that cannot run (the sysphase command line rejects its flag with a
usage error, exit 2; bpftrace or strace missing; any failure on its first
run) is reported as unavailable with the reason, and the others go on.

Modes alternate within each round, and the order rotates from round to
round, so slow drifts of the machine hit every mode alike. One untimed
native run per workload comes first: it warms the page cache and checks
that the workload works at all.
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sysphase.bench.measure import RunResult, bench_env, describe_exit, run_once
from sysphase.bench.report import BenchInfo
from sysphase.bench.server import run_server_once
from sysphase.bench.stats import (
    BASELINE,
    BPFTRACE,
    EBPF,
    MODES,
    NATIVE,
    PATHS,
    PYTHON_MODES,
    RECORD,
    SETS_ONLY,
    STARTUP,
    STRACE,
    SYSPHASE,
    Sample,
)
from sysphase.bench.workloads import Workload

__all__ = [
    "BPFTRACE_PROGRAM",
    "Tools",
    "WorkloadRuns",
    "bench_info",
    "mode_argv",
    "rotated",
    "run_benchmark",
    "selected_modes",
]

Progress = Callable[[str], None]


@dataclass
class WorkloadRuns:
    """Every sample of one workload, per mode, and the error that stopped it."""

    workload: Workload
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    error: str | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    """Modes that could not run, with the reason."""
    baseline: str | None = None
    """The profile recorded for the baseline mode."""


BPFTRACE_PROGRAM = "tracepoint:raw_syscalls:sys_enter /pid == cpid/ { @[args->id] = count(); }"
"""The bpftrace mode's one-liner (issue 7), on the process bpftrace -c starts."""


def mode_argv(
    mode: str,
    argv: Sequence[str],
    *,
    python: str = sys.executable,
    strace: str | None = "strace",
    true: str = "/bin/true",
    bpftrace: str | None = "bpftrace",
    baseline: str | None = None,
    out: str | None = None,
) -> list[str]:
    """The command line that runs ``argv`` in ``mode``.

    ``out`` is where the record modes write their profile; ``baseline`` the
    profile ``record --baseline`` starts from.
    """
    sysphase = [python, "-m", "sysphase"]
    if mode == NATIVE:
        return list(argv)
    if mode == SYSPHASE:
        return [*sysphase, "trace", "-c", "-o", os.devnull, "--", *argv]
    if mode == STARTUP:
        return [*sysphase, "trace", "-c", "-o", os.devnull, "--", true]
    if mode == STRACE:
        if strace is None:
            raise ValueError("the strace mode needs strace")
        return [strace, "-f", "-c", "-o", os.devnull, *argv]
    if mode in (SETS_ONLY, BASELINE, RECORD, PATHS):
        if out is None:
            raise ValueError(f"the {mode} mode needs a profile to write")
        if mode in (RECORD, PATHS):
            paths = ["--paths"] if mode == PATHS else []
            return [*sysphase, "record", *paths, "-o", out, "--", *argv]
        if mode == SETS_ONLY:
            return [*sysphase, "record", "--sets-only", "-o", out, "--", *argv]
        if baseline is None:
            raise ValueError("the baseline mode needs a baseline profile")
        return [*sysphase, "record", "--baseline", baseline, "-o", out, "--", *argv]
    if mode == EBPF:
        return [*sysphase, "trace", "-c", "--backend", "ebpf", "-o", os.devnull, "--", *argv]
    if mode == BPFTRACE:
        if bpftrace is None:
            raise ValueError("the bpftrace mode needs bpftrace")
        return [bpftrace, "-e", BPFTRACE_PROGRAM, "-c", shlex.join(argv)]
    raise ValueError(f"unknown mode {mode!r}")


def rotated(modes: Sequence[str], round_index: int) -> list[str]:
    """``modes`` rotated left by ``round_index``: each round starts with another mode."""
    if not modes:
        return []
    k = round_index % len(modes)
    return [*modes[k:], *modes[:k]]


# --- the benchmark ----------------------------------------------------------------


def _failure(what: str, result: RunResult) -> str:
    text = f"{what} {describe_exit(result.exit_code)}"
    return f"{text}: {result.stderr_tail}" if result.stderr_tail else text


@dataclass(frozen=True)
class Tools:
    """The programs the modes run; ``None`` for one that is not installed."""

    strace: str | None
    bpftrace: str | None = None
    true: str = "/bin/true"
    python: str = sys.executable


def selected_modes(modes: Sequence[str]) -> list[str]:
    """The modes to run, in report order: native always, the start-up baseline with Python modes."""
    chosen = set(modes) | {NATIVE}
    if chosen & set(PYTHON_MODES):
        chosen.add(STARTUP)
    return [m for m in MODES if m in chosen]


def run_benchmark(
    workloads: Sequence[Workload],
    *,
    rounds: int,
    strace: str | None,
    measure: Path,
    env: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    modes: Sequence[str] = MODES,
    bpftrace: str | None = None,
    python: str = sys.executable,
) -> list[WorkloadRuns]:
    """Run every workload in every mode, ``rounds`` times; return the samples.

    A workload whose native run fails stops there with an error; the others
    go on. A mode that cannot run is set aside with its reason
    (:attr:`WorkloadRuns.unavailable`). ``strace=None`` or ``bpftrace=None``
    skip those modes; ``python`` runs sysphase's command line.
    """
    env = bench_env() if env is None else env
    say = progress if progress is not None else (lambda _msg: None)
    tools = Tools(strace, bpftrace, shutil.which("true") or "/bin/true", python)
    chosen = selected_modes(modes)
    runs = []
    for w in workloads:
        wanted = [m for m in chosen if not (w.server and m == STARTUP)]
        runs.append(WorkloadRuns(w, {m: [] for m in wanted}))
    with tempfile.TemporaryDirectory(prefix="sysphase-bench-") as tmp:
        for r in runs:
            _skip_missing_tools(r, tools)
            say(f"warm-up   {r.workload.name:<6} native")
            result = _run(r.workload.argv, r.workload, env, measure)
            if result.exit_code != 0:
                r.error = _failure(f"the {r.workload.name} workload on its own", result)
            elif BASELINE in r.samples and BASELINE not in r.unavailable:
                _record_baseline(r, tools, tmp, env, measure, say)
        for index in range(rounds):
            for r in runs:
                if r.error is None:
                    _one_round(r, index, rounds, tools, tmp, env, measure, say)
    return runs


def _run(
    argv: Sequence[str], workload: Workload, env: Mapping[str, str], measure: Path
) -> RunResult:
    if workload.server:
        return run_server_once(argv, env, measure=measure, workload=workload)
    return run_once(argv, env, measure=measure)


def _skip_missing_tools(r: WorkloadRuns, tools: Tools) -> None:
    if STRACE in r.samples and tools.strace is None:
        r.unavailable[STRACE] = "skipped: strace is not installed"
    if BPFTRACE in r.samples and tools.bpftrace is None:
        r.unavailable[BPFTRACE] = "skipped: bpftrace is not installed"


def _record_baseline(
    r: WorkloadRuns, tools: Tools, tmp: str, env: Mapping[str, str], measure: Path, say: Progress
) -> None:
    """``record`` once (untimed): the profile the baseline mode starts from."""
    path = os.path.join(tmp, f"{r.workload.name}-baseline-profile.json")
    argv = [tools.python, "-m", "sysphase", "record", "-o", path, "--", *r.workload.argv]
    say(f"baseline  {r.workload.name:<6} record")
    result = _run(argv, r.workload, env, measure)
    if result.exit_code != 0:
        r.unavailable[BASELINE] = "unavailable: " + _failure(
            "recording the baseline profile", result
        )
    else:
        r.baseline = path


def _one_round(
    r: WorkloadRuns,
    index: int,
    rounds: int,
    tools: Tools,
    tmp: str,
    env: Mapping[str, str],
    measure: Path,
    say: Progress,
) -> None:
    for mode in rotated(list(r.samples), index):
        if mode in r.unavailable:
            continue
        argv = mode_argv(
            mode,
            r.workload.argv,
            python=tools.python,
            strace=tools.strace,
            true=tools.true,
            bpftrace=tools.bpftrace,
            baseline=r.baseline,
            out=os.path.join(tmp, f"{r.workload.name}-{mode}.json"),
        )
        result = _run(argv, r.workload, env, measure)
        if result.exit_code != 0:
            what = f"the {mode} run of the {r.workload.name} workload"
            if mode == NATIVE:
                r.error = _failure(what, result)
                return
            if r.samples[mode]:
                r.unavailable[mode] = f"failed in round {index + 1}: " + _failure(what, result)
            else:
                r.unavailable[mode] = "unavailable: " + _failure(what, result)
            continue
        r.samples[mode].append(result.sample)
        rate = result.sample.throughput
        shown = f"{rate:12,.0f} req/s" if rate is not None else ""
        say(
            f"round {index + 1}/{rounds} {r.workload.name:<6} {mode:<17}"
            f"{result.sample.seconds:9.3f} s{shown}"
        )


def _version(argv: list[str], unknown: str) -> str:
    """The first line a tool prints for its version, or ``unknown``."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return unknown
    return out.strip().splitlines()[0] if out.strip() else unknown


def _strace_version(strace: str | None) -> str | None:
    if strace is None:
        return None
    return _version([strace, "-V"], "strace (version unknown)").replace(" -- version", "")


def _bpftrace_version(bpftrace: str | None) -> str | None:
    if bpftrace is None:
        return None
    return _version([bpftrace, "--version"], "bpftrace (version unknown)")


def bench_info(
    rounds: int,
    strace: str | None,
    *,
    modes: Sequence[str] = MODES,
    bpftrace: str | None = None,
) -> BenchInfo:
    """Python, strace, bpftrace and kernel versions and the CPU count, for the report."""
    return BenchInfo(
        rounds=rounds,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        strace=_strace_version(strace),
        kernel=platform.release(),
        cpus=os.cpu_count() or 1,
        modes=tuple(modes),
        bpftrace=_bpftrace_version(bpftrace) if BPFTRACE in modes else None,
    )
