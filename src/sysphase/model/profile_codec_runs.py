"""The run-level parts of a `sysphase-profile/1` file: recording, first_seen, spread, timelines.

What a recording says about its runs rather than about the processes: how
each run was recorded (``recording``), where a workload first made each call
(``first_seen``), how each call varied over the full runs (``spread``) and
each run's timeline (``timelines``). Their fields, their JSON encoding and
their strict decoding, used by :mod:`sysphase.model.profile_codec` (which
adds the syscall-key check every part shares). docs/formats/profile.md
describes them. Pure.
"""

from __future__ import annotations

from typing import Final

from sysphase.model import strict_json
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import RECORDING_MODES, FirstSeen, Spread
from sysphase.model.strict_json import Fields
from sysphase.model.timeline import CallTimes, NodeTimes, PhaseBegan, Timeline

__all__ = [
    "FIRST_SEEN",
    "NODE_TIMES",
    "SPREAD",
    "TIMELINE",
    "RunPartsDecoder",
    "first_seen_dict",
    "spread_dict",
    "timeline_dict",
]

FIRST_SEEN: Final = Fields(("program", "phase", "syscall", "scenario", "step", "order"), ())
SPREAD: Final = Fields(("program", "phase", "syscall", "runs", "min_calls", "max_calls"), ())
TIMELINE: Final = Fields(("mode", "nodes"), ())
NODE_TIMES: Final = Fields(("node", "start_ns", "end_ns", "phases", "calls"), ())


def timeline_dict(t: Timeline) -> dict[str, object]:
    return {
        "mode": t.mode,
        "nodes": [
            {
                "node": n.node,
                "start_ns": n.start_ns,
                "end_ns": n.end_ns,
                "phases": [[p.name, p.began_ns] for p in n.phases],
                "calls": [[c.phase, c.syscall, c.first_ns, c.last_ns] for c in n.calls],
            }
            for n in t.nodes
        ],
    }


def spread_dict(x: Spread) -> dict[str, object]:
    return {
        "program": x.program,
        "phase": x.phase,
        "syscall": x.syscall,
        "runs": x.runs,
        "min_calls": x.min_calls,
        "max_calls": x.max_calls,
    }


def first_seen_dict(f: FirstSeen) -> dict[str, object]:
    return {
        "program": f.program,
        "phase": f.phase,
        "syscall": f.syscall,
        "scenario": f.scenario,
        "step": f.step,
        "order": list(f.order),
    }


class RunPartsDecoder(strict_json.Decoder):
    """The decoding of the run-level parts; ``key`` checks a syscall key (the profile's)."""

    def key(self, key: str, path: str) -> str:
        raise NotImplementedError

    def timeline(self, value: object, path: str, nodes: int) -> Timeline:
        fields = self.obj(value, path, *TIMELINE)
        mode = self.string(fields["mode"], f"{path}.mode")
        if mode not in RECORDING_MODES:
            self.fail(f"{path}.mode", f"not a recording mode ({', '.join(RECORDING_MODES)})")
        items = self.array(fields["nodes"], f"{path}.nodes")
        return Timeline(
            mode,
            tuple(self.node_times(v, f"{path}.nodes[{i}]", nodes) for i, v in enumerate(items)),
        )

    def node_times(self, value: object, path: str, nodes: int) -> NodeTimes:
        fields = self.obj(value, path, *NODE_TIMES)
        node = self.integer(fields["node"], f"{path}.node", minimum=0)
        if node >= nodes:
            self.fail(f"{path}.node", f"{node} is not the id of one of the {nodes} processes")
        start = self.integer(fields["start_ns"], f"{path}.start_ns", minimum=0)
        end = fields["end_ns"]
        end_ns = None if end is None else self.integer(end, f"{path}.end_ns", minimum=0)
        phases = []
        for i, item in enumerate(self.array(fields["phases"], f"{path}.phases")):
            where = f"{path}.phases[{i}]"
            pair = self.array(item, where)
            if len(pair) != 2:
                self.fail(where, "expected [phase name, began_ns]")
            phases.append(
                PhaseBegan(
                    self.string(pair[0], f"{where}[0]"),
                    self.integer(pair[1], f"{where}[1]", minimum=0),
                )
            )
        calls = []
        for i, item in enumerate(self.array(fields["calls"], f"{path}.calls")):
            where = f"{path}.calls[{i}]"
            quad = self.array(item, where)
            if len(quad) != 4:
                self.fail(where, "expected [phase, syscall, first_ns, last_ns]")
            first = self.integer(quad[2], f"{where}[2]", minimum=0)
            last = self.integer(quad[3], f"{where}[3]", minimum=0)
            if last < first:
                self.fail(f"{where}[3]", f"{last} is before first_ns ({first})")
            calls.append(
                CallTimes(
                    self.string(quad[0], f"{where}[0]"),
                    self.key(self.string(quad[1], f"{where}[1]"), f"{where}[1]"),
                    first,
                    last,
                )
            )
        return NodeTimes(node, start, end_ns, tuple(phases), tuple(calls))

    def recording(self, value: object, runs: int) -> FrozenMap[int]:
        data = self.map(value, "$.recording")
        out: dict[str, int] = {}
        for mode, n in data.items():
            if mode not in RECORDING_MODES:
                self.fail(
                    f"$.recording.{mode}", f"not a recording mode ({', '.join(RECORDING_MODES)})"
                )
            out[mode] = self.integer(n, f"$.recording.{mode}", minimum=1)
        if out and sum(out.values()) != runs:
            self.fail("$.recording", f"its runs add up to {sum(out.values())}, not runs ({runs})")
        return FrozenMap(out)

    def spread(self, value: object, path: str, runs: int) -> Spread:
        fields = self.obj(value, path, *SPREAD)
        seen = self.integer(fields["runs"], f"{path}.runs", minimum=1)
        if seen > runs:
            self.fail(f"{path}.runs", f"{seen} is more than the profile's runs ({runs})")
        low = self.integer(fields["min_calls"], f"{path}.min_calls", minimum=0)
        high = self.integer(fields["max_calls"], f"{path}.max_calls", minimum=0)
        if low > high:
            self.fail(f"{path}.min_calls", f"{low} is more than max_calls ({high})")
        return Spread(
            self.string(fields["program"], f"{path}.program"),
            self.string(fields["phase"], f"{path}.phase"),
            self.key(self.string(fields["syscall"], f"{path}.syscall"), f"{path}.syscall"),
            seen,
            low,
            high,
        )

    def first_seen(self, value: object, path: str) -> FirstSeen:
        fields = self.obj(value, path, *FIRST_SEEN)
        order = self.array(fields["order"], f"{path}.order")
        if len(order) != 2:
            self.fail(f"{path}.order", "expected [scenario position, step position]")
        where = tuple(self.integer(v, f"{path}.order[{i}]", minimum=0) for i, v in enumerate(order))
        return FirstSeen(
            (where[0], where[1]),
            self.string(fields["program"], f"{path}.program"),
            self.string(fields["phase"], f"{path}.phase"),
            self.key(self.string(fields["syscall"], f"{path}.syscall"), f"{path}.syscall"),
            self.string(fields["scenario"], f"{path}.scenario"),
            self.string(fields["step"], f"{path}.step"),
        )
