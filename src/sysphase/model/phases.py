"""Phase options of `record` and `trace`: NAME=syscall:X, NAME=symbol:F, NAME=addr:0xN.

A syscall trigger may name the thread it counts in and a call it must follow:
``serve=syscall:epoll_wait@main,after=listen`` starts ``serve`` at the main
thread's first ``epoll_wait`` once the process has called ``listen`` (worker
threads that wait before the main thread listens do not start it).

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
    #: syscall triggers: only the main thread's call counts (``@main``)
    main_only: bool = False
    #: syscall triggers: counts only once the process has made this call (``,after=NAME``)
    after: str = ""

    @property
    def spec(self) -> str:
        """As written after ``NAME=``: ``syscall:epoll_wait@main,after=listen``."""
        main = "@main" if self.main_only else ""
        after = f",after={self.after}" if self.after else ""
        return f"{self.kind}:{self.value}{main}{after}"


def parse_trigger(text: str, arch: str = "x86_64") -> PhaseTrigger:
    """'serve=syscall:epoll_wait' -> PhaseTrigger; a UsageError names what is wrong."""
    name, eq, rest = text.partition("=")
    kind, colon, value = rest.partition(":")
    if not eq or not name or not colon or not value:
        raise UsageError(
            f"--phase {text!r}: expected NAME=syscall:NAME, NAME=symbol:FUNCTION "
            "or NAME=addr:0xOFFSET"
        )
    if name == "start":
        raise UsageError(f"--phase {text!r}: phase name 'start' is the first phase's")
    check_phase_name(name, f"--phase {text!r}")
    if kind not in KINDS:
        raise UsageError(
            f"--phase {text!r}: unknown trigger kind {kind!r} (use syscall, symbol or addr)"
        )
    value, main_only, after = _qualifiers(text, kind, value, arch)
    if kind == "syscall" and syscalls.number(arch, value) is None:
        raise UsageError(f"--phase {text!r}: unknown syscall {value!r} for {arch}")
    if kind == "addr":
        try:
            int(value, 0)
        except ValueError:
            raise UsageError(f"--phase {text!r}: {value!r} is not an address") from None
    return PhaseTrigger(name, kind, value, main_only=main_only, after=after)


def check_phase_name(name: str, where: str) -> None:
    """UsageError unless NAME is letters, digits, - or _ (WHERE names the option)."""
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"{where}: phase name {name!r} must be letters, digits, - or _")


def _qualifiers(text: str, kind: str, value: str, arch: str) -> tuple[str, bool, str]:
    """``epoll_wait@main,after=listen`` -> ("epoll_wait", True, "listen")."""
    value, *options = value.split(",")
    value, at, thread = value.partition("@")
    if at and thread != "main":
        raise UsageError(f"--phase {text!r}: @{thread}: the only thread a trigger names is @main")
    after = ""
    for option in options:
        key, eq, call = option.partition("=")
        if key != "after" or not eq or not call or after:
            raise UsageError(f"--phase {text!r}: {option!r}: the only option is after=SYSCALL")
        if syscalls.number(arch, call) is None:
            raise UsageError(f"--phase {text!r}: after={call}: unknown syscall for {arch}")
        after = call
    if (at or after) and kind != "syscall":
        raise UsageError(f"--phase {text!r}: @main and after= go with syscall: triggers")
    return value, bool(at), after


def trigger_call(trigger: str) -> str | None:
    """The syscall a stored ``syscall:`` trigger starts at (without @main, after=), or None."""
    kind, colon, value = trigger.partition(":")
    if kind != "syscall" or not colon:
        return None
    return value.split(",")[0].partition("@")[0]


def trigger_problem(trigger: str, arch: str) -> str | None:
    """What is wrong with a trigger a profile or a policy stores, or None.

    Those triggers are ``start``, ``exec``, ``inherited``, ``marker``,
    ``syscall:NAME``, ``symbol:FUNCTION``, ``addr:0xOFFSET``, ``signal:NAME``;
    a ``syscall:NAME`` one must name a syscall of ``arch`` (``syscall_0x1c3``
    for a number the tables have no name for), as ``--phase`` requires.
    """
    kind, colon, value = trigger.partition(":")
    if kind == "syscall" and colon:
        try:
            value, _, _ = _qualifiers(trigger, kind, value, arch)
        except UsageError as err:
            return f"trigger {json.dumps(trigger)}: {str(err).split(': ', 1)[1]}"
        if syscalls.number(arch, value) is None:
            return f"trigger {json.dumps(trigger)}: unknown syscall {json.dumps(value)} for {arch}"
    return None


def check_distinct(triggers: list[PhaseTrigger]) -> None:
    seen: set[str] = set()
    for t in triggers:
        if t.name in seen:
            raise UsageError(f"--phase: phase name {t.name!r} is used twice")
        seen.add(t.name)
