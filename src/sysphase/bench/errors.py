"""The benchmark's one error: a workload that could not be built or run."""

from __future__ import annotations

from sysphase.errors import SysphaseError

__all__ = ["BenchError"]


class BenchError(SysphaseError):
    """A workload could not be built or run; str() is one sentence naming it."""
