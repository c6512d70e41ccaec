"""`sysphase policy`'s use of the coverage analysis: ``--allow-reachable``, ``--explain``'s marks.

Both read the profile's programs and their libraries through one
:class:`~sysphase._host.program_code.ProgramCode` (a library read once
serves both), and only when asked: the analysis takes seconds.

- ``--allow-reachable FUNCTION[,...][@PROGRAM[:PHASE]]``: for each program
  the spec names, the calls FUNCTION reaches there
  (:func:`sysphase.coverage.program.function_calls`), as an allow spec
  (:func:`sysphase.policy.manual_calls.parse_reachable`). A function the
  program neither imports nor finds in a library it needs is one sentence;
  a program that cannot be read too.
- ``--explain``: the marks of :mod:`sysphase.coverage.marks`; a program that
  is missing or not ELF, or a profile of another architecture, leaves its
  reach unknown, said once per program, and never fails the command.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sysphase._host.program_code import ProgramCode, executables, unsupported
from sysphase.coverage.marks import LEGEND, CallMarks, call_marks
from sysphase.coverage.program import function_calls
from sysphase.errors import UsageError
from sysphase.model.profile import Profile
from sysphase.policy.manual_calls import ManualSpec, parse_reachable, targets

__all__ = ["PolicyReach"]


class PolicyReach:
    """A profile's programs, analysed on demand, for ``--allow-reachable`` and ``--explain``."""

    def __init__(self, profile: Profile, name: str) -> None:
        self._profile = profile
        self._name = name
        self._code = ProgramCode(name)

    def specs(self, texts: Sequence[str]) -> list[ManualSpec]:
        """The ``--allow-reachable`` specs with their calls per program filled in."""
        specs = [spec for text in texts for spec in parse_reachable(text)]
        if not specs:
            return []
        refused = unsupported(self._profile, self._name)
        if refused:
            raise UsageError(f"--allow-reachable: {refused}")
        programs = executables(self._profile)
        return [
            dataclasses.replace(spec, reached=self._reached(spec, targets(spec, programs)))
            for spec in specs
        ]

    def _reached(self, spec: ManualSpec, programs: Sequence[str]) -> dict[str, tuple[str, ...]]:
        reached: dict[str, tuple[str, ...]] = {}
        for exe in programs:
            calls = function_calls(self._code.load(exe).linker, spec.function or "")
            if calls is None:
                raise UsageError(
                    f"{spec.option}: {exe} does not import {spec.function}, and no library "
                    "it needs exports it"
                )
            reached[exe] = tuple(sorted(calls))
        return reached

    def marks(self) -> tuple[CallMarks, str, dict[str, str]]:
        """``--explain``'s marker, its legend, and per program whose reach is unknown why."""
        reaches, reasons = self._code.reaches_or_reasons(self._profile)
        return call_marks(self._profile, reaches), LEGEND, reasons
