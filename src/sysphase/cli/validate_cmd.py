"""`sysphase validate`: run a workload's test scenarios under a policy in complain mode.

Prints, per scenario, every call outside the policy (by program and phase;
the program switches phases at the policy's triggers, as under `sysphase run
--complain`); exits 0 only when there were none, 1 otherwise. ``--enforce``
runs them under the policy as `sysphase run` does instead (its default
action, its Landlock rules), in the stable layout (workloads/layout.py), and
prints per scenario whether its checks passed and what its filters killed.
"""

from __future__ import annotations

import argparse

from sysphase._host import files
from sysphase.errors import UsageError
from sysphase.policy.ir import Policy
from sysphase.report.escape import terminal_safe
from sysphase.workloads import runner


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workload",
        required=True,
        metavar="W",
        help="a built-in workload (ls, sqlite, redis, nginx, memcached) or a scenario file "
        "(docs/workloads.md)",
    )
    p.add_argument(
        "--policy",
        required=True,
        metavar="POLICY",
        help="a sysphase-policy/1 file (sysphase policy --format sysphase)",
    )
    p.add_argument(
        "--enforce",
        action="store_true",
        help="enforce the policy as sysphase run does (its default action and Landlock rules), "
        "in the stable layout record --workload --paths records in",
    )


def run(args: argparse.Namespace) -> int:
    if args.command_argv:
        raise UsageError("validate takes no command after '--'")
    policy, _ = files.read_policy(args.policy)
    if args.enforce:
        return _enforced(args.workload, policy)
    results = runner.validate_workload(args.workload, policy)
    total = 0
    for scenario, violations in results:
        calls = sum(v.calls for v in violations)
        total += len(violations)
        if not violations:
            print(f"scenario {terminal_safe(scenario)}: ok")
            continue
        names = sorted({v.syscall for v in violations})
        print(
            f"scenario {terminal_safe(scenario)}: {len(names)} syscall(s) outside the policy "
            f"({calls} call(s)): {', '.join(names)}"
        )
        for v in violations:
            print(terminal_safe(f"  {v.executable}  phase {v.phase}  {v.syscall}  {v.calls}"))
    bad = sum(1 for _, v in results if v)
    print(
        f"{len(results)} test scenario(s), {bad} with calls outside the policy"
        + (
            f", {len({v.syscall for _, vs in results for v in vs})} distinct syscall(s)"
            if bad
            else ""
        )
    )
    return 0 if total == 0 else 1


def _enforced(workload: str, policy: Policy) -> int:
    """--enforce: each test scenario's checks and kills under the enforced policy."""
    results = runner.validate_enforced(workload, policy)
    bad = 0
    for scenario, failed, kills in results:
        problems = [failed] if failed else []
        problems += [f"killed by seccomp: {k.syscall} in phase {k.phase}" for k in kills]
        bad += bool(problems)
        print(terminal_safe(f"scenario {scenario}: {'; '.join(problems) or 'ok'}"))
    print(f"{len(results)} test scenario(s) enforced, {bad} failed or killed")
    return 0 if bad == 0 else 1
