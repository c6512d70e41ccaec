"""How a profile's runs were recorded and how each call varied: sysphase.model.profile_runs."""

from __future__ import annotations

import dataclasses

import pytest

from sysphase.errors import ProfileInvalid
from sysphase.model import profile_codec
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Spread
from sysphase.model.profile_merge import merge, merge_all
from sysphase.model.profile_runs import partial, stamp, summary
from tests.unit.profile_samples import sample_profile


def _one_run():
    return dataclasses.replace(sample_profile(), runs=1)


def test_a_full_run_records_each_calls_count_per_program_and_phase():
    p = stamp(_one_run(), "full")
    assert p.recording == {"full": 1}
    sums: dict[tuple[str, str, str], int] = {}
    for node in p.processes:
        for phase in node.phases:
            for key, stat in phase.syscalls.items():
                k = (node.executable, phase.name, key)
                sums[k] = sums.get(k, 0) + stat.calls + stat.unfinished
    assert {(s.program, s.phase, s.syscall): s.min_calls for s in p.spread} == sums
    assert all(s.runs == 1 and s.min_calls == s.max_calls for s in p.spread)


def test_a_fast_run_says_its_mode_and_no_counts():
    p = stamp(_one_run(), "known")
    assert p.recording == {"known": 1} and p.spread == ()
    with pytest.raises(ValueError):
        stamp(dataclasses.replace(_one_run(), runs=2), "full")


def test_merging_adds_modes_and_folds_spreads_in_any_order():
    a, b = stamp(_one_run(), "full"), stamp(_one_run(), "full")
    exe, phase, key = a.spread[0].program, a.spread[0].phase, a.spread[0].syscall
    # b made that call 5 more times; a third, fast run made it too (not counted)
    b = dataclasses.replace(
        b,
        spread=tuple(
            dataclasses.replace(s, min_calls=s.min_calls + 5, max_calls=s.max_calls + 5)
            if (s.program, s.phase, s.syscall) == (exe, phase, key)
            else s
            for s in b.spread
        ),
    )
    c = stamp(_one_run(), "known")
    merged = merge_all([a, b, c])
    assert merged == merge_all([c, b, a]) == merge(merge(a, c), b)
    assert merged.recording == {"full": 2, "known": 1}
    (s,) = [s for s in merged.spread if (s.program, s.phase, s.syscall) == (exe, phase, key)]
    assert (s.runs, s.max_calls - s.min_calls) == (2, 5)
    assert summary(merged) == (
        "sets exact over 3 runs; counts exact from 2 runs; 1 run recorded known-set"
    )


def test_a_call_only_some_full_runs_made_is_listed():
    a, b = stamp(_one_run(), "full"), stamp(_one_run(), "full")
    dropped = a.spread[0]
    b = dataclasses.replace(b, spread=b.spread[1:])
    merged = merge(a, b)
    assert partial(merged, dropped.program, dropped.phase) == [(dropped.syscall, 1)]
    assert summary(merged) == "calls, errors and times exact over 2 runs"


def test_a_profile_that_does_not_say_is_unknown_and_so_is_a_merge_with_it():
    old = sample_profile()
    assert old.recording == {} and "not said" in summary(old)
    assert merge(old, stamp(_one_run(), "full")).recording == {}


def test_codec_round_trip_and_strict_checks():
    p = merge(stamp(_one_run(), "full"), stamp(_one_run(), "sets"))
    text = profile_codec.encode(p)
    assert profile_codec.decode(text, "p.json") == p
    assert '"recording": {\n    "full": 1,\n    "sets": 1\n  }' in text
    bad = dataclasses.replace(p, recording=FrozenMap({"full": 1}))
    with pytest.raises(
        ProfileInvalid, match=r"\$\.recording: its runs add up to 1, not runs \(2\)"
    ):
        profile_codec.decode(profile_codec.encode(bad), "p.json")
    worse = text.replace('"sets": 1', '"fast": 1')
    with pytest.raises(ProfileInvalid, match=r"\$\.recording\.fast: not a recording mode"):
        profile_codec.decode(worse, "p.json")
    s = p.spread[0]
    inverted = dataclasses.replace(p, spread=(Spread(s.program, s.phase, s.syscall, 1, 3, 2),))
    with pytest.raises(ProfileInvalid, match=r"spread\[0\]\.min_calls: 3 is more than max_calls"):
        profile_codec.decode(profile_codec.encode(inverted), "p.json")
