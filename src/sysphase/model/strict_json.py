"""Strict JSON reading shared by the profile and policy decoders.

Duplicate keys are remembered (not silently overwritten), NaN and Infinity
are refused, and the helpers write JSON paths and values into one-line
messages: `$.processes[2].phases[0]`, `syscalls["i386:open"]`.
"""

from __future__ import annotations

import json
import re
from typing import NoReturn

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
