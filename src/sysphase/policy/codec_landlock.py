"""A policy phase's ``landlock`` section (``policy --landlock``): JSON encoding, strict decoding.

The fields of :class:`~sysphase.policy.ir.LandlockSection` and
:class:`~sysphase.policy.ir.LandlockRule`, their encoding and their
decoding, used by :mod:`sysphase.policy.codec` (which also checks that a
later phase's section narrows the earlier one's:
:func:`sysphase.policy.landlock_rules.wider`). docs/formats/policy.md
("A Landlock section") describes them. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from sysphase.model import strict_json
from sysphase.model.landlock_rights import (
    FS_ABI,
    FS_RIGHTS,
    HIGHEST_ABI,
    NET_ABI,
    NET_RIGHTS,
    SCOPE_ABI,
    SCOPES,
    normal_path,
)
from sysphase.model.strict_json import Fields
from sysphase.model.strict_json import quote as _q
from sysphase.policy.ir import LandlockRule, LandlockSection
from sysphase.policy.landlock_rules import HOW

__all__ = ["LANDLOCK", "LANDLOCK_RULE", "LandlockDecoder", "section_dict"]

LANDLOCK: Final = Fields(
    ("abi", "handled_fs", "handled_net", "scoped", "rules"), ("bind_tcp", "connect_tcp", "note")
)
LANDLOCK_RULE: Final = Fields(("path", "rights"), ("how", "recorded", "examples"))
_PORT_MAX: Final = 0xFFFF


def section_dict(s: LandlockSection) -> dict[str, object]:
    """The section as JSON data, every field written."""
    return {
        "abi": s.abi,
        "handled_fs": list(s.handled_fs),
        "handled_net": list(s.handled_net),
        "scoped": list(s.scoped),
        "rules": [
            {
                "path": r.path,
                "rights": list(r.rights),
                "how": list(r.how),
                "recorded": r.recorded,
                "examples": list(r.examples),
            }
            for r in s.rules
        ],
        "bind_tcp": list(s.bind_tcp),
        "connect_tcp": list(s.connect_tcp),
        "note": s.note,
    }


class LandlockDecoder(strict_json.Decoder):
    """The decoding of a phase's ``landlock`` section; shared by the policy's decoder."""

    def names(
        self, value: object, path: str, known: Sequence[str], what: str, nonempty: bool = False
    ) -> tuple[str, ...]:
        """Names from ``known``, each once, returned in ``known``'s order."""
        items = self.array(value, path, nonempty=nonempty)
        got: list[str] = []
        for i, v in enumerate(items):
            name = self.string(v, f"{path}[{i}]")
            if name not in known:
                self.fail(f"{path}[{i}]", f"unknown {what} {_q(name)} (known: {', '.join(known)})")
            if name in got:
                self.fail(f"{path}[{i}]", f"{_q(name)} appears more than once")
            got.append(name)
        return tuple(n for n in known if n in got)

    def by_abi(self, names: tuple[str, ...], abi: int, table: Mapping[str, int], path: str) -> None:
        for name in names:
            if table[name] > abi:
                self.fail(path, f"{_q(name)} needs Landlock ABI {table[name]}, not {abi}")

    def tcp_ports(
        self, value: object, path: str, handled: Sequence[str], right: str
    ) -> tuple[int, ...]:
        items = self.array(value, path)
        ports = [self.integer(v, f"{path}[{i}]", 0, _PORT_MAX) for i, v in enumerate(items)]
        for i, port in enumerate(ports):
            if port in ports[:i]:
                self.fail(f"{path}[{i}]", f"port {port} appears more than once")
        if ports and right not in handled:
            self.fail(path, f"ports given, but {_q(right)} is not in handled_net")
        return tuple(sorted(ports))

    def landlock(self, value: object, path: str) -> LandlockSection:
        fields = self.obj(value, path, *LANDLOCK)
        abi = self.integer(fields["abi"], f"{path}.abi", 1)
        if abi > HIGHEST_ABI:
            self.fail(
                f"{path}.abi",
                f"Landlock ABI {abi} is newer than this sysphase knows ({HIGHEST_ABI})",
            )
        fs = self.names(fields["handled_fs"], f"{path}.handled_fs", FS_RIGHTS, "Landlock right")
        self.by_abi(fs, abi, FS_ABI, f"{path}.handled_fs")
        net = self.names(fields["handled_net"], f"{path}.handled_net", NET_RIGHTS, "network right")
        self.by_abi(net, abi, NET_ABI, f"{path}.handled_net")
        scoped = self.names(fields["scoped"], f"{path}.scoped", SCOPES, "scope")
        self.by_abi(scoped, abi, SCOPE_ABI, f"{path}.scoped")
        rules: dict[str, LandlockRule] = {}
        for i, v in enumerate(self.array(fields["rules"], f"{path}.rules")):
            rule = self.rule(v, f"{path}.rules[{i}]", fs)
            if rule.path in rules:
                self.fail(f"{path}.rules[{i}].path", f"{_q(rule.path)} appears more than once")
            rules[rule.path] = rule
        note = fields.get("note")
        return LandlockSection(
            abi,
            fs,
            net,
            scoped,
            tuple(rules[p] for p in sorted(rules)),
            self.tcp_ports(fields.get("bind_tcp", []), f"{path}.bind_tcp", net, "bind_tcp"),
            self.tcp_ports(
                fields.get("connect_tcp", []), f"{path}.connect_tcp", net, "connect_tcp"
            ),
            None if note is None else self.string(note, f"{path}.note"),
        )

    def rule(self, value: object, path: str, handled: Sequence[str]) -> LandlockRule:
        fields = self.obj(value, path, *LANDLOCK_RULE)
        where = self.string(fields["path"], f"{path}.path")
        if normal_path(where) != where:
            self.fail(f"{path}.path", f"{_q(where[:60])} is not an absolute path in normal form")
        rights = self.names(fields["rights"], f"{path}.rights", FS_RIGHTS, "Landlock right", True)
        for i, right in enumerate(self.array(fields["rights"], f"{path}.rights")):
            if right not in handled:
                self.fail(f"{path}.rights[{i}]", f"{_q(str(right))} is not in handled_fs")
        how = self.names(fields.get("how", []), f"{path}.how", HOW, "generalisation rule")
        recorded = self.integer(fields.get("recorded", 0), f"{path}.recorded")
        items = self.array(fields.get("examples", []), f"{path}.examples")
        examples = tuple(self.string(v, f"{path}.examples[{i}]") for i, v in enumerate(items))
        return LandlockRule(where, rights, how, recorded, examples)
