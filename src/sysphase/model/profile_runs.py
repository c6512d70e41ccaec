"""What a profile's runs say: how each was recorded, and how each call varied between them.

Pure. A recording stamps the profile of each run with its mode
(:data:`sysphase.model.profile.RECORDING_MODES`) and, for a full run, the
calls each (program, phase, syscall) made in it (:func:`stamp`); merging
adds the modes and folds the spreads (:func:`merge_recording`,
:func:`merge_spread`); :func:`summary` says in one line what the counts of a
profile are worth, and :func:`partial` lists the calls seen in only some of
its full runs (timing-dependent ones).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Profile, Spread

__all__ = ["in_some_runs", "merge_recording", "merge_spread", "partial", "stamp", "summary"]


def stamp(profile: Profile, mode: str) -> Profile:
    """The profile of ONE run recorded in MODE, with its mode and (full runs) its spread."""
    if profile.runs != 1:
        raise ValueError(f"stamp takes the profile of one run, not of {profile.runs}")
    calls: dict[tuple[str, str, str], int] = {}
    if mode == "full":
        for node in profile.processes:
            for phase in node.phases:
                for key, stat in phase.syscalls.items():
                    where = (node.executable, phase.name, key)
                    calls[where] = calls.get(where, 0) + stat.calls + stat.unfinished
    spread = tuple(Spread(*k, 1, n, n) for k, n in sorted(calls.items()))
    return replace(profile, recording=FrozenMap({mode: 1}), spread=spread)


def merge_recording(profiles: Sequence[Profile]) -> FrozenMap[int]:
    """Runs per mode, added; empty when any input does not say (its runs' modes are unknown)."""
    if any(not p.recording for p in profiles):
        return FrozenMap()
    out: dict[str, int] = {}
    for p in profiles:
        for mode, n in p.recording.items():
            out[mode] = out.get(mode, 0) + n
    return FrozenMap(out)


def merge_spread(spreads: Iterable[Spread]) -> tuple[Spread, ...]:
    """Per (program, phase, syscall): runs added, the fewest and the most calls kept."""
    acc: dict[tuple[str, str, str], Spread] = {}
    for s in spreads:
        key = (s.program, s.phase, s.syscall)
        old = acc.get(key)
        acc[key] = (
            s
            if old is None
            else Spread(
                *key,
                old.runs + s.runs,
                min(old.min_calls, s.min_calls),
                max(old.max_calls, s.max_calls),
            )
        )
    return tuple(acc[k] for k in sorted(acc))


def _runs(n: int) -> str:
    return f"{n} run{'' if n == 1 else 's'}"


def summary(profile: Profile) -> str:
    """What the counts are worth, in words: "calls exact over 3 runs", "sets exact over ..."."""
    modes = profile.recording
    if not modes:
        return "how the runs were recorded is not said (a profile from before it was)"
    full = modes.get("full", 0)
    if full == profile.runs:
        return f"calls, errors and times exact over {_runs(full)}"
    fast = profile.runs - full
    counts = f"counts exact from {_runs(full)}" if full else "no run counted every call"
    known = modes.get("known", 0)
    how = "set-only" if not known else ("known-set" if known == fast else "set-only and known-set")
    return f"sets exact over {_runs(profile.runs)}; {counts}; {_runs(fast)} recorded {how}"


def in_some_runs(profile: Profile) -> list[Spread]:
    """The spreads of calls that some full runs did not make (seen in fewer than all)."""
    full = profile.recording.get("full", 0)
    return [s for s in profile.spread if s.runs < full]


def partial(profile: Profile, program: str, phase: str) -> list[tuple[str, int]]:
    """The calls of PROGRAM's PHASE that some full runs did not make: (syscall, runs seen in)."""
    return [
        (s.syscall, s.runs)
        for s in in_some_runs(profile)
        if s.program == program and s.phase == phase
    ]
