"""Strict JSON reading shared by the profile and policy decoders.

Duplicate keys are remembered (not silently overwritten), NaN and Infinity
are refused, and the helpers write JSON paths and values into one-line
messages: `$.processes[2].phases[0]`, `syscalls["i386:open"]`.
:class:`Decoder` holds the checks both formats' decoders make of every value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import ClassVar, NoReturn

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class JsonObject(dict[str, object]):
    """A decoded JSON object that remembers the keys it saw more than once."""

    duplicates: tuple[str, ...] = ()


def _pairs(pairs: list[tuple[str, object]]) -> JsonObject:
    obj = JsonObject(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicates = []
        for key, _ in pairs:
            if key in seen:
                duplicates.append(key)
            seen.add(key)
        obj.duplicates = tuple(duplicates)
    return obj


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not allowed")


def loads(text: str, source: str, error: type[Exception]) -> object:
    """Parse JSON text; ERROR(one sentence naming SOURCE) when it is not valid JSON."""
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        raise error(
            f"{source}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    except (ValueError, RecursionError) as err:
        raise error(f"{source}: not valid JSON ({err})") from None


def member(path: str, key: str) -> str:
    """The JSON path of KEY under PATH: `$.a.b`, or `$.a["i386:open"]`."""
    return f"{path}.{key}" if _IDENT.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def quote(text: str) -> str:
    """A string quoted for a message: JSON escapes keep the message on one line."""
    return json.dumps(text)


def show(value: object) -> str:
    """A decoded value as a message shows it: short, one line."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Decoder:
    """Walks decoded JSON, checking every value; fail() names the source and JSON path.

    Subclasses set ``error``, the exception every failure raises (one sentence).
    """

    error: ClassVar[type[Exception]] = ValueError

    def __init__(self, source: str) -> None:
        self.source = source
        self.arch = ""

    def fail(self, path: str, problem: str) -> NoReturn:
        raise self.error(f"{self.source}: {path}: {problem}")

    def map(self, value: object, path: str) -> Mapping[str, object]:
        """An object, any keys, each once."""
        if not isinstance(value, dict):
            self.fail(path, f"expected an object, got {show(value)}")
        if isinstance(value, JsonObject) and value.duplicates:
            key = value.duplicates[0]
            self.fail(member(path, key), f"field {quote(key)} appears more than once")
        return value

    def obj(
        self, value: object, path: str, required: Sequence[str], optional: Sequence[str] = ()
    ) -> Mapping[str, object]:
        """An object with exactly these fields (the optional ones may be missing)."""
        fields = self.map(value, path)
        known = (*required, *optional)
        for key in fields:
            if key not in known:
                self.fail(
                    member(path, key),
                    f"unknown field {quote(key)} (known: {', '.join(sorted(known))})",
                )
        for key in required:
            if key not in fields:
                self.fail(path, f"missing field {quote(key)}")
        return fields

    def array(self, value: object, path: str, nonempty: bool = False) -> list[object]:
        if not isinstance(value, list):
            self.fail(path, f"expected an array, got {show(value)}")
        if nonempty and not value:
            self.fail(path, "must not be empty")
        return value

    def integer(
        self, value: object, path: str, minimum: int = 0, maximum: int | None = None
    ) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(path, f"expected an integer, got {show(value)}")
        if value < minimum:
            self.fail(
                path, f"{value} is negative" if minimum == 0 else f"{value} is below {minimum}"
            )
        if maximum is not None and value > maximum:
            self.fail(path, f"{value} is above {maximum}")
        return value

    def string(self, value: object, path: str, nonempty: bool = False) -> str:
        if not isinstance(value, str):
            self.fail(path, f"expected a string, got {show(value)}")
        if nonempty and not value:
            self.fail(path, "must not be empty")
        return value

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {show(value)}")
        return value
