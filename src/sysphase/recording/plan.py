"""The plan of a recording of several runs: each run's mode, when to stop, the merge, progress.

Pure: it never runs anything. ``sysphase._host.recording`` asks a
:class:`Recording` for the next run's :class:`RunMode`, traces it, and hands
back a :class:`Run`; the recording merges it into the profile so far and says
what to report (:class:`RunReport`) and whether to go on. ``record`` uses one
series of runs; ``record --workload`` one series per train scenario
(:meth:`Recording.begin`), every series merging into the same profile.

The rules (README, docs/workloads.md):

- **Modes** (:class:`Modes`): a run with nothing known is recorded in full
  (entry and exit stops) or set-only (one stop per call, ``--sets-only``;
  the workloads' default); once a profile is known (a ``--baseline``, earlier
  runs, earlier scenarios) each run uses it as its known-set baseline, so only
  calls new for their (program, phase) stop. ``--full`` records every run in
  full.
- **Stop** (:class:`StopRule`): a run is *quiet* when it adds no (program,
  phase, syscall) to everything known before it — the baseline, earlier
  scenarios and earlier runs. A series stops after ``--runs N`` runs, or once
  ``--until-stable K`` runs in a row were quiet, whichever comes first
  (``--runs`` caps ``--until-stable``; alone, ``--until-stable`` runs at most
  1000 times). The first run of a series counts like any other: a first run
  that the baseline or an earlier scenario already covered is quiet.
- **Interruption**: a run a signal cut short is merged (its profile is
  incomplete) and ends the whole recording; so does a signal between runs
  (:meth:`Recording.interrupt`). The profile so far is then marked incomplete.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from sysphase.errors import UsageError
from sysphase.model import profile as prof
from sysphase.model.profile_merge import merge

__all__ = [
    "UNTIL_STABLE_RUNS",
    "Key",
    "Mode",
    "Modes",
    "Recording",
    "Run",
    "RunMode",
    "RunReport",
    "StopRule",
    "keys",
]

#: A (program, phase, syscall) a profile holds: (executable, phase name, syscall key).
Key = tuple[str, str, str]

#: The most runs ``--until-stable`` makes without ``--runs``.
UNTIL_STABLE_RUNS = 1000

#: How many new syscall names a progress line shows before "...".
_SHOWN = 8


def keys(profile: prof.Profile) -> set[Key]:
    """Every (program, phase, syscall) of ``profile``."""
    return {
        (node.executable, phase.name, key)
        for node in profile.processes
        for phase in node.phases
        for key in phase.syscalls
    }


class Mode(enum.Enum):
    """How one run sees the calls (docs/performance.md)."""

    #: a stop at every call's entry and exit: exact counts, errors and times
    FULL = "full"
    #: one stop per call, at its entry: sets and call counts, no errors or times
    SETS = "sets"
    #: as SETS, but calls a baseline knows for their (program, phase) run without a stop
    KNOWN = "known"


@dataclass(frozen=True, slots=True)
class RunMode:
    """The mode of one run, with the profile whose sets it knows (KNOWN only);
    ``paths``: the run notes the paths and ports calls touch (FULL only)."""

    mode: Mode
    baseline: prof.Profile | None = None
    paths: bool = False

    def __post_init__(self) -> None:
        if (self.mode is Mode.KNOWN) != (self.baseline is not None):
            raise ValueError("a KNOWN run, and only it, has a baseline")
        if self.paths and self.mode is not Mode.FULL:
            raise ValueError("path capture needs a full run")


@dataclass(frozen=True, slots=True)
class Modes:
    """Which mode each run uses.

    ``first``: a run when nothing is known yet (FULL or SETS). ``reuse``: once
    a profile is known, runs use it as their known-set baseline (KNOWN);
    ``False`` records every run in ``first``'s mode (``--full``). ``paths``:
    every run notes the paths and ports calls touch (``--paths``; all runs full).
    """

    first: Mode = Mode.FULL
    reuse: bool = True
    paths: bool = False

    def __post_init__(self) -> None:
        if self.first is Mode.KNOWN:
            raise ValueError("the first run cannot know a profile that does not exist yet")
        if self.paths and (self.first is not Mode.FULL or self.reuse):
            raise ValueError("path capture records every run in full")

    @classmethod
    def full(cls, paths: bool = False) -> Modes:
        """Every run in full (``--full``; the eBPF backend, which has no fast paths)."""
        return cls(Mode.FULL, reuse=False, paths=paths)

    def for_run(self, known: prof.Profile | None) -> RunMode:
        """The mode of the next run, given the profile known so far."""
        if self.reuse and known is not None:
            return RunMode(Mode.KNOWN, known)
        return RunMode(self.first, paths=self.paths)


@dataclass(frozen=True, slots=True)
class StopRule:
    """When a series of runs stops: ``--runs N``, ``--until-stable K`` (see the module)."""

    runs: int | None = None
    until_stable: int | None = None

    def __post_init__(self) -> None:
        if self.runs is not None and self.runs < 1:
            raise UsageError(f"--runs {self.runs}: must be at least 1")
        if self.until_stable is not None and self.until_stable < 1:
            raise UsageError(f"--until-stable {self.until_stable}: must be at least 1")

    @property
    def max_runs(self) -> int:
        """``--runs``; else 1, or :data:`UNTIL_STABLE_RUNS` with ``--until-stable``."""
        if self.runs is not None:
            return self.runs
        return 1 if self.until_stable is None else UNTIL_STABLE_RUNS

    @property
    def total(self) -> int | None:
        """The number of runs progress shows ("run 2 of 5"); None when stability decides."""
        return None if self.runs is None and self.until_stable is not None else self.max_runs

    def stops(self, runs: int, quiet: int) -> bool:
        """Whether a series stops after ``runs`` runs, the last ``quiet`` of them quiet."""
        stable = self.until_stable is not None and quiet >= self.until_stable
        return runs >= self.max_runs or stable


@dataclass(frozen=True, slots=True)
class Run:
    """What one traced run gave: its profile, the program's exit status, the stopping signal."""

    profile: prof.Profile
    exit_status: int
    interrupted: int = 0
    #: triggers that fired where the operator likely did not mean (model.trigger_warnings)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RunReport:
    """The progress of one run: its number, the syscalls it found new (sorted names)."""

    run: int
    total: int | None
    new: tuple[str, ...]
    series: str | None = None
    interrupted: int = 0
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """``3 new syscalls (brk, mmap, openat)``, at most eight names shown."""
        shown = ", ".join(self.new[:_SHOWN]) + (", ..." if len(self.new) > _SHOWN else "")
        return f"{len(self.new)} new syscalls" + (f" ({shown})" if self.new else "")

    def line(self) -> str:
        """``run 2 of 5: ...``, ``run 2: ...``, or ``scenario S, run 2: ...`` in a series."""
        if self.series is not None:
            return f"scenario {self.series}, run {self.run}: {self.summary()}"
        total = "" if self.total is None else f" of {self.total}"
        return f"run {self.run}{total}: {self.summary()}"


class Recording:
    """The state of a recording: the profile so far, the current series, the stop decision.

    The profile so far starts as ``baseline`` (which the written profile
    includes). Drive it as ``while (mode := r.next_mode()) is not None:
    r.add(trace(mode))``; :meth:`begin` starts another series (a scenario).
    """

    def __init__(
        self,
        stop: StopRule | None = None,
        modes: Modes | None = None,
        baseline: prof.Profile | None = None,
    ) -> None:
        self.stop = stop if stop is not None else StopRule()
        self.modes = modes if modes is not None else Modes()
        self._profile = baseline
        self._known = keys(baseline) if baseline is not None else set()
        #: the current series' name (a scenario), its runs so far and its quiet runs in a row
        self.series: str | None = None
        self.runs = 0
        self.quiet = 0
        #: the signal that ended the recording, 0 if none
        self.interrupted = 0
        #: the last run's exit status
        self.exit_status = 0

    @property
    def profile(self) -> prof.Profile | None:
        """The merge of the baseline and every run so far; None before any."""
        return self._profile

    @property
    def status(self) -> int:
        """The exit status: 128+N after signal N, else the last run's."""
        return 128 + self.interrupted if self.interrupted else self.exit_status

    @property
    def done(self) -> bool:
        """Whether the current series (and, once interrupted, the recording) is over."""
        return bool(self.interrupted) or self.stop.stops(self.runs, self.quiet)

    def begin(self, series: str | None) -> None:
        """Start a series of runs (a scenario): its run count and quiet streak restart."""
        self.series, self.runs, self.quiet = series, 0, 0

    def next_mode(self) -> RunMode | None:
        """The mode of the next run, or None when the series stops."""
        return None if self.done else self.modes.for_run(self._profile)

    def add(self, run: Run) -> RunReport:
        """Merge one run; what it found new; a run cut short by a signal ends the recording."""
        if self.done:
            raise ValueError("a run was added to a recording that had stopped")
        new = keys(run.profile) - self._known
        self._known |= new
        self._profile = run.profile if self._profile is None else merge(self._profile, run.profile)
        self.runs += 1
        self.quiet = 0 if new else self.quiet + 1
        self.exit_status = run.exit_status
        if run.interrupted:
            self.interrupt(run.interrupted)
        names = tuple(sorted({key[2] for key in new}))
        return RunReport(
            self.runs, self.stop.total, names, self.series, run.interrupted, run.warnings
        )

    def interrupt(self, sig: int) -> None:
        """A signal ended the recording: no further run; the profile so far is incomplete."""
        self.interrupted = sig
        if self._profile is not None and self._profile.complete:
            self._profile = replace(self._profile, complete=False)
