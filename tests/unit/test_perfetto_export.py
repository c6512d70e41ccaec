"""Timelines as Chrome trace-event JSON (report.perfetto), and its rules (trace_event_rules)."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from sysphase.model.profile import Profile
from sysphase.model.timeline import CallTimes, NodeTimes, PhaseBegan, Timeline
from sysphase.report import perfetto
from sysphase.report.trace_event_rules import problems
from tests.unit.profile_samples import PHASE_NAMES, profiles, sample_profile

# sample_profile: sh (node 0, start -> serve), its thread (1), a fork (2) that execs ls (3)
RUN_1 = Timeline(
    "full",
    (
        NodeTimes(
            0, 0, 90_000, (PhaseBegan("start", 500), PhaseBegan("serve", 40_000)),
            (CallTimes("start", "read", 1_000, 30_000),
             CallTimes("start", "openat", 2_000, 2_500),
             CallTimes("start", "brk", 3_000, 3_000),
             CallTimes("serve", "epoll_wait", 41_000, 80_000)),
        ),
        NodeTimes(1, 45_000, 85_000, (PhaseBegan("serve", 45_000),), ()),
        NodeTimes(2, 50_000, 60_000, (PhaseBegan("serve", 50_000),),
                  (CallTimes("serve", "execve", 59_000, 59_000),)),
        NodeTimes(3, 60_000, None, (PhaseBegan("ls", 60_000),),
                  (CallTimes("ls", "openat", 61_000, 95_123),)),
    ),
)  # fmt: skip
RUN_2 = Timeline("sets", (NodeTimes(0, 0, 7_000, (PhaseBegan("start", 0),), ()),))


def _profile(*timelines: Timeline) -> Profile:
    return dataclasses.replace(sample_profile(), runs=len(timelines), timelines=timelines)


def _doc(*timelines: Timeline) -> dict:
    doc = perfetto.trace(_profile(*timelines))
    assert problems(doc) == []
    # what is written is what was built, and plain JSON (no NaN, no lone surrogate)
    text = perfetto.encode(doc)
    assert json.loads(text) == doc
    text.encode("utf-8")
    return doc


def _events(doc: dict, ph: str, cat: str | None = None) -> list[dict]:
    return [e for e in doc["traceEvents"] if e["ph"] == ph and cat in (None, e.get("cat"))]


def _ns(us: float) -> int:
    return round(us * 1000)


def test_the_object_format_with_its_top_level_keys_in_perfettos_order():
    doc = _doc(RUN_1)
    # displayTimeUnit first: Perfetto's importer reads it only in the file's first chunk
    assert list(doc) == ["displayTimeUnit", "otherData", "traceEvents"]
    assert doc["displayTimeUnit"] == "ns"
    assert doc["otherData"]["command"] == "sh -c ls /" and doc["otherData"]["modes"] == "full"
    assert perfetto.encode(doc).startswith('{"displayTimeUnit": "ns"')


def test_every_event_has_the_fields_of_its_phase():
    doc = _doc(RUN_1, RUN_2)
    for e in doc["traceEvents"]:
        assert isinstance(e["name"], str) and e["name"]
        assert isinstance(e["pid"], int) and isinstance(e["tid"], int)
        if e["ph"] == "M":
            assert "ts" not in e and e["name"] in {
                "process_name", "thread_name", "process_sort_index", "thread_sort_index"
            }  # fmt: skip
            assert e["args"].get("name") or isinstance(e["args"].get("sort_index"), int)
            continue
        assert e["ts"] >= 0 and isinstance(e["cat"], str) and isinstance(e["args"], dict)
        if e["ph"] == "X":
            assert e["dur"] >= 0
        else:
            assert (e["ph"], e["s"]) == ("i", "t")
    assert {e["ph"] for e in doc["traceEvents"]} == {"M", "X", "i"}


def test_time_never_goes_back_on_a_track_and_metadata_comes_first():
    doc = _doc(RUN_1, RUN_2)
    phases = [e["ph"] for e in doc["traceEvents"]]
    assert phases == sorted(phases, key=lambda ph: ph != "M")
    last: dict[tuple[int, int], float] = {}
    for e in doc["traceEvents"]:
        if e["ph"] != "M":
            track = (e["pid"], e["tid"])
            assert e["ts"] >= last.get(track, 0)
            last[track] = e["ts"]


def test_processes_group_a_task_s_threads_and_images_and_runs_stay_apart():
    doc = _doc(RUN_1, RUN_2)
    step = perfetto.stride(_profile(RUN_1, RUN_2))
    names = {
        (e["pid"], e["tid"]): e["args"]["name"]
        for e in _events(doc, "M")
        if e["name"] == "process_name"
    }
    # run 1: sh and its thread in one process; the fork and its exec'd ls in another
    assert names == {
        (step, step): "run 1 (full): sh",
        (step + 2, step + 2): "run 1 (full): sh → ls",
        (2 * step, 2 * step): "run 2 (sets): sh",
    }
    life = {e["tid"]: e["pid"] for e in _events(doc, "X", "process")}
    assert life == {step: step, step + 1: step, step + 2: step + 2, step + 3: step + 2,
                    2 * step: 2 * step}  # fmt: skip
    assert perfetto.process_roots(sample_profile().processes) == [0, 0, 2, 2]


def test_phases_nest_inside_their_node_and_switch_with_an_instant():
    doc = _doc(RUN_1)
    lives = {e["tid"]: e for e in _events(doc, "X", "process")}
    for ph in _events(doc, "X", "phase"):
        life = lives[ph["tid"]]
        assert _ns(life["ts"]) <= _ns(ph["ts"])
        assert _ns(ph["ts"]) + _ns(ph["dur"]) <= _ns(life["ts"]) + _ns(life["dur"])
    step = perfetto.stride(_profile(RUN_1))
    sh = [(e["name"], _ns(e["ts"]), _ns(e["dur"])) for e in _events(doc, "X", "phase")
          if e["tid"] == step]  # fmt: skip
    assert sh == [("start", 500, 39_500), ("serve", 40_000, 50_000)]
    (switch,) = [e for e in _events(doc, "i", "phase")]
    assert (switch["name"], switch["args"]["from"], switch["args"]["trigger"]) == (
        "phase serve", "start", "syscall:epoll_wait"
    )  # fmt: skip
    created = sorted(e["name"] for e in _events(doc, "i", "process"))
    assert created == ["exec ls", "fork sh", "spawn sh", "thread sh"]


def test_a_node_whose_end_was_not_seen_ends_with_the_run():
    doc = _doc(RUN_1)
    (ls,) = [e for e in _events(doc, "X", "process") if e["name"] == "ls"]
    assert (_ns(ls["ts"]), _ns(ls["ts"]) + _ns(ls["dur"])) == (60_000, 95_123)
    assert ls["args"]["end"].startswith("not seen")
    assert ls["args"]["parent"] == "sh (node 2)" and ls["args"]["created"] == "exec"


def test_call_spans_never_overlap_on_a_track():
    doc = _doc(RUN_1)
    step = perfetto.stride(_profile(RUN_1))
    by_track: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
    for e in _events(doc, "X", "syscalls"):
        by_track[e["tid"]].append((e["name"], _ns(e["ts"]), _ns(e["ts"]) + _ns(e["dur"])))
        assert e["pid"] in (step, step + 2) and e["tid"] >= step + 4  # tracks of their own
    # sh: read [1000, 30000] holds openat and brk in time: they go to a second track
    assert sorted(by_track.values()) == [
        [("execve", 59_000, 59_000)],
        [("openat", 2_000, 2_500), ("brk", 3_000, 3_000)],
        [("openat", 61_000, 95_123)],
        [("read", 1_000, 30_000), ("epoll_wait", 41_000, 80_000)],
    ]
    lanes = {
        e["args"]["name"] for e in _events(doc, "M") if "syscalls" in e["args"].get("name", "")
    }
    assert lanes == {"sh (node 0): syscalls 1", "sh (node 0): syscalls 2",
                     "sh (node 2): syscalls", "ls (node 3): syscalls"}  # fmt: skip


def test_names_from_the_program_are_escaped():
    prof = _profile(RUN_2)
    node = dataclasses.replace(prof.processes[0], executable="/tmp/caf\udce9\x1b[2J")
    prof = dataclasses.replace(prof, processes=(node, *prof.processes[1:]))
    doc = perfetto.trace(prof)
    assert problems(doc) == []
    names = {e["name"] for e in _events(doc, "X", "process")}
    assert names == {"caf\\xe9\\x1b[2J"}
    perfetto.encode(doc).encode("utf-8")


# --- the rules' checker finds what breaks them -----------------------------------------------


def _one(**event: object) -> dict:
    base = {"name": "a", "ph": "X", "ts": 0, "dur": 1, "pid": 1, "tid": 1}
    return {"traceEvents": [{**base, **event}]}


def test_the_checker_finds_each_broken_rule():
    assert problems([]) == ["the trace is not a JSON object"]
    assert problems({"traceEvents": [], "stackFrames": {}}) == [
        "unknown top-level key 'stackFrames'"
    ]
    assert problems({"traceEvents": [], "displayTimeUnit": "us"}) == [
        "displayTimeUnit is not ms or ns"
    ]
    assert problems({"traceEvents": {}}) == ["traceEvents is not a list"]
    assert problems(_one(dur=-1)) == ["traceEvents[0]: a complete event without dur >= 0"]
    assert problems(_one(ts=None)) == ["traceEvents[0]: no ts >= 0"]
    assert problems(_one(name="")) == ["traceEvents[0]: no name"]
    assert problems(_one(pid="1", tid=2**32)) == [
        "traceEvents[0]: pid is not an integer of 32 bits",
        "traceEvents[0]: tid is not an integer of 32 bits",
    ]
    assert problems(_one(ph="B")) == ["traceEvents[0]: ph 'B' is not X, i or M"]
    assert problems(_one(ph="i", s="x")) == ["traceEvents[0]: instant scope 'x' is not g, p or t"]
    assert problems(_one(ph="M", name="thread_name", args={})) == [
        "traceEvents[0]: metadata without args.name"
    ]


def test_the_checker_finds_time_going_back_and_events_that_overlap():
    a = {"name": "a", "ph": "X", "ts": 0, "dur": 10, "pid": 1, "tid": 1}
    inside = {**a, "name": "b", "ts": 2, "dur": 8}
    after = {**a, "name": "c", "ts": 10, "dur": 5}  # begins where a ends: no overlap
    assert problems({"traceEvents": [a, inside, after]}) == []
    across = {**a, "name": "d", "ts": 5, "dur": 6}
    assert problems({"traceEvents": [a, across]}) == [
        "traceEvents[1]: 'd' ends after the event it begins in (they overlap)"
    ]
    assert problems({"traceEvents": [a, {**across, "tid": 2}]}) == []  # another track
    back = {**a, "ts": 0.5, "dur": 0}
    assert problems({"traceEvents": [after, back]}) == [
        "traceEvents[1]: ts 0.5 goes back on track pid 1 tid 1"
    ]


# --- any profile's timelines make a trace that follows the rules -------------------------------


@st.composite
def _timelines(draw: st.DrawFn, nodes: int) -> Timeline:
    times = st.integers(0, 10**12)
    items = []
    for node in draw(st.lists(st.integers(0, nodes - 1), max_size=6)):
        calls = []
        for _ in range(draw(st.integers(0, 4))):
            first = draw(times)
            last = draw(st.sampled_from([first, first + 1]) | st.integers(first, 10**12))
            calls.append(CallTimes(draw(st.sampled_from(PHASE_NAMES)),
                                   draw(st.sampled_from(["read", "write", "i386:open"])),
                                   first, last))  # fmt: skip
        phases = [PhaseBegan(draw(st.sampled_from(PHASE_NAMES)), draw(times))
                  for _ in range(draw(st.integers(0, 3)))]  # fmt: skip
        start = draw(times)
        items.append(NodeTimes(node, start, draw(st.none() | times), tuple(phases), tuple(calls)))
    return Timeline(draw(st.sampled_from(["full", "sets", "known"])), tuple(items))


@st.composite
def _with_timelines(draw: st.DrawFn) -> Profile:
    prof = draw(profiles(max_nodes=5).filter(lambda p: len(p.processes) > 0))
    timelines = draw(st.lists(_timelines(len(prof.processes)), min_size=1, max_size=3))
    return dataclasses.replace(prof, timelines=tuple(timelines))


@settings(max_examples=200, deadline=None)
@given(_with_timelines())
def test_any_profile_s_timelines_follow_the_rules(prof):
    doc = perfetto.trace(prof)
    assert problems(doc) == []
    assert json.loads(perfetto.encode(doc)) == doc
