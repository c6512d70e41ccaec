"""`sysphase run`'s live report: each seccomp kill and violation as it happens.

The C core hands each kill and complain-mode violation to :class:`LiveReport`
right after the stop that shows it (csrc/violations.c): one line on stderr,
one JSON line in ``--events FILE`` (appended, flushed per event, so a log
shipper can follow it), and a count for the summary at exit. A service that
never exits still has every event reported while it runs.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import IO

from sysphase.errors import UsageError
from sysphase.model.violations import ViolationEvent
from sysphase.policy.ir import Policy
from sysphase.report import violation_lines
from sysphase.report.violation_lines import Reporter

__all__ = ["LiveReport"]


class LiveReport:
    """The sink of a run's violation events (tracer.Enforce.on_violation)."""

    def __init__(self, policy: Policy, started: str, events_path: str | None) -> None:
        self.reporter = Reporter(
            programs=frozenset(p.executable for p in policy.programs),
            build_ids=frozenset(p.build_id for p in policy.programs if p.build_id),
            root=started,
            clock_offset_ns=time.time_ns() - time.monotonic_ns(),
        )
        self.counts: Counter[violation_lines.Key] = Counter()
        self.events: IO[str] | None = None
        if events_path:
            try:  # appended, never truncated: a log that a shipper follows
                self.events = open(events_path, "a", encoding="utf-8")  # noqa: SIM115
            except OSError as err:
                raise UsageError(f"--events {events_path}: {err.strerror}") from err

    def __call__(self, batch: list[ViolationEvent]) -> None:
        for event in batch:
            self.counts[violation_lines.key(self.reporter, event)] += 1
            if self.events is not None:  # first: a line on stderr means the file has it too
                record = violation_lines.json_record(self.reporter, event)
                self.events.write(json.dumps(record) + "\n")
                self.events.flush()
            print(violation_lines.line(self.reporter, event), file=sys.stderr, flush=True)

    def finish(self) -> None:
        """The summary at exit; closes ``--events``."""
        for text in violation_lines.summary(self.counts):
            print(text, file=sys.stderr)
        if self.events is not None:
            self.events.close()
            self.events = None
