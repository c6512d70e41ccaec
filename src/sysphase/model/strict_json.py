"""Strict reading of decoded files, shared by the profile, policy and scenario decoders.

Duplicate keys are remembered (not silently overwritten), NaN and Infinity
are refused, numbers are parsed in bounded form (a literal longer than
:data:`MAX_NUMBER_LENGTH` characters stays a :class:`LongNumber`, which every
check refuses with the JSON path, instead of an unbounded ``int()``), and the
helpers write JSON paths and values into one-line messages:
`$.processes[2].phases[0]`, `syscalls["i386:open"]`. :class:`Decoder` holds
the checks every format's decoder makes of every value (object, array,
integer, string, boolean; the format field and the phase triggers), and the
one shape of their messages: ``SOURCE: PATH: PROBLEM``. The workload
scenarios (TOML) use it too, with TOML's words (table, key). :class:`Fields`
declares an object's fields once, for the decoder and for the tests that
hold the JSON Schemas to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import ClassVar, Final, NamedTuple, NoReturn

from sysphase.model import phases

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: The longest number literal parsed: every integer of both formats fits in 20 digits
#: (2^64 - 1), so 40 characters leave room for a sign, an exponent or a fraction.
MAX_NUMBER_LENGTH: Final = 40
#: A format version: a canonical decimal number (no sign, no leading zero), at most 9 digits.
_VERSION: Final = re.compile(r"0|[1-9][0-9]{0,8}")


class Fields(NamedTuple):
    """The fields of one kind of object: the required ones, then the optional ones.

    ``decoder.obj(value, path, *FIELDS)`` checks an object against it.
    """

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)


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


class LongNumber:
    """A number literal longer than :data:`MAX_NUMBER_LENGTH` characters, left unparsed.

    Not an int, a float or a string: every check of :class:`Decoder` refuses it,
    naming its JSON path, and :func:`show` describes it by its length.
    """

    __slots__ = ("length",)

    def __init__(self, text: str) -> None:
        self.length = len(text)

    def __repr__(self) -> str:
        return f"LongNumber(<{self.length} characters>)"


def _int(text: str) -> int | LongNumber:
    return int(text) if len(text) <= MAX_NUMBER_LENGTH else LongNumber(text)


def _float(text: str) -> float | LongNumber:
    return float(text) if len(text) <= MAX_NUMBER_LENGTH else LongNumber(text)


def loads(text: str, source: str, error: type[Exception]) -> object:
    """Parse JSON text; ERROR(one sentence naming SOURCE) when it is not valid JSON.

    Number literals longer than :data:`MAX_NUMBER_LENGTH` become :class:`LongNumber`.
    """
    try:
        return json.loads(
            text,
            object_pairs_hook=_pairs,
            parse_constant=_no_constant,
            parse_int=_int,
            parse_float=_float,
        )
    except json.JSONDecodeError as err:
        raise error(
            f"{source}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    except (ValueError, RecursionError) as err:
        raise error(f"{source}: not valid JSON ({err})") from None


def member(path: str, key: str) -> str:
    """The JSON path of KEY under PATH: `$.a.b`, or `$.a["i386:open"]`; PATH "" is the root."""
    if not _IDENT.fullmatch(key):
        return f"{path}[{json.dumps(key)}]" if path else json.dumps(key)
    return f"{path}.{key}" if path else key


def quote(text: str) -> str:
    """A string quoted for a message: JSON escapes keep the message on one line."""
    return json.dumps(text)


def show(value: object, an_object: str = "an object") -> str:
    """A decoded value as a message shows it: short, one line.

    ``an_object`` names an object (``"a table"`` in TOML); a value JSON has no
    form for (a TOML date) is shown as text.
    """
    if isinstance(value, LongNumber):
        return f"a number of {value.length} characters"
    if isinstance(value, dict):
        return an_object
    if isinstance(value, list):
        return "an array"
    try:
        text = json.dumps(value)
    except TypeError:
        text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Decoder:
    """Walks decoded JSON, checking every value; fail() names the source and JSON path.

    Subclasses set ``error``, the exception every failure raises (one sentence),
    and may rename what the format calls an object and its fields.
    """

    error: ClassVar[type[Exception]] = ValueError
    #: what the format calls an object ("a table" in TOML) and its fields ("key")
    an_object: ClassVar[str] = "an object"
    field_noun: ClassVar[str] = "field"

    def __init__(self, source: str) -> None:
        self.source = source
        self.arch = ""

    def fail(self, path: str, problem: str) -> NoReturn:
        """Raise ``SOURCE: PATH: PROBLEM`` (``SOURCE: PROBLEM`` for the root path "")."""
        where = f"{path}: " if path else ""
        raise self.error(f"{self.source}: {where}{problem}")

    def show(self, value: object) -> str:
        """The value as a message shows it (:func:`show`, in the format's words)."""
        return show(value, self.an_object)

    def map(self, value: object, path: str) -> Mapping[str, object]:
        """An object, any keys, each once."""
        if not isinstance(value, dict):
            self.fail(path, f"expected {self.an_object}, got {self.show(value)}")
        if isinstance(value, JsonObject) and value.duplicates:
            key = value.duplicates[0]
            self.fail(member(path, key), f"{self.field_noun} {quote(key)} appears more than once")
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
                    f"unknown {self.field_noun} {quote(key)} (known: {', '.join(sorted(known))})",
                )
        for key in required:
            if key not in fields:
                self.fail(path, f"missing {self.field_noun} {quote(key)}")
        return fields

    def array(self, value: object, path: str, nonempty: bool = False) -> list[object]:
        if not isinstance(value, list):
            self.fail(path, f"expected an array, got {self.show(value)}")
        if nonempty and not value:
            self.fail(path, "must not be empty")
        return value

    def integer(
        self, value: object, path: str, minimum: int | None = 0, maximum: int | None = None
    ) -> int:
        """An integer (not a boolean) from MINIMUM to MAXIMUM (None: no bound)."""
        if isinstance(value, LongNumber):
            self.fail(
                path,
                f"a number of {value.length} characters is too long (at most {MAX_NUMBER_LENGTH})",
            )
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(path, f"expected an integer, got {self.show(value)}")
        if minimum is not None and value < minimum:
            self.fail(
                path, f"{value} is negative" if minimum == 0 else f"{value} is below {minimum}"
            )
        if maximum is not None and value > maximum:
            self.fail(path, f"{value} is above {maximum}")
        return value

    def string(self, value: object, path: str, nonempty: bool = False) -> str:
        if not isinstance(value, str):
            self.fail(path, f"expected a string, got {self.show(value)}")
        if nonempty and not value:
            self.fail(path, "must not be empty")
        return value

    def boolean(self, value: object, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {self.show(value)}")
        return value

    def format(self, data: Mapping[str, object], name: str, version: int, what: str) -> None:
        """The "format" field: exactly ``NAME/VERSION``, the one canonical spelling.

        Another version of the same format (a canonical number, at most 9
        digits) is named newer or no longer supported; anything else
        (``NAME/01``, a version of 5,000 digits, another format) is not one.
        """
        expected = f"{name}/{version}"
        if "format" not in data:
            self.fail("$", f'missing field "format" (is this a sysphase {what}?)')
        value = self.string(data["format"], "$.format")
        if value == expected:
            return
        prefix, slash, number = value.rpartition("/")
        if prefix != name or not slash or not _VERSION.fullmatch(number):
            self.fail(
                "$.format", f"{show(value)} is not a sysphase {what} format (expected {expected})"
            )
        if int(number) > version:
            self.fail(
                "$.format",
                f"format {show(value)} is newer than this sysphase understands ({expected})",
            )
        self.fail("$.format", f"format {show(value)} is no longer supported (expected {expected})")

    def trigger(self, value: object, path: str, nonempty: bool = False) -> str:
        """A phase trigger; a ``syscall:NAME`` one names a syscall of the file's ``arch``."""
        text = self.string(value, path, nonempty=nonempty)
        problem = phases.trigger_problem(text, self.arch)
        if problem is not None:
            self.fail(path, problem)
        return text
