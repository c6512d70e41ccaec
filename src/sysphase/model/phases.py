"""Phase options of `record` and `trace`: NAME=syscall:X, NAME=symbol:F, NAME=addr:0xN.

Parsing only; resolving a symbol needs the executable's bytes (model.elf)
and the tracer turns the result into C-core triggers.
"""

from __future__ import annotations

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


def check_distinct(triggers: list[PhaseTrigger]) -> None:
    seen: set[str] = set()
    for t in triggers:
        if t.name in seen:
            raise UsageError(f"--phase: phase name {t.name!r} is used twice")
        seen.add(t.name)
