"""`python -m sysphase.bench --enforce`: the cost of running under a policy.

On the getppid loop: native; `run` with a single-phase policy (the filter,
plus the supervisor attached for process events only); and `run` with a
two-phase policy whose serving phase starts at the first getppid (the
supervisor stops the start-up's syscalls, injects the second filter, then
only watches events). Modes alternate within each round; times are
wall-clock from fork to reaping, measured the same way for every mode (the
C core spawns the program in all three). Also reports the phase switch's
latency: from the trigger's entry stop to the restored call.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from sysphase._host import recording, seccomp, tracer
from sysphase.bench.errors import BenchError
from sysphase.model.phases import PhaseTrigger, parse_trigger
from sysphase.policy.generate import generate

TRIGGER = parse_trigger("serve=syscall:getppid")


def _policy_filters(loop: Path, triggers: tuple[PhaseTrigger, ...]) -> list[bytes]:
    """Record the loop once (in full, through the recording driver) and compile its policy."""
    config = tracer.PhaseConfig(triggers=triggers)
    rec = recording.record_command([str(loop), "1000"], phases=config)
    if rec.interrupted or rec.profile is None:
        raise BenchError(f"recording the loop was interrupted by signal {rec.interrupted}")
    program = generate(rec.profile).root_program
    return [seccomp.compile_filter(p.allow_list(), "kill", phase=p.name) for p in program.phases]


def run_enforce_bench(loop: Path, calls: int, rounds: int) -> str:
    single = _policy_filters(loop, ())
    two = _policy_filters(loop, (TRIGGER,))
    argv = [str(loop), str(calls)]
    times: dict[str, list[float]] = {"native": [], "run 1 phase": [], "run 2 phases": []}
    switch_us: list[float] = []
    for _ in range(rounds):
        for mode in times:
            t0 = time.perf_counter()
            if mode == "native":  # the same spawn path, no filter, events only
                enforce = tracer.Enforce(None, supervise=False)
            elif mode == "run 1 phase":
                enforce = tracer.Enforce(single[0], supervise=False)
            else:
                enforce = tracer.Enforce(
                    two[0],
                    phases=tracer.PhaseConfig(triggers=(TRIGGER,)),
                    phase_filters={"serve": two[1]},
                    program=(str(loop.resolve()), ""),
                )
            r = tracer.trace_command(argv, enforce=enforce)
            if r.switches:
                switch_us.append(r.switch_ns / r.switches / 1000)
            times[mode].append(time.perf_counter() - t0)
            if r.exit_status != 0:
                raise RuntimeError(f"{mode}: the loop exited with status {r.exit_status}")
    native = statistics.median(times["native"])
    lines = [
        f"enforcement: getppid loop, {calls:,} calls, {rounds} rounds (medians)",
        f"  {'mode':<14}{'median s':>10}{'vs native':>11}",
    ]
    for mode, ts in times.items():
        med = statistics.median(ts)
        lines.append(f"  {mode:<14}{med:>10.3f}{(med / native - 1) * 100:>+10.1f}%")
    if switch_us:
        lines.append(
            f"  phase switch latency: median {statistics.median(switch_us):.1f} us "
            f"(injected seccomp + restored call, {len(switch_us)} switches)"
        )
    lines.append("  target: within 2% of native (docs/design.md)")
    return "\n".join(lines) + "\n"
