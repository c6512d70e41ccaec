"""Scenario files: a workload as data (TOML), parsed strictly into frozen dataclasses.

A file names a workload, its program and an optional fixture (what the runner
builds before the scenarios: ``none`` or ``ls-tree``), then a list of
``[[scenario]]`` tables, each tagged ``train`` or ``test``. Errors are one
sentence naming the file and the key (:class:`sysphase.errors.UsageError`).
docs/workloads.md documents the format. Pure: no OS access beyond reading text
the caller hands in.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field

from sysphase.errors import UsageError

__all__ = ["FIXTURES", "PLACEHOLDERS", "TAGS", "Scenario", "Workload", "parse"]

TAGS = ("train", "test")
FIXTURES = ("none", "ls-tree")
#: placeholders argv, stdin, env values and file contents may hold
PLACEHOLDERS = ("tmp", "db", "tree")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

_TOP_KEYS = {"workload", "program", "fixture", "description", "scenario"}
_SCENARIO_KEYS = {"name", "tag", "argv", "stdin", "exit", "stdout_contains", "env", "files"}


@dataclass(frozen=True, slots=True)
class Scenario:
    """One run of the program: argv (with placeholders), input, and what to check."""

    name: str
    tag: str
    argv: tuple[str, ...]
    stdin: str | None = None
    exit: int = 0
    stdout_contains: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    #: files written under {tmp} before the run: (relative path, content)
    files: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Workload:
    """A parsed scenario file."""

    name: str
    program: str
    fixture: str = "none"
    description: str = ""
    scenarios: tuple[Scenario, ...] = field(default_factory=tuple)

    def tagged(self, tag: str) -> tuple[Scenario, ...]:
        """The scenarios with this tag, in file order."""
        return tuple(s for s in self.scenarios if s.tag == tag)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> UsageError:
        return UsageError(f"{self.source}: {key}: {problem}")

    def string(self, value: object, key: str, nonempty: bool = True) -> str:
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {type(value).__name__}")
        if nonempty and not value:
            raise self.fail(key, "must not be empty")
        return value

    def strings(self, value: object, key: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(key, f"must be an array of strings, not {type(value).__name__}")
        return tuple(self.string(v, f"{key}[{i}]", nonempty=False) for i, v in enumerate(value))

    def table(self, value: object, key: str) -> Mapping[str, object]:
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, not {type(value).__name__}")
        return value

    def unknown(self, data: Mapping[str, object], known: set[str], where: str) -> None:
        extra = sorted(set(data) - known)
        if extra:
            shown = ", ".join(extra)
            raise self.fail(
                f"{where}{extra[0]}",
                f"unknown key ({shown}; known: {', '.join(sorted(known))})",
            )

    def placeholders(self, text: str, key: str) -> None:
        for m in _PLACEHOLDER.finditer(text):
            if m.group(1) not in PLACEHOLDERS:
                raise self.fail(
                    key,
                    f"unknown placeholder {{{m.group(1)}}} "
                    f"(known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})",
                )

    def scenario(self, value: object, index: int) -> Scenario:
        where = f"scenario[{index}]"
        data = self.table(value, where)
        self.unknown(data, _SCENARIO_KEYS, f"{where}.")
        for required in ("name", "tag", "argv"):
            if required not in data:
                raise self.fail(f"{where}.{required}", "missing")
        name = self.string(data["name"], f"{where}.name")
        if not _NAME.match(name):
            raise self.fail(f"{where}.name", f"{name!r} must be letters, digits, '_', '.' or '-'")
        where = f"scenario {name!r}"
        tag = self.string(data["tag"], f"{where}.tag")
        if tag not in TAGS:
            raise self.fail(f"{where}.tag", f"{tag!r} is neither 'train' nor 'test'")
        argv = self.strings(data["argv"], f"{where}.argv")
        if not argv or not argv[0]:
            raise self.fail(f"{where}.argv", "must start with the program to run")
        for i, a in enumerate(argv):
            self.placeholders(a, f"{where}.argv[{i}]")
        stdin = None
        if "stdin" in data:
            stdin = self.string(data["stdin"], f"{where}.stdin", nonempty=False)
            self.placeholders(stdin, f"{where}.stdin")
        exit_status = data.get("exit", 0)
        if isinstance(exit_status, bool) or not isinstance(exit_status, int):
            raise self.fail(f"{where}.exit", "must be an integer exit status")
        if not 0 <= exit_status <= 255:
            raise self.fail(f"{where}.exit", f"{exit_status} is not between 0 and 255")
        expected = self.strings(data.get("stdout_contains", []), f"{where}.stdout_contains")
        env: list[tuple[str, str]] = []
        for k, v in self.table(data.get("env", {}), f"{where}.env").items():
            if not k or "=" in k:
                raise self.fail(f"{where}.env", f"{k!r} is not an environment variable name")
            text = self.string(v, f"{where}.env.{k}", nonempty=False)
            self.placeholders(text, f"{where}.env.{k}")
            env.append((k, text))
        files: list[tuple[str, str]] = []
        for k, v in self.table(data.get("files", {}), f"{where}.files").items():
            parts = k.split("/")
            if not k or k.startswith("/") or any(p in ("", ".", "..") for p in parts):
                raise self.fail(f"{where}.files", f"{k!r} must be a relative path inside {{tmp}}")
            text = self.string(v, f"{where}.files.{k}", nonempty=False)
            self.placeholders(text, f"{where}.files.{k}")
            files.append((k, text))
        return Scenario(
            name=name,
            tag=tag,
            argv=argv,
            stdin=stdin,
            exit=exit_status,
            stdout_contains=expected,
            env=tuple(env),
            files=tuple(files),
        )

    def workload(self, data: Mapping[str, object]) -> Workload:
        self.unknown(data, _TOP_KEYS, "")
        for required in ("workload", "program", "scenario"):
            if required not in data:
                raise self.fail(required, "missing")
        name = self.string(data["workload"], "workload")
        program = self.string(data["program"], "program")
        fixture = self.string(data.get("fixture", "none"), "fixture")
        if fixture not in FIXTURES:
            raise self.fail("fixture", f"{fixture!r} is not one of {', '.join(FIXTURES)}")
        description = self.string(data.get("description", ""), "description", nonempty=False)
        raw = data["scenario"]
        if not isinstance(raw, list) or not raw:
            raise self.fail("scenario", "must be a non-empty array of tables ([[scenario]])")
        scenarios = tuple(self.scenario(v, i) for i, v in enumerate(raw))
        seen: set[str] = set()
        for s in scenarios:
            if s.name in seen:
                raise self.fail(f"scenario {s.name!r}.name", "appears twice")
            seen.add(s.name)
        return Workload(name, program, fixture, description, scenarios)


def parse(text: str, source: str) -> Workload:
    """Parse a scenario file's text; ``source`` (its name) starts every error message."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{source}: not valid TOML ({err})") from None
    return _Parser(source).workload(data)
