"""The rules of a Chrome trace-event file, as ``sysphase export --format perfetto`` writes it.

Pure. :func:`problems` lists what breaks them in a decoded trace (empty: it
follows them); the tests run it on every export, synthetic and recorded.
The rules are those of the trace-event format (JSON Object Format) that
Perfetto's JSON importer and chrome://tracing rely on, for the events this
exporter writes:

- the top level is an object whose keys Perfetto knows (an unknown key
  makes its importer skip the rest of the file): ``traceEvents`` (a list),
  ``displayTimeUnit`` (``"ms"`` or ``"ns"``), ``otherData`` (an object);
- every event is an object with a non-empty ``name`` and a ``ph`` of ``X``
  (complete: ``dur`` >= 0), ``i`` (instant: ``s`` of ``g``, ``p`` or
  ``t``) or ``M`` (metadata: ``process_name`` / ``thread_name`` with
  ``args.name``, ``process_sort_index`` / ``thread_sort_index`` with
  ``args.sort_index``); ``pid`` and ``tid`` are integers that fit 32 bits
  unsigned; every event but metadata has a finite ``ts`` >= 0 (in
  microseconds); ``cat`` is a string and ``args`` an object when present;
- on each (pid, tid) track, ``ts`` never decreases in file order, and
  complete events nest: one that begins inside another ends inside it
  (compared in whole nanoseconds, as Perfetto does).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["problems"]

_TOP = {"traceEvents", "displayTimeUnit", "otherData"}
_METADATA = {
    "process_name": "name",
    "thread_name": "name",
    "process_sort_index": "sort_index",
    "thread_sort_index": "sort_index",
}
_ID_LIMIT = 2**32


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _ident(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _ID_LIMIT


def _metadata_problems(e: Mapping[str, object]) -> list[str]:
    key = _METADATA.get(str(e.get("name")))
    if key is None:
        return [f"metadata {e.get('name')!r} is not one of {', '.join(sorted(_METADATA))}"]
    args = e.get("args")
    value = args.get(key) if isinstance(args, dict) else None
    if key == "name" and not (isinstance(value, str) and value):
        return ["metadata without args.name"]
    if key == "sort_index" and not (isinstance(value, int) and not isinstance(value, bool)):
        return ["metadata without an integer args.sort_index"]
    return []


def _event_problems(e: object) -> list[str]:
    """What breaks the rules in one event, alone."""
    if not isinstance(e, dict):
        return ["not an object"]
    out = []
    if not (isinstance(e.get("name"), str) and e["name"]):
        out.append("no name")
    ph = e.get("ph")
    if ph not in ("X", "i", "M"):
        return [*out, f"ph {ph!r} is not X, i or M"]
    out += [f"{k} is not an integer of 32 bits" for k in ("pid", "tid") if not _ident(e.get(k))]
    if "cat" in e and not isinstance(e["cat"], str):
        out.append("cat is not a string")
    if "args" in e and not isinstance(e["args"], dict):
        out.append("args is not an object")
    if ph == "M":
        return out + _metadata_problems(e)
    if not (_number(e.get("ts")) and e["ts"] >= 0):
        out.append("no ts >= 0")
    if ph == "X" and not (_number(e.get("dur")) and e["dur"] >= 0):
        out.append("a complete event without dur >= 0")
    if ph == "i" and e.get("s", "t") not in ("g", "p", "t"):
        out.append(f"instant scope {e.get('s')!r} is not g, p or t")
    return out


def _ns(us: object) -> int:
    assert isinstance(us, int | float)
    return round(us * 1000)


class _Tracks:
    """Per (pid, tid): the last ts and the ends of the complete events still open (ns)."""

    def __init__(self) -> None:
        self.last: dict[tuple[object, object], int] = {}
        self.open: dict[tuple[object, object], list[int]] = {}

    def add(self, e: Mapping[str, object]) -> list[str]:
        """What E breaks on its track: time going back, complete events that do not nest."""
        track = (e["pid"], e["tid"])
        ts = _ns(e["ts"])
        out = []
        if ts < self.last.get(track, ts):
            out.append(f"ts {e['ts']} goes back on track pid {track[0]} tid {track[1]}")
        self.last[track] = max(ts, self.last.get(track, ts))
        if e["ph"] != "X":
            return out
        stack = self.open.setdefault(track, [])
        while stack and stack[-1] <= ts:
            stack.pop()
        end = ts + _ns(e["dur"])
        if stack and end > stack[-1]:
            out.append(f"{e['name']!r} ends after the event it begins in (they overlap)")
        stack.append(end)
        return out


def problems(doc: object) -> list[str]:
    """Each broken rule, as ``traceEvents[i]: what`` (empty: the trace follows the rules)."""
    if not isinstance(doc, dict):
        return ["the trace is not a JSON object"]
    out = [f"unknown top-level key {k!r}" for k in sorted(set(doc) - _TOP)]
    if doc.get("displayTimeUnit", "ms") not in ("ms", "ns"):
        out.append("displayTimeUnit is not ms or ns")
    if not isinstance(doc.get("otherData", {}), dict):
        out.append("otherData is not an object")
    events = doc.get("traceEvents")
    if not isinstance(events, list):
        return [*out, "traceEvents is not a list"]
    tracks = _Tracks()
    for i, e in enumerate(events):
        found = _event_problems(e)
        if not found and isinstance(e, dict) and e["ph"] != "M" and e.get("s", "t") == "t":
            found = tracks.add(e)  # a thread's event (not a process's or global instant)
        out += [f"traceEvents[{i}]: {p}" for p in found]
    return out
