"""A profile phase's ``landlock`` object (``record --paths``): JSON encoding and strict decoding.

The fields of :class:`~sysphase.model.landlock_needs.LandlockNeeds`, their
encoding and their decoding, used by :mod:`sysphase.model.profile_codec`.
docs/formats/profile.md ("Landlock: what a phase touched") describes them.
Pure.
"""

from __future__ import annotations

from typing import Final

from sysphase.model import strict_json
from sysphase.model.frozen import FrozenMap
from sysphase.model.landlock_needs import MAX_PATHS, LandlockNeeds
from sysphase.model.landlock_rights import FS_RIGHTS, canonical, normal_path
from sysphase.model.strict_json import Fields
from sysphase.model.strict_json import member as _member
from sysphase.model.strict_json import quote as _q

__all__ = ["LANDLOCK", "LandlockDecoder", "landlock_dict"]

LANDLOCK: Final = Fields(
    ("paths",), ("created_dirs", "bind_tcp", "connect_tcp", "abstract_unix", "cut_depth")
)
_PORT_MAX: Final = 0xFFFF


def landlock_dict(x: LandlockNeeds) -> dict[str, object]:
    """The phase's needs as JSON data: every field, rights in bit order."""
    return {
        "paths": {p: list(r) for p, r in x.paths.items()},
        "created_dirs": list(x.created_dirs),
        "bind_tcp": list(x.bind_tcp),
        "connect_tcp": list(x.connect_tcp),
        "abstract_unix": x.abstract_unix,
        "cut_depth": x.cut_depth,
    }


class LandlockDecoder(strict_json.Decoder):
    """The decoding of a phase's ``landlock`` object; shared by the profile's decoder."""

    def abs_path(self, text: str, path: str) -> str:
        """An absolute path in normal form (no ``.``, ``..``, ``//`` or trailing ``/``)."""
        if normal_path(text) != text:
            self.fail(path, f"{_q(text[:60])} is not an absolute path in normal form")
        return text

    def rights(self, value: object, path: str) -> tuple[str, ...]:
        """Landlock file-system right names, each once, at least one (returned in bit order)."""
        items = self.array(value, path, nonempty=True)
        names = [self.string(v, f"{path}[{i}]") for i, v in enumerate(items)]
        for i, name in enumerate(names):
            if name not in FS_RIGHTS:
                self.fail(
                    f"{path}[{i}]",
                    f"unknown Landlock right {_q(name)} (known: {', '.join(FS_RIGHTS)})",
                )
            if name in names[:i]:
                self.fail(f"{path}[{i}]", f"{_q(name)} appears more than once")
        return canonical(names)

    def ports(self, value: object, path: str) -> tuple[int, ...]:
        items = self.array(value, path)
        ports = [self.integer(v, f"{path}[{i}]", 0, _PORT_MAX) for i, v in enumerate(items)]
        for i, port in enumerate(ports):
            if port in ports[:i]:
                self.fail(f"{path}[{i}]", f"port {port} appears more than once")
        return tuple(sorted(ports))

    def landlock(self, value: object, path: str) -> LandlockNeeds:
        fields = self.obj(value, path, *LANDLOCK)
        paths_path = f"{path}.paths"
        items = self.map(fields["paths"], paths_path)
        if len(items) > MAX_PATHS:
            self.fail(
                paths_path, f"{len(items):,} paths, more than the {MAX_PATHS:,} a phase keeps"
            )
        paths = {}
        for key, rights in items.items():
            where = _member(paths_path, key)
            paths[self.abs_path(key, where)] = self.rights(rights, where)
        dirs_path = f"{path}.created_dirs"
        dirs = self.array(fields.get("created_dirs", []), dirs_path)
        created = [
            self.abs_path(self.string(v, f"{dirs_path}[{i}]"), f"{dirs_path}[{i}]")
            for i, v in enumerate(dirs)
        ]
        if len(set(created)) != len(created):
            dup = next(c for i, c in enumerate(created) if c in created[:i])
            self.fail(dirs_path, f"{_q(dup)} appears more than once")
        cut = fields.get("cut_depth")
        return LandlockNeeds(
            FrozenMap(paths),
            tuple(sorted(created)),
            self.ports(fields.get("bind_tcp", []), f"{path}.bind_tcp"),
            self.ports(fields.get("connect_tcp", []), f"{path}.connect_tcp"),
            self.boolean(fields.get("abstract_unix", False), f"{path}.abstract_unix"),
            None if cut is None else self.integer(cut, f"{path}.cut_depth"),
        )
