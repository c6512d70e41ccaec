"""Phase options of `record` and `trace`: NAME=syscall:X, NAME=symbol:F, NAME=addr:0xN.

Parsing only; resolving a symbol needs the executable's bytes (model.elf)
and the tracer turns the result into C-core triggers. :func:`trigger_problem`
checks the triggers profiles and policies store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sysphase.errors import UsageError
from sysphase.model import syscalls

KINDS = ("syscall", "symbol", "addr")


@dataclass(frozen=True, slots=True)
class PhaseTrigger:
    """One sequential trigger: entering phase `name` when `kind:value` happens."""

    name: str
    kind: str  # syscall | symbol | addr
    value: str
    #: the executable whose processes the trigger applies to; "" for every program
    program: str = ""
    #: that executable's GNU build-id (hex), so a copy or a link of it matches too; "" if none
    program_id: str = ""

    @property
    def spec(self) -> str:
        return f"{self.kind}:{self.value}"


def parse_trigger(text: str, arch: str = "x86_64") -> PhaseTrigger:
    """'serve=syscall:epoll_wait' -> PhaseTrigger; a UsageError names what is wrong."""
    name, eq, rest = text.partition("=")
    kind, colon, value = rest.partition(":")
    if not eq or not name or not colon or not value:
        raise UsageError(
            f"--phase {text!r}: expected NAME=syscall:NAME, NAME=symbol:FUNCTION "
            "or NAME=addr:0xOFFSET"
        )
    if name == "start" or not name.replace("-", "").replace("_", "").isalnum():
        raise UsageError(
            f"--phase {text!r}: phase name {name!r} must be letters, digits, - or _ and not 'start'"
        )
    if kind not in KINDS:
        raise UsageError(
            f"--phase {text!r}: unknown trigger kind {kind!r} (use syscall, symbol or addr)"
        )
    if kind == "syscall" and syscalls.number(arch, value) is None:
        raise UsageError(f"--phase {text!r}: unknown syscall {value!r} for {arch}")
    if kind == "addr":
        try:
            int(value, 0)
        except ValueError:
            raise UsageError(f"--phase {text!r}: {value!r} is not an address") from None
    return PhaseTrigger(name, kind, value)


def trigger_problem(trigger: str, arch: str) -> str | None:
    """What is wrong with a trigger a profile or a policy stores, or None.

    Those triggers are ``start``, ``exec``, ``inherited``, ``marker``,
    ``syscall:NAME``, ``symbol:FUNCTION``, ``addr:0xOFFSET``, ``signal:NAME``;
    a ``syscall:NAME`` one must name a syscall of ``arch`` (``syscall_0x1c3``
    for a number the tables have no name for), as ``--phase`` requires.
    """
    kind, colon, value = trigger.partition(":")
    if kind == "syscall" and colon and syscalls.number(arch, value) is None:
        return f"trigger {json.dumps(trigger)}: unknown syscall {json.dumps(value)} for {arch}"
    return None


def check_distinct(triggers: list[PhaseTrigger]) -> None:
    seen: set[str] = set()
    for t in triggers:
        if t.name in seen:
            raise UsageError(f"--phase: phase name {t.name!r} is used twice")
        seen.add(t.name)
