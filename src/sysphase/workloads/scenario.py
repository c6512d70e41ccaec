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
from typing import TypeAlias

from sysphase.errors import UsageError
from sysphase.model.phases import parse_trigger

__all__ = [
    "DRIVERS",
    "FIXTURES",
    "PLACEHOLDERS",
    "TAGS",
    "Scenario",
    "Step",
    "Workload",
    "parse",
]

TAGS = ("train", "test")
FIXTURES = ("none", "ls-tree")
#: how the runner talks to the program: stdin in / stdout checked, or a Redis server
DRIVERS = ("stdin", "redis")
#: placeholders argv, stdin, env values, file contents, config values and steps may hold
PLACEHOLDERS = ("tmp", "db", "tree", "port", "replica_port")
#: what a redis step may be: exactly one of these keys
STEP_KINDS = ("cmd", "read", "sleep", "shutdown")
_STEP_KEYS = {
    "cmd": {
        "cmd",
        "conn",
        "on",
        "reply",
        "error",
        "contains",
        "until",
        "until_not",
        "repeat",
        "clients",
    },
    "read": {"read", "reply", "contains"},
    "sleep": {"sleep"},
    "shutdown": {"shutdown"},
}
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

_TOP_KEYS = {"workload", "program", "fixture", "description", "driver", "phases", "scenario"}
_SCENARIO_KEYS = {"name", "tag", "argv", "stdin", "exit", "stdout_contains", "env", "files"}
_REDIS_KEYS = {"config", "replica", "steps"}
#: a JSON-like expected reply: string, integer, array of those, or false for nil
Expected: TypeAlias = "str | int | bool | tuple[Expected, ...]"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a redis scenario: a command, a pushed message to read, a pause or SHUTDOWN.

    ``kind`` is one of STEP_KINDS. A ``cmd`` step sends ``args`` on connection ``conn``
    to the server (``on`` = "server") or the replica; ``repeat`` pipelines the command
    that many times on each of ``clients`` connections. Checks (on the last reply):
    ``reply`` equals it (false meaning nil), ``error`` prefixes an error reply (otherwise
    an error reply fails the step), ``contains`` is a substring of it; ``until`` /
    ``until_not`` repeat the command until its reply holds / lacks that text.
    """

    kind: str
    args: tuple[str, ...] = ()
    conn: str = "main"
    on: str = "server"
    reply: Expected | None = None
    error: str | None = None
    contains: str | None = None
    until: str | None = None
    until_not: str | None = None
    repeat: int = 1
    clients: int = 1
    seconds: float = 0.0


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
    #: driver "redis": config directives added to the server's redis.conf
    config: tuple[tuple[str, str], ...] = ()
    #: driver "redis": start an untraced replica of the server first
    replica: bool = False
    #: driver "redis": what the client does, in order
    steps: tuple[Step, ...] = ()


@dataclass(frozen=True, slots=True)
class Workload:
    """A parsed scenario file."""

    name: str
    program: str
    fixture: str = "none"
    description: str = ""
    scenarios: tuple[Scenario, ...] = field(default_factory=tuple)
    driver: str = "stdin"
    #: phase triggers for recording, as for ``record --phase`` (NAME=syscall:X, ...)
    phases: tuple[str, ...] = ()

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

    def expected(self, value: object, key: str) -> Expected:
        if isinstance(value, bool):
            if value:
                raise self.fail(key, "true is not a reply (false means nil)")
            return False
        if isinstance(value, str | int):
            return value
        if isinstance(value, list):
            return tuple(self.expected(v, f"{key}[{i}]") for i, v in enumerate(value))
        raise self.fail(
            key, f"must be a string, integer, array or false, not {type(value).__name__}"
        )

    def count(self, value: object, key: str, most: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
            raise self.fail(key, f"must be an integer from 1 to {most}")
        return value

    def step(self, value: object, where: str, last: bool) -> Step:
        data = self.table(value, where)
        kinds = [k for k in STEP_KINDS if k in data]
        if len(kinds) != 1:
            raise self.fail(where, f"needs exactly one of {', '.join(STEP_KINDS)}")
        kind = kinds[0]
        self.unknown(data, _STEP_KEYS[kind], f"{where}.")
        texts: dict[str, str] = {}
        for k in ("conn", "error", "contains", "until", "until_not"):
            if k in data:
                texts[k] = self.string(data[k], f"{where}.{k}")
        reply = self.expected(data["reply"], f"{where}.reply") if "reply" in data else None
        if kind == "sleep":
            secs = data["sleep"]
            if isinstance(secs, bool) or not isinstance(secs, int | float) or not 0 < secs <= 30:
                raise self.fail(f"{where}.sleep", "must be a number of seconds above 0, at most 30")
            return Step("sleep", seconds=float(secs))
        if kind == "shutdown":
            how = self.string(data["shutdown"], f"{where}.shutdown", nonempty=False)
            if how not in ("", "SAVE", "NOSAVE"):
                raise self.fail(f"{where}.shutdown", f"{how!r} is not '', 'SAVE' or 'NOSAVE'")
            if not last:
                raise self.fail(f"{where}.shutdown", "must be the last step")
            return Step("shutdown", args=("SHUTDOWN", how) if how else ("SHUTDOWN",))
        if kind == "read":
            conn = self.string(data["read"], f"{where}.read")
            return Step("read", conn=conn, reply=reply, contains=texts.get("contains"))
        args = self.strings(data["cmd"], f"{where}.cmd")
        if not args or not args[0]:
            raise self.fail(f"{where}.cmd", "must start with a command name")
        for i, a in enumerate(args):
            self.placeholders(a, f"{where}.cmd[{i}]")
        on = self.string(data.get("on", "server"), f"{where}.on")
        if on not in ("server", "replica"):
            raise self.fail(f"{where}.on", f"{on!r} is neither 'server' nor 'replica'")
        return Step(
            "cmd",
            args=args,
            conn=texts.get("conn", "main"),
            on=on,
            reply=reply,
            error=texts.get("error"),
            contains=texts.get("contains"),
            until=texts.get("until"),
            until_not=texts.get("until_not"),
            repeat=self.count(data.get("repeat", 1), f"{where}.repeat", 1_000_000),
            clients=self.count(data.get("clients", 1), f"{where}.clients", 64),
        )

    def redis_parts(
        self, data: Mapping[str, object], where: str
    ) -> tuple[tuple[tuple[str, str], ...], bool, tuple[Step, ...]]:
        config: list[tuple[str, str]] = []
        for k, v in self.table(data.get("config", {}), f"{where}.config").items():
            if not k or not k.replace("-", "").isalnum():
                raise self.fail(f"{where}.config", f"{k!r} is not a redis config directive")
            text = self.string(v, f"{where}.config.{k}", nonempty=False)
            if "\n" in text:
                raise self.fail(f"{where}.config.{k}", "must be one line")
            self.placeholders(text, f"{where}.config.{k}")
            config.append((k, text))
        replica = data.get("replica", False)
        if not isinstance(replica, bool):
            raise self.fail(f"{where}.replica", "must be true or false")
        raw = data.get("steps", [])
        if not isinstance(raw, list) or not raw:
            raise self.fail(f"{where}.steps", "must be a non-empty array of step tables")
        steps = tuple(
            self.step(v, f"{where}.steps[{i}]", i == len(raw) - 1) for i, v in enumerate(raw)
        )
        if replica is False and any(s.on == "replica" for s in steps):
            raise self.fail(f"{where}.steps", "a step runs on the replica but replica is not true")
        return tuple(config), replica, steps

    def scenario(self, value: object, index: int, driver: str) -> Scenario:
        where = f"scenario[{index}]"
        data = self.table(value, where)
        known = _SCENARIO_KEYS | (_REDIS_KEYS if driver == "redis" else set())
        self.unknown(data, known, f"{where}.")
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
        config: tuple[tuple[str, str], ...] = ()
        replica = False
        steps: tuple[Step, ...] = ()
        if driver == "redis":
            config, replica, steps = self.redis_parts(data, where)
        return Scenario(
            name=name,
            tag=tag,
            argv=argv,
            stdin=stdin,
            exit=exit_status,
            stdout_contains=expected,
            env=tuple(env),
            files=tuple(files),
            config=config,
            replica=replica,
            steps=steps,
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
        driver = self.string(data.get("driver", "stdin"), "driver")
        if driver not in DRIVERS:
            raise self.fail("driver", f"{driver!r} is not one of {', '.join(DRIVERS)}")
        phases = self.strings(data.get("phases", []), "phases")
        for i, spec in enumerate(phases):
            try:
                parse_trigger(spec)
            except UsageError as err:
                raise self.fail(f"phases[{i}]", str(err)) from None
        raw = data["scenario"]
        if not isinstance(raw, list) or not raw:
            raise self.fail("scenario", "must be a non-empty array of tables ([[scenario]])")
        scenarios = tuple(self.scenario(v, i, driver) for i, v in enumerate(raw))
        seen: set[str] = set()
        for s in scenarios:
            if s.name in seen:
                raise self.fail(f"scenario {s.name!r}.name", "appears twice")
            seen.add(s.name)
        return Workload(name, program, fixture, description, scenarios, driver, phases)


def parse(text: str, source: str) -> Workload:
    """Parse a scenario file's text; ``source`` (its name) starts every error message."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{source}: not valid TOML ({err})") from None
    except ValueError:  # int() of a decimal integer of more than 4300 digits
        raise UsageError(f"{source}: not valid TOML (an integer with too many digits)") from None
    return _Parser(source).workload(data)
