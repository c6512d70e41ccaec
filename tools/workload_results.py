"""Measure the built-in workloads for docs/results.md: record, policy, validate, saturation.

Usage: python3 tools/workload_results.py [--runs N] [--stable K] [WORKLOAD...]

For each workload (ls, sqlite, redis, nginx, memcached by default) it runs, in a temporary folder,
``sysphase record --workload W --until-stable K --runs N``, ``sysphase policy``
and ``sysphase validate``, then prints a Markdown section: the allowed calls per
program and phase (seen in the trace, and added by the generator), the test scenarios'
result, and saturation (per train scenario, the last run that found something
new). Nothing here is asserted; tests/e2e/test_workloads.py asserts the targets.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from sysphase.policy import codec

PROGRESS = re.compile(r"^scenario (\S+), run (\d+): (\d+) new syscalls")


def sysphase(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sysphase", *args], capture_output=True, text=True, check=False
    )


def measure(workload: str, runs: int, stable: int, folder: Path) -> None:
    prof, pol = folder / f"{workload}.json", folder / f"{workload}.policy"
    rec = sysphase(
        "record", "-o", str(prof), "--workload", workload,
        "--until-stable", str(stable), "--runs", str(runs),
    )  # fmt: skip
    if rec.returncode != 0:
        sys.exit(f"record --workload {workload} failed: {rec.stderr.strip()}")
    last: dict[str, int] = {}
    done: dict[str, int] = {}
    for line in rec.stderr.splitlines():
        m = PROGRESS.match(line)
        if m:
            name, k, new = m.group(1), int(m.group(2)), int(m.group(3))
            done[name] = k
            last.setdefault(name, 0)
            if new:
                last[name] = k
    gen = sysphase("policy", str(prof), "-o", str(pol))
    if gen.returncode != 0:
        sys.exit(f"policy for {workload} failed: {gen.stderr.strip()}")
    policy = codec.decode(pol.read_text(), str(pol))
    val = sysphase("validate", "--workload", workload, "--policy", str(pol))
    print(f"### {workload}\n")
    print("| program | phase | allowed | seen in the trace | added only |")
    print("|---|---|---|---|---|")
    for program in policy.programs:
        for phase in program.phases:
            seen = sorted(c.syscall for c in phase.allowed if c.provenance)
            added = sorted(c.syscall for c in phase.allowed if not c.provenance)
            print(
                f"| {program.executable} | {phase.name} | {len(phase.allowed)} | {len(seen)} "
                f"| {len(added)}: {' '.join(added)} |"
            )
            print(f"|  |  |  | {' '.join(seen)} |  |")
    print()
    print(f"validate (exit {val.returncode}):\n")
    print("```\n" + val.stdout.strip() + "\n```\n")
    runs_total = sum(done.values())
    saturated = max(last.values(), default=0)
    print(
        f"saturation: {len(done)} train scenarios, {runs_total} runs in all; the last run "
        f"that found a new syscall was run {saturated} "
        f"({', '.join(f'{n}: {k}' for n, k in last.items() if k > 1) or 'every scenario: run 1'})\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10, help="most runs per scenario (default 10)")
    ap.add_argument("--stable", type=int, default=3, help="stop after K quiet runs (default 3)")
    ap.add_argument("workloads", nargs="*", default=["ls", "sqlite", "redis", "nginx", "memcached"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sysphase-results-") as tmp:
        for w in args.workloads:
            measure(w, args.runs, args.stable, Path(tmp))


if __name__ == "__main__":
    main()
