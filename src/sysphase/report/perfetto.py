"""A profile's timelines as Chrome trace-event JSON, for ui.perfetto.dev and chrome://tracing.

Pure: ``sysphase export --format perfetto`` (cli/export_cmd.py) writes what
:func:`trace` builds, through :func:`encode` (the JSON Object Format:
``{"displayTimeUnit": "ns", "otherData": {...}, "traceEvents": [...]}``,
one event per line). :mod:`sysphase.report.trace_event_rules` checks the
rules such a trace must follow.

The mapping (times in microseconds from each run's start, fractional):

- each run's timeline is a set of processes of its own, so runs never mix:
  run ``r`` (1-based, in the profile's order) numbers its tracks from
  ``r * stride`` (stride: one million, or the next power of ten that holds
  a run's tracks); all runs start at 0, one above the other;
- a process is a profile node and the threads and exec'd images of its
  task (a ``thread`` or ``exec`` node joins its parent's process): pid =
  ``r * stride`` + the id of its first node, named
  ``run 1 (full): sh → ls`` (the run, its recording mode, its images);
- each node (process, thread or program image) is a thread track, tid =
  ``r * stride`` + the node's id (the first node's tid is its pid, as a
  main thread's): a complete event (``X``, category ``process``) for its
  life named after the program, holding one for each phase (category
  ``phase``: from its entry to the next one's, or the node's end), an
  instant (``i``) where it began (``fork sh``, ``thread sh``, ``exec ls``)
  and one at each phase switch (``phase serve``). A node whose end was not
  seen (the recording stopped first) ends at the run's last known time;
- its calls, the first and latest of each (phase, syscall), are complete
  events from first to last (category ``syscalls``, named after the
  syscall) on tracks of their own after the node's (``ls (node 3):
  syscalls``, ``syscalls 2``, ...): a viewer nests complete events of one
  track only when they nest, so the spans are laid out greedily in as few
  tracks as never overlap. A set-only run's spans last 0 (first = last); a
  known-set run has only the calls its baseline did not know; an eBPF run
  has node lifetimes only;
- metadata events (``M``) name the processes and tracks and give their
  order (``process_sort_index``, ``thread_sort_index``).

Names and arguments from the profile (paths, argv, phase names) pass
through :func:`~sysphase.report.escape.terminal_safe`: control characters
and undecodable bytes come out escaped.

Events are sorted by time (at one time, longer complete events first, then
instants), so every track's ``ts`` never decreases and enclosing events
come before the events they hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sysphase.model.profile import ProcessNode, Profile
from sysphase.model.timeline import CallTimes, NodeTimes, Timeline
from sysphase.model.tree import NodeKind
from sysphase.report.escape import terminal_safe as _text

__all__ = ["FORMATS", "encode", "process_roots", "stride", "trace"]

#: the formats ``sysphase export`` writes
FORMATS = ("perfetto",)

#: a trace event, as JSON
Event = dict[str, object]

_SAME_TASK = (NodeKind.THREAD, NodeKind.EXEC)


def _us(ns: int) -> int | float:
    """Nanoseconds as the format's microseconds (an int when whole)."""
    return ns // 1000 if ns % 1000 == 0 else ns / 1000


def stride(profile: Profile) -> int:
    """The distance between two runs' pids and tids: more than a run's tracks, at least 10**6."""
    calls = max((sum(len(n.calls) for n in t.nodes) for t in profile.timelines), default=0)
    tracks = len(profile.processes) + calls
    out = 1_000_000
    while out <= tracks:
        out *= 10
    return out


def process_roots(processes: Sequence[ProcessNode]) -> list[int]:
    """Per node, the id of the first node of its process (threads and execs join their parent)."""
    roots: list[int] = []
    for p in processes:
        joins = p.created in _SAME_TASK and p.parent is not None and 0 <= p.parent < len(roots)
        roots.append(roots[p.parent] if joins and p.parent is not None else p.id)
    return roots


def _program(processes: Sequence[ProcessNode], node: int) -> str:
    """The node's program: the executable's base name (``?`` when unknown)."""
    if node >= len(processes):
        return "?"
    exe = processes[node].executable
    return _text(exe.rsplit("/", 1)[-1] or exe or "?")


def _run_end(timeline: Timeline) -> int:
    """The run's last known time: what a node whose end was not seen ends at."""
    times = [0]
    for n in timeline.nodes:
        times += [n.start_ns, n.end_ns or 0]
        times += [p.began_ns for p in n.phases]
        times += [c.last_ns for c in n.calls]
    return max(times)


def lanes(calls: Sequence[CallTimes]) -> list[list[CallTimes]]:
    """The call spans laid out greedily in tracks where none overlaps (nor touches) another."""
    out: list[list[CallTimes]] = []
    ends: list[int] = []
    for c in sorted(calls, key=lambda c: (c.first_ns, -c.last_ns, c.phase, c.syscall)):
        last = max(c.last_ns, c.first_ns)
        for i, end in enumerate(ends):
            if end < c.first_ns:
                out[i].append(c)
                ends[i] = last
                break
        else:
            out.append([c])
            ends.append(last)
    return out


@dataclass
class _Trace:
    """The events so far: metadata first, then timed events with their sort keys."""

    meta: list[Event] = field(default_factory=list)
    timed: list[tuple[tuple[int, int, int, int], Event]] = field(default_factory=list)
    #: the next thread track's place: a node's call tracks follow it
    order: int = 0

    def name(self, kind: str, track: tuple[int, int], name: str) -> None:
        """Name a process (``process``: in pid order) or thread track (in the order named)."""
        pid, tid = track
        if kind == "thread":
            self.order += 1
        where = pid if kind == "process" else self.order
        base = {"ph": "M", "pid": pid, "tid": tid}
        self.meta.append({"name": f"{kind}_name", **base, "args": {"name": name}})
        self.meta.append({"name": f"{kind}_sort_index", **base, "args": {"sort_index": where}})

    def span(self, name: str, cat: str, track: tuple[int, int], begin: int, end: int,
             args: Mapping[str, object]) -> None:  # fmt: skip
        """A complete event from BEGIN to END (ns)."""
        pid, tid = track
        dur = max(end - begin, 0)
        event: Event = {"name": name, "cat": cat, "ph": "X", "ts": _us(begin), "dur": _us(dur),
                        "pid": pid, "tid": tid, "args": dict(args)}  # fmt: skip
        self.timed.append(((begin, 0, -dur, len(self.timed)), event))

    def instant(self, name: str, cat: str, track: tuple[int, int], at: int,
                args: Mapping[str, object]) -> None:  # fmt: skip
        """An instant event of the thread TRACK at AT (ns)."""
        pid, tid = track
        event: Event = {"name": name, "cat": cat, "ph": "i", "s": "t", "ts": _us(at),
                        "pid": pid, "tid": tid, "args": dict(args)}  # fmt: skip
        self.timed.append(((at, 1, 0, len(self.timed)), event))

    def events(self) -> list[Event]:
        return self.meta + [e for _, e in sorted(self.timed, key=lambda k: k[0])]


@dataclass(frozen=True)
class _Run:
    """One run being converted: the profile, its number, its timeline and track numbers."""

    profile: Profile
    number: int
    timeline: Timeline
    base: int
    end: int
    roots: Sequence[int]

    def label(self, node: int) -> str:
        return f"{_program(self.profile.processes, node)} (node {node})"

    def process(self, node: int) -> ProcessNode | None:
        return self.profile.processes[node] if node < len(self.profile.processes) else None


def trace(profile: Profile, other: Mapping[str, object] | None = None) -> dict[str, object]:
    """The profile's timelines as a trace (see the module); OTHER joins ``otherData``."""
    out = _Trace()
    step = stride(profile)
    roots = process_roots(profile.processes)
    for number, timeline in enumerate(profile.timelines, start=1):
        run = _Run(profile, number, timeline, number * step, _run_end(timeline), roots)
        _add_run(out, run)
    data: dict[str, object] = {
        "format": "sysphase-perfetto/1",
        "command": _text(" ".join(profile.command)),
        "arch": profile.arch,
        "runs": profile.runs,
        "timelines": len(profile.timelines),
        "modes": " ".join(t.mode for t in profile.timelines),
        "times": "microseconds from each run's start; each run's processes are its own",
        **(other or {}),
    }
    return {"displayTimeUnit": "ns", "otherData": data, "traceEvents": out.events()}


def _add_run(out: _Trace, run: _Run) -> None:
    """The processes, node tracks and call tracks of one run."""
    groups: dict[int, list[NodeTimes]] = {}
    seen: set[int] = set()
    for n in run.timeline.nodes:
        if n.node not in seen:  # a node twice in one run (a hand-made file): its first
            seen.add(n.node)
            root = run.roots[n.node] if n.node < len(run.roots) else n.node
            groups.setdefault(root, []).append(n)
    next_lane = run.base + len(run.profile.processes)
    for root, members in sorted(groups.items()):
        pid = run.base + root
        images = [
            _program(run.profile.processes, n.node) for n in members if not _is_thread(run, n)
        ]
        shown = [x for i, x in enumerate(images) if i == 0 or images[i - 1] != x]
        name = f"run {run.number} ({run.timeline.mode}): {' → '.join(shown) or '?'}"
        out.name("process", (pid, pid), name)
        for n in members:
            track = (pid, run.base + n.node)
            out.name("thread", track, _thread_label(run, n.node))
            _add_node(out, run, track, n)
            next_lane += _add_calls(out, run, (pid, next_lane), n)


def _add_calls(out: _Trace, run: _Run, first: tuple[int, int], n: NodeTimes) -> int:
    """A node's call spans on tracks from FIRST on; how many tracks they took."""
    pid, tid = first
    node_lanes = lanes(n.calls)
    for k, lane in enumerate(node_lanes):
        suffix = f" {k + 1}" if len(node_lanes) > 1 else ""
        out.name("thread", (pid, tid + k), f"{run.label(n.node)}: syscalls{suffix}")
        for c in lane:
            args = {"phase": _text(c.phase), "first_ns": c.first_ns, "last_ns": c.last_ns}
            last = max(c.last_ns, c.first_ns)
            out.span(_text(c.syscall), "syscalls", (pid, tid + k), c.first_ns, last, args)
    return len(node_lanes)


def _is_thread(run: _Run, n: NodeTimes) -> bool:
    p = run.process(n.node)
    return p is not None and p.created is NodeKind.THREAD


def _thread_label(run: _Run, node: int) -> str:
    p = run.process(node)
    kind = f", {p.created.value}" if p is not None else ""
    return f"{_program(run.profile.processes, node)} (node {node}{kind})"


def _add_node(out: _Trace, run: _Run, track: tuple[int, int], n: NodeTimes) -> None:
    """A node's life, its creation, and its phases with their switches."""
    p = run.process(n.node)
    end = max(n.end_ns if n.end_ns is not None else run.end, n.start_ns)
    args: dict[str, object] = {"node": n.node}
    if p is not None:
        args |= {
            "created": p.created.value,
            "executable": _text(p.executable),
            "argv": _text(" ".join(p.argv)),
            "exit": _text(p.exit) if p.exit is not None else "unknown",
        }
        if p.parent is not None:
            args["parent"] = run.label(p.parent)
    if n.end_ns is None:
        args["end"] = "not seen: the recording stopped first"
    program = _program(run.profile.processes, n.node)
    out.span(program, "process", track, n.start_ns, end, args)
    kind = p.created.value if p is not None else "start"
    began = {"node": n.node, **({"parent": args["parent"]} if "parent" in args else {})}
    out.instant(f"{kind} {program}", "process", track, n.start_ns, began)
    triggers = {ph.name: ph.trigger for ph in (p.phases if p is not None else ())}
    # entries in order (a hand-made file's out of order ones moved up), within the node's life
    begins = [n.start_ns]
    for entry in n.phases:
        begins.append(min(max(entry.began_ns, begins[-1]), end))
    begins.append(end)
    for i, entry in enumerate(n.phases):
        begin, until = begins[i + 1], begins[i + 2]
        name = _text(entry.name)
        phase_args = {"phase": name, "trigger": _text(triggers.get(entry.name, "unknown"))}
        out.span(name, "phase", track, begin, until, phase_args)
        if i:
            switch = {"from": _text(n.phases[i - 1].name), **phase_args}
            out.instant(f"phase {name}", "phase", track, begin, switch)


def encode(doc: Mapping[str, object]) -> str:
    """The trace as JSON text: its other keys first, then one event per line."""
    head = ", ".join(
        f"{json.dumps(k)}: {json.dumps(v, allow_nan=False)}"
        for k, v in doc.items()
        if k != "traceEvents"
    )
    events = doc.get("traceEvents", [])
    assert isinstance(events, list)
    body = ",\n".join(json.dumps(e, allow_nan=False) for e in events)
    return "{" + head + (", " if head else "") + '"traceEvents": [\n' + body + "\n]}\n"
