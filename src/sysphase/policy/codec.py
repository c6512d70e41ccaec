"""The `sysphase-policy/1` JSON file: deterministic encoding and strict decoding.

docs/formats/policy.md describes the file; the JSON Schema ships as
``sysphase/schemas/policy.schema.json``. The fields of each kind of object
are declared once (:data:`OBJECTS`), for the decoder and for the test that
holds the schema and the dataclasses of :mod:`sysphase.policy.ir` to them.
:func:`decode` refuses anything not
exactly right with :class:`sysphase.errors.PolicyInvalid`: one sentence
naming the source and the JSON path of the first bad value.

Pure: reading and writing files belongs to the callers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from sysphase.errors import PolicyInvalid
from sysphase.model import strict_json, syscalls
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import BUILD_ID, split_key
from sysphase.model.strict_json import Fields
from sysphase.model.strict_json import quote as _q
from sysphase.model.strict_json import show as _show
from sysphase.policy.codec_landlock import (
    LANDLOCK,
    LANDLOCK_RULE,
    LandlockDecoder,
    section_dict,
)
from sysphase.policy.ir import (
    ARG_MAX,
    DEFAULT_ACTIONS,
    OPS,
    AllowedCall,
    ArgCondition,
    Op,
    Policy,
    PolicyPhase,
    ProgramPolicy,
    Provenance,
    RefusedCall,
    Rule,
)
from sysphase.policy.landlock_rules import wider

__all__ = [
    "FORMAT",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "OBJECTS",
    "OPTIONS",
    "decode",
    "encode",
    "to_dict",
]

FORMAT_NAME: Final = "sysphase-policy"
FORMAT_VERSION: Final = 1
#: The value of the "format" field this sysphase writes and reads.
FORMAT: Final = f"{FORMAT_NAME}/{FORMAT_VERSION}"

#: The generation options a policy records.
OPTIONS: Final = ("args", "portable")

OPTION_FIELDS: Final = Fields(OPTIONS)
POLICY: Final = Fields(("format", "command", "arch", "default_action", "options", "programs"))
PROGRAM: Final = Fields(("executable", "phases"), ("build_id",))
PHASE: Final = Fields(("name", "trigger", "allowed"), ("refused", "landlock"))
ALLOWED: Final = Fields(("syscall",), ("when", "provenance", "reason", "note"))
CONDITION: Final = Fields(("index", "op", "value"), ("mask",))
PROVENANCE: Final = Fields(("program", "phase", "calls"))
REFUSED: Final = Fields(("syscall", "reason"), ("provenance",))
#: The fields of every kind of object in a policy, by the schema's name for it
#: ("policy" is the document, "options" its options; the others are its "$defs").
OBJECTS: Final = {
    "policy": POLICY,
    "options": OPTION_FIELDS,
    "program": PROGRAM,
    "phase": PHASE,
    "allowed": ALLOWED,
    "condition": CONDITION,
    "provenance": PROVENANCE,
    "refused": REFUSED,
    "landlock": LANDLOCK,
    "landlockRule": LANDLOCK_RULE,
}


# --- encoding -------------------------------------------------------------------------------


def _condition(c: ArgCondition) -> dict[str, object]:
    out: dict[str, object] = {"index": c.index, "op": c.op, "value": c.value}
    if c.op == "masked_eq":
        out["mask"] = c.mask
    return out


def _provenance(items: Sequence[Provenance]) -> list[dict[str, object]]:
    return [{"program": p.program, "phase": p.phase, "calls": p.calls} for p in items]


def _allowed(a: AllowedCall) -> dict[str, object]:
    return {
        "syscall": a.syscall,
        "when": [[_condition(c) for c in alt] for alt in a.rule.when],
        "provenance": _provenance(a.provenance),
        "reason": a.reason,
        "note": a.note,
    }


def _phase(p: PolicyPhase) -> dict[str, object]:
    return {
        "name": p.name,
        "trigger": p.trigger,
        "allowed": [_allowed(a) for a in p.allowed],
        "refused": [
            {"syscall": r.syscall, "provenance": _provenance(r.provenance), "reason": r.reason}
            for r in p.refused
        ],
        **({"landlock": section_dict(p.landlock)} if p.landlock is not None else {}),
    }


def to_dict(policy: Policy) -> dict[str, object]:
    """The policy as plain JSON data, fields in documentation order."""
    return {
        "format": FORMAT,
        "command": list(policy.command),
        "arch": policy.arch,
        "default_action": policy.default_action,
        "options": {k: policy.options[k] for k in sorted(policy.options)},
        "programs": [
            {
                "executable": prog.executable,
                **({"build_id": prog.build_id} if prog.build_id else {}),
                "phases": [_phase(p) for p in prog.phases],
            }
            for prog in policy.programs
        ],
    }


#: Fields written on one line whatever they hold.
_ONE_LINE: Final = frozenset(
    {"command", "options", "handled_fs", "handled_net", "scoped", "bind_tcp", "connect_tcp"}
)


def _compact(value: object) -> str:
    return json.dumps(value, separators=(", ", ": "))


def _layout(value: object, level: int, items_inline: bool = False) -> str:
    """Indented JSON whose leaves, short arrays and allowed/refused entries stay on one line."""
    pad = "  " * (level + 1)
    end = "  " * level
    if isinstance(value, dict) and value:
        inner = ",\n".join(
            f"{pad}{json.dumps(k)}: "
            + (
                _compact(v)
                if k in _ONE_LINE
                else _layout(v, level + 1, k in ("allowed", "refused", "rules"))
            )
            for k, v in value.items()
        )
        return f"{{\n{inner}\n{end}}}"
    if isinstance(value, list) and value:
        lay = _compact if items_inline else lambda v: _layout(v, level + 1)
        inner = ",\n".join(f"{pad}{lay(v)}" for v in value)
        return f"[\n{inner}\n{end}]"
    return _compact(value)


def encode(policy: Policy) -> str:
    """The policy as JSON text: deterministic, ASCII, ending in a newline.

    Indented by two spaces, with one line per allowed or refused syscall (and
    Landlock rule) so that policies read and diff line by line.
    """
    return _layout(to_dict(policy), 0) + "\n"


# --- strict decoding ------------------------------------------------------------------------


class _Decoder(LandlockDecoder):
    """The policy's decoder: the shared checks, then the policy's own structure."""

    error = PolicyInvalid

    def integer(
        self, value: object, path: str, minimum: int | None = 0, maximum: int | None = ARG_MAX
    ) -> int:
        return super().integer(value, path, minimum, maximum)

    def optional_string(self, value: object, path: str) -> str | None:
        return None if value is None else self.string(value, path)

    def choice(self, value: object, path: str, known: Sequence[str], what: str) -> str:
        text = self.string(value, path)
        if text not in known:
            self.fail(path, f"unknown {what} {_q(text)} (known: {', '.join(known)})")
        return text

    # --- the document ---

    def policy(self, data: object) -> Policy:
        if not isinstance(data, dict):
            self.fail("$", f"expected an object, got {_show(data)}")
        self.format(data, FORMAT_NAME, FORMAT_VERSION, "policy")
        fields = self.obj(data, "$", *POLICY)
        items = self.array(fields["command"], "$.command")
        command = tuple(self.string(v, f"$.command[{i}]") for i, v in enumerate(items))
        self.arch = self.choice(fields["arch"], "$.arch", syscalls.ARCHES, "architecture")
        action = self.choice(
            fields["default_action"], "$.default_action", DEFAULT_ACTIONS, "default action"
        )
        opts = self.obj(fields["options"], "$.options", *OPTION_FIELDS)
        options = FrozenMap({k: self.boolean(opts[k], f"$.options.{k}") for k in OPTIONS})
        programs = self.array(fields["programs"], "$.programs", nonempty=True)
        decoded = []
        seen: set[str] = set()
        for i, value in enumerate(programs):
            path = f"$.programs[{i}]"
            program = self.program(value, path)
            if program.executable in seen:
                self.fail(
                    f"{path}.executable",
                    f"program {_q(program.executable)} appears more than once",
                )
            seen.add(program.executable)
            decoded.append(program)
        return Policy(self.arch, action, tuple(decoded), command, options)

    def program(self, value: object, path: str) -> ProgramPolicy:
        fields = self.obj(value, path, *PROGRAM)
        executable = self.string(fields["executable"], f"{path}.executable")
        build_id = self.string(fields.get("build_id", ""), f"{path}.build_id")
        if build_id and not BUILD_ID.fullmatch(build_id):
            self.fail(f"{path}.build_id", f"{_q(build_id[:40])} is not a build-id (hex)")
        items = self.array(fields["phases"], f"{path}.phases", nonempty=True)
        phases: list[PolicyPhase] = []
        for i, v in enumerate(items):
            phase_path = f"{path}.phases[{i}]"
            phase = self.phase(v, phase_path)
            if any(p.name == phase.name for p in phases):
                self.fail(f"{phase_path}.name", f"phase {_q(phase.name)} appears more than once")
            if phases:
                earlier = phases[-1]
                names = earlier.syscall_names()
                for j, call in enumerate(phase.allowed):
                    if call.syscall not in names:
                        self.fail(
                            f"{phase_path}.allowed[{j}].syscall",
                            f"{_q(call.syscall)} is not allowed by the earlier phase "
                            f"{_q(earlier.name)}, and filters only narrow",
                        )
                self.narrowing(earlier, phase, phase_path)
            phases.append(phase)
        return ProgramPolicy(executable, tuple(phases), build_id)

    def narrowing(self, earlier: PolicyPhase, phase: PolicyPhase, path: str) -> None:
        """A later phase's Landlock section allows nothing the earlier one's refuses."""
        if earlier.landlock is None or phase.landlock is None:
            return
        found = wider(earlier.landlock, phase.landlock)
        if found is not None:
            where, what = found
            self.fail(
                f"{path}.landlock.{where}",
                f"{what} {_q(earlier.name)}, and Landlock rulesets only narrow",
            )

    def phase(self, value: object, path: str) -> PolicyPhase:
        fields = self.obj(value, path, *PHASE)
        name = self.string(fields["name"], f"{path}.name", nonempty=True)
        trigger = self.trigger(fields["trigger"], f"{path}.trigger", nonempty=True)
        allowed: list[AllowedCall] = []
        for i, v in enumerate(self.array(fields["allowed"], f"{path}.allowed")):
            call = self.allowed(v, f"{path}.allowed[{i}]")
            if any(a.syscall == call.syscall for a in allowed):
                self.fail(
                    f"{path}.allowed[{i}].syscall", f"{_q(call.syscall)} appears more than once"
                )
            allowed.append(call)
        refused = tuple(
            self.refused(v, f"{path}.refused[{i}]")
            for i, v in enumerate(self.array(fields.get("refused", []), f"{path}.refused"))
        )
        landlock = None
        if "landlock" in fields:
            landlock = self.landlock(fields["landlock"], f"{path}.landlock")
        return PolicyPhase(name, trigger, tuple(allowed), refused, landlock)

    def allowed(self, value: object, path: str) -> AllowedCall:
        fields = self.obj(value, path, *ALLOWED)
        name = self.string(fields["syscall"], f"{path}.syscall")
        if syscalls.number(self.arch, name) is None:
            self.fail(f"{path}.syscall", f"unknown syscall {_q(name)} for {self.arch}")
        when_path = f"{path}.when"
        alts = []
        for i, alt in enumerate(self.array(fields.get("when", []), when_path)):
            alt_path = f"{when_path}[{i}]"
            conds = self.array(alt, alt_path, nonempty=True)
            alts.append(tuple(self.condition(c, f"{alt_path}[{j}]") for j, c in enumerate(conds)))
        provenance = self.provenance(fields.get("provenance", []), f"{path}.provenance")
        reason = self.optional_string(fields.get("reason"), f"{path}.reason")
        note = self.optional_string(fields.get("note"), f"{path}.note")
        return AllowedCall(Rule(name, tuple(alts)), provenance, reason, note)

    def condition(self, value: object, path: str) -> ArgCondition:
        fields = self.obj(value, path, *CONDITION)
        index = self.integer(fields["index"], f"{path}.index", maximum=5)
        text = self.choice(fields["op"], f"{path}.op", OPS, "comparison")
        op: Op = "eq" if text == "eq" else "ne" if text == "ne" else "masked_eq"
        cond_value = self.integer(fields["value"], f"{path}.value")
        mask = 0
        if op == "masked_eq":
            if "mask" not in fields:
                self.fail(path, 'missing field "mask" (masked_eq needs one)')
            mask = self.integer(fields["mask"], f"{path}.mask")
            if cond_value & ~mask:
                self.fail(
                    f"{path}.value",
                    f"{cond_value:#x} has bits outside the mask {mask:#x}, so it can never match",
                )
        elif "mask" in fields:
            self.fail(f"{path}.mask", f'a mask only goes with "masked_eq", not {_q(op)}')
        return ArgCondition(index, op, cond_value, mask)

    def provenance(self, value: object, path: str) -> tuple[Provenance, ...]:
        out = []
        for i, v in enumerate(self.array(value, path)):
            item = f"{path}[{i}]"
            fields = self.obj(v, item, *PROVENANCE)
            out.append(
                Provenance(
                    self.string(fields["program"], f"{item}.program"),
                    self.string(fields["phase"], f"{item}.phase", nonempty=True),
                    self.integer(fields["calls"], f"{item}.calls"),
                )
            )
        return tuple(out)

    def refused(self, value: object, path: str) -> RefusedCall:
        fields = self.obj(value, path, *REFUSED)
        key = self.string(fields["syscall"], f"{path}.syscall")
        arch, name = split_key(self.arch, key)
        if arch not in syscalls.ARCHES:
            self.fail(f"{path}.syscall", f"unknown architecture {_q(arch)} in {_q(key)}")
        if syscalls.number(arch, name) is None:
            self.fail(f"{path}.syscall", f"unknown syscall {_q(name)} for {arch}")
        provenance = self.provenance(fields.get("provenance", []), f"{path}.provenance")
        reason = self.string(fields["reason"], f"{path}.reason")
        return RefusedCall(key, provenance, reason)


def decode(text: str, source: str) -> Policy:
    """Parse a policy strictly; ``source`` (a file name) starts every error message.

    Raises PolicyInvalid with one sentence naming the source and the JSON
    path of the first bad value: corrupt JSON, a wrong or newer format, an
    unknown or missing field, an unknown syscall, a condition that can never
    match, a later phase allowing what an earlier one does not, ...
    """
    data = strict_json.loads(text, source, PolicyInvalid)
    return _Decoder(source).policy(data)
