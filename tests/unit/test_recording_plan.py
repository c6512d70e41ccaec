"""The recording driver's pure part (sysphase.recording.plan): modes, stop rule, merge, progress."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import pytest

from sysphase.errors import UsageError
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Phase, ProcessNode, Profile, SyscallStat
from sysphase.model.tree import NodeKind
from sysphase.recording.plan import (
    UNTIL_STABLE_RUNS,
    Mode,
    Modes,
    Recording,
    Run,
    RunMode,
    RunReport,
    StopRule,
    keys,
)

Sets = Mapping[str, Sequence[str]]


def profile(phases: Sets, exe: str = "/bin/x", *, complete: bool = True) -> Profile:
    """A one-process profile of one run with these syscalls per phase."""
    node = ProcessNode(
        0,
        None,
        NodeKind.SPAWN,
        exe,
        ("x",),
        None,
        None,
        None,
        tuple(
            Phase(i, name, "", FrozenMap((sc, SyscallStat(calls=1)) for sc in calls))
            for i, (name, calls) in enumerate(phases.items())
        ),
    )
    return Profile(("x",), "x86_64", 1, complete, (node,))


def run(phases: Sets, *, status: int = 0, interrupted: int = 0) -> Run:
    return Run(profile(phases, complete=not interrupted), status, interrupted)


def drive(rec: Recording, runs: Sequence[Run]) -> tuple[list[RunMode], list[RunReport]]:
    """Drive ``rec`` as the OS part does, the k-th run giving ``runs[k]``."""
    modes: list[RunMode] = []
    reports: list[RunReport] = []
    while (mode := rec.next_mode()) is not None:
        modes.append(mode)
        reports.append(rec.add(runs[len(modes) - 1]))
    return modes, reports


FIELDS = ("executable", "argv", "load_base", "entry", "exit", "phases")
A = {"start": ["read"]}
AB = {"start": ["read", "write"]}


# --- the stop rule ----------------------------------------------------------------------------


def test_stop_rule_defaults_and_caps() -> None:
    assert StopRule().max_runs == 1 and StopRule().total == 1
    assert StopRule(runs=5).max_runs == 5 and StopRule(runs=5).total == 5
    alone = StopRule(until_stable=2)
    assert alone.max_runs == UNTIL_STABLE_RUNS == 1000 and alone.total is None
    both = StopRule(runs=5, until_stable=2)
    assert both.max_runs == 5 and both.total == 5


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (lambda: StopRule(runs=0), "--runs 0: must be at least 1"),
        (lambda: StopRule(until_stable=0), "--until-stable 0: must be at least 1"),
        (lambda: StopRule(runs=-2, until_stable=1), "--runs -2: must be at least 1"),
    ],
)
def test_stop_rule_refuses_fewer_than_one(rule: Callable[[], StopRule], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        rule()


def test_runs_n_makes_exactly_n_runs_whatever_they_find() -> None:
    rec = Recording(StopRule(runs=3))
    modes, reports = drive(rec, [run(A), run(A), run(AB)])
    assert len(modes) == 3 and [r.run for r in reports] == [1, 2, 3]
    assert rec.profile is not None and rec.profile.runs == 3 and rec.profile.complete
    assert keys(rec.profile) == {("/bin/x", "start", "read"), ("/bin/x", "start", "write")}


def test_until_stable_counts_quiet_runs_in_a_row() -> None:
    # new, quiet, new, quiet, quiet: two in a row only after run 5
    rec = Recording(StopRule(until_stable=2))
    runs = [run(A), run(A), run(AB), run(AB), run(A), run(A)]
    _, reports = drive(rec, runs)
    assert [len(r.new) for r in reports] == [1, 0, 1, 0, 0]
    assert rec.runs == 5 and rec.quiet == 2


def test_until_stable_one_stops_after_the_first_quiet_run() -> None:
    rec = Recording(StopRule(until_stable=1))
    drive(rec, [run(A), run(AB), run(AB), run(AB)])
    assert rec.runs == 3


def test_a_first_run_the_baseline_covers_is_quiet() -> None:
    """The first run counts like any other: nothing new over the baseline is quiet."""
    rec = Recording(StopRule(until_stable=1), baseline=profile(AB))
    _, reports = drive(rec, [run(A), run(A)])
    assert len(reports) == 1 and reports[0].new == ()
    rec = Recording(StopRule(until_stable=2), baseline=profile(AB))
    drive(rec, [run(A), run(A), run(A)])
    assert rec.runs == 2


def test_until_stable_alone_runs_at_most_1000_times() -> None:
    rule = StopRule(until_stable=3)
    assert not rule.stops(UNTIL_STABLE_RUNS - 1, 2)
    assert rule.stops(UNTIL_STABLE_RUNS, 0)
    assert rule.stops(7, 3)


def test_runs_caps_until_stable() -> None:
    # never stable: --runs decides
    rec = Recording(StopRule(runs=3, until_stable=2))
    drive(rec, [run({"start": [f"c{k}"]}) for k in range(10)])
    assert rec.runs == 3
    # stable first: --until-stable decides
    rec = Recording(StopRule(runs=10, until_stable=2))
    drive(rec, [run(A)] * 10)
    assert rec.runs == 3


# --- interruption -----------------------------------------------------------------------------


def test_an_interrupted_run_ends_the_recording_and_is_merged() -> None:
    rec = Recording(StopRule(runs=5))
    _, reports = drive(rec, [run(A, status=0), run(AB, status=0, interrupted=15), run(A)])
    assert rec.runs == 2 and rec.done and rec.next_mode() is None
    assert reports[-1].interrupted == 15 and reports[-1].new == ("write",)
    assert rec.profile is not None and rec.profile.runs == 2 and not rec.profile.complete
    assert rec.status == 128 + 15
    rec.begin("next scenario")  # a later series does not start either
    assert rec.next_mode() is None
    with pytest.raises(ValueError, match="stopped"):
        rec.add(run(A))


def test_a_signal_between_runs_marks_the_profile_so_far_incomplete() -> None:
    rec = Recording(StopRule(runs=5))
    rec.add(run(A, status=3))
    rec.interrupt(2)
    assert rec.next_mode() is None and rec.status == 130
    assert rec.profile is not None and rec.profile.runs == 1 and not rec.profile.complete


def test_interrupted_before_any_run() -> None:
    rec = Recording()
    rec.interrupt(1)
    assert rec.profile is None and rec.status == 129
    with_baseline = Recording(baseline=profile(A))
    with_baseline.interrupt(1)
    assert with_baseline.profile is not None and not with_baseline.profile.complete


def test_status_is_the_last_runs() -> None:
    rec = Recording(StopRule(runs=2))
    drive(rec, [run(A, status=1), run(A, status=7)])
    assert rec.status == rec.exit_status == 7


# --- modes --------------------------------------------------------------------------------------


def test_default_modes_first_full_then_known_sets_of_the_profile_so_far() -> None:
    rec = Recording(StopRule(runs=3))
    modes, _ = drive(rec, [run(A), run(AB), run(A)])
    assert modes[0] == RunMode(Mode.FULL)
    assert [m.mode for m in modes[1:]] == [Mode.KNOWN, Mode.KNOWN]
    assert modes[1].baseline is not None and keys(modes[1].baseline) == keys(profile(A))
    assert modes[2].baseline is not None and keys(modes[2].baseline) == keys(profile(AB))


def test_sets_only_first_run() -> None:
    modes, _ = drive(Recording(StopRule(runs=2), Modes(Mode.SETS)), [run(A), run(A)])
    assert [m.mode for m in modes] == [Mode.SETS, Mode.KNOWN]


def test_full_records_every_run_in_full() -> None:
    modes, _ = drive(Recording(StopRule(runs=3), Modes.full()), [run(A)] * 3)
    assert modes == [RunMode(Mode.FULL)] * 3


def test_a_baseline_is_known_from_the_first_run_and_is_in_the_profile() -> None:
    base = profile(A)
    rec = Recording(StopRule(runs=2), Modes(Mode.SETS), baseline=base)
    modes, reports = drive(rec, [run(AB), run(AB)])
    assert modes[0] == RunMode(Mode.KNOWN, base)
    assert reports[0].new == ("write",)
    assert rec.profile is not None and rec.profile.runs == 3  # the baseline's run and two


def test_modes_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        Modes(Mode.KNOWN)
    with pytest.raises(ValueError):
        RunMode(Mode.KNOWN)
    with pytest.raises(ValueError):
        RunMode(Mode.FULL, profile(A))


# --- series (workload scenarios) --------------------------------------------------------------


def test_each_series_restarts_its_count_and_knows_the_earlier_ones() -> None:
    rec = Recording(StopRule(runs=5, until_stable=1), Modes(Mode.SETS))
    rec.begin("first")
    modes, reports = drive(rec, [run(A), run(A)])
    assert [m.mode for m in modes] == [Mode.SETS, Mode.KNOWN] and rec.runs == 2
    rec.begin("second")
    assert rec.runs == 0 and rec.quiet == 0
    modes, reports = drive(rec, [run(A)])  # covered by the first scenario: quiet at once
    assert modes[0].mode is Mode.KNOWN and len(reports) == 1
    assert reports[0].line() == "scenario second, run 1: 0 new syscalls"
    assert rec.profile is not None and rec.profile.runs == 3


# --- progress -----------------------------------------------------------------------------------


def test_progress_lines() -> None:
    assert RunReport(1, 3, ("read", "write")).line() == "run 1 of 3: 2 new syscalls (read, write)"
    assert RunReport(4, None, ()).line() == "run 4: 0 new syscalls"
    names = tuple(f"c{k}" for k in range(10))
    assert RunReport(2, None, names, "s").line() == (
        "scenario s, run 2: 10 new syscalls (c0, c1, c2, c3, c4, c5, c6, c7, ...)"
    )


def test_new_names_are_sorted_and_once_whatever_the_program_or_phase() -> None:
    rec = Recording(StopRule(runs=2))
    root = profile({"start": ["write", "read"], "serve": ["write", "openat"]}).processes[0]
    child = profile({"start": ["write"]}, "/bin/y").processes[0]
    child = ProcessNode(1, 0, NodeKind.FORK, *(getattr(child, f) for f in FIELDS))
    two = Profile(("x",), "x86_64", 1, True, (root, child))
    _, reports = drive(rec, [run({"start": ["read"]}), Run(two, 0)])
    assert reports[1].new == ("openat", "write")
    assert ("/bin/y", "start", "write") in keys(two)
