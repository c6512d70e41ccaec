"""Which step of a workload scenario first made each call: the profile's ``first_seen``.

Pure. The core stamps every counter with the CLOCK_MONOTONIC time of the
first stop that counted it; a workload driver logs when each of its steps
began, on the same clock. A call first counted while step *k* ran (after it
began, before step *k+1* did) is that step's; one counted before the first
step is the scenario's start-up's (``start``). A scenario without steps (a
command fed on stdin) names only itself. Merging runs keeps, per (program,
phase, syscall), the earliest scenario and step (sysphase.model.profile_merge),
so a workload's profile says where in the workload each call first appeared.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from sysphase.model.profile import FirstSeen, syscall_key
from sysphase.model.tree import ProcessTree

__all__ = ["START", "first_seen"]

#: the step name of calls made before the first step began
START = "start"


def first_seen(
    tree: ProcessTree,
    arch: str,
    scenario: str,
    position: int,
    steps: Sequence[tuple[int, str]],
) -> tuple[FirstSeen, ...]:
    """Per (program, phase, syscall) of one run, the step running at its first counted call.

    ``position`` is the scenario's place in the workload; ``steps`` the
    driver's (monotonic ns, step name) as each step began, in order. Counters
    without a time (0) are skipped. Sorted by (program, phase, syscall).
    """
    earliest: dict[tuple[str, str, str], int] = {}
    for c in tree.counts:
        if c.first_ns <= 0 or not 0 <= c.phase < len(tree.phase_names):
            continue
        key = (
            tree.nodes[c.node].exe,
            tree.phase_names[c.phase][0],
            syscall_key(arch, c.arch, c.name),
        )
        earliest[key] = min(earliest.get(key, c.first_ns), c.first_ns)
    began = [t for t, _ in steps]
    out = []
    for key, when in sorted(earliest.items()):
        if not steps:
            step, index = "", 0
        else:
            k = bisect_right(began, when)
            step, index = (START, 0) if k == 0 else (steps[k - 1][1], k)
        out.append(FirstSeen((position, index), *key, scenario, step))
    return tuple(out)
