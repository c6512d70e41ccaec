"""Scenario files: a workload as data (TOML), parsed strictly into frozen dataclasses.

A file names a workload, its program and an optional fixture (what the runner
builds before the scenarios: ``none`` or ``ls-tree``), then a list of
``[[scenario]]`` tables, each tagged ``train`` or ``test``. Errors are one
sentence naming the file and the key (:class:`sysphase.errors.UsageError`),
made by the strict decoder the profile and policy files share
(:class:`sysphase.model.strict_json.Decoder`, through
:class:`sysphase.workloads.scenario_steps.TextDecoder`). A scenario of a
service driver (redis, nginx, memcached) also has the steps a client plays;
redis's are parsed here, nginx's and memcached's in ``scenario_steps``.
docs/workloads.md documents the format. Pure: no OS access beyond reading text
the caller hands in.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TypeAlias

from sysphase.errors import UsageError
from sysphase.model.phases import parse_trigger
from sysphase.model.strict_json import Fields
from sysphase.workloads.scenario_steps import PLACEHOLDERS, CacheStep, HttpStep, ServiceDecoder

__all__ = [
    "ANY_EXIT",
    "DRIVERS",
    "FIXTURES",
    "GENERATORS",
    "PLACEHOLDERS",
    "TAGS",
    "TIMEOUT",
    "Scenario",
    "Step",
    "Workload",
    "parse",
]

TAGS = ("train", "test")
#: Scenario.exit of a generated scenario that goes past errors: any status but a signal's
ANY_EXIT = -1
FIXTURES = ("none", "ls-tree")
#: ``generate``: where generated train scenarios come from (the runner adds them at load time)
GENERATORS = {
    "ls-help": "one per option PROGRAM --help lists, over {tree} (workloads.help_options)",
    "redis-commands": "every command of COMMAND DOCS, DEBUG HELP, CONFIG GET * "
    "(workloads.redis_commands)",
    "sqlite-catalog": "every pragma, SQL function and dot-command the shell lists "
    "(workloads.sqlite_catalog)",
}
#: how the runner talks to the program: stdin in / stdout checked, or a server and its client
DRIVERS = ("stdin", "redis", "nginx", "memcached")
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
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

_TOP = Fields(
    ("workload", "program", "scenario"), ("fixture", "description", "driver", "phases", "generate")
)
_SCENARIO = Fields(
    ("name", "tag", "argv"), ("stdin", "exit", "stdout_contains", "env", "files", "timeout")
)
#: seconds a scenario's program may run (driver stdin) unless its ``timeout`` says otherwise
TIMEOUT = 120.0
#: the keys a scenario has with each server driver
_DRIVER_KEYS = {
    "redis": ("config", "replica", "peer", "steps"),
    "nginx": ("config", "steps"),
    "memcached": ("steps",),
}
#: a JSON-like expected reply: string, integer, array of those, or false for nil
Expected: TypeAlias = "str | int | bool | tuple[Expected, ...]"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a redis scenario: a command, a pushed message to read, a pause or SHUTDOWN.

    ``kind`` is one of STEP_KINDS, or ``probe`` (generated, never in a file): ``args``
    sent after ``setup`` on a connection opened for it and closed after, any reply
    accepted. A ``cmd`` step sends ``args`` on connection ``conn``
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
    #: kind ``probe`` (generated steps, sysphase.workloads.redis_commands): commands sent
    #: first on the probe's own connection
    setup: tuple[tuple[str, ...], ...] = ()
    #: what the step covers, as provenance names it ("CLIENT NO-EVICT"); "" = its command
    label: str = ""


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
    #: driver "stdin": seconds the program may run before it is killed and the run fails
    timeout: float = TIMEOUT
    #: driver "redis": config directives added to the server's redis.conf
    config: tuple[tuple[str, str], ...] = ()
    #: driver "redis": start an untraced replica of the server first
    replica: bool = False
    #: driver "redis": start an untraced standalone server on {peer_port} first
    peer: bool = False
    #: driver "redis": what the client does, in order
    steps: tuple[Step, ...] = ()
    #: driver "nginx": the HTTP client's steps (``config``: directives per nginx.conf context)
    http_steps: tuple[HttpStep, ...] = ()
    #: driver "memcached": the text-protocol client's steps
    cache_steps: tuple[CacheStep, ...] = ()


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
    #: a key of GENERATORS, or "": the runner adds the generated scenarios at load time
    generate: str = ""

    def tagged(self, tag: str) -> tuple[Scenario, ...]:
        """The scenarios with this tag, in file order."""
        return tuple(s for s in self.scenarios if s.tag == tag)


def _directive_problem(key: str) -> str | None:
    if not key or not key.replace("-", "").isalnum():
        return f"{key!r} is not a redis config directive"
    return None


def _variable_problem(key: str) -> str | None:
    return f"{key!r} is not an environment variable name" if not key or "=" in key else None


def _file_problem(key: str) -> str | None:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return f"{key!r} must be a relative path inside {{tmp}}"
    return None


class _Parser(ServiceDecoder):
    """The scenario file's decoder: the shared checks, the service drivers' steps, redis's."""

    def number(self, value: object, path: str, low: float, high: float) -> float:
        """A number of seconds from LOW to HIGH."""
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not low <= value <= high
        ):
            self.fail(path, f"must be a number of seconds from {low:g} to {high:g}")
        return float(value)

    def expected(self, value: object, path: str) -> Expected:
        if isinstance(value, bool):
            if value:
                self.fail(path, "true is not a reply (false means nil)")
            return False
        if isinstance(value, str | int):
            return value
        if isinstance(value, list):
            return tuple(self.expected(v, f"{path}[{i}]") for i, v in enumerate(value))
        self.fail(path, f"expected a string, integer, array or false, got {self.show(value)}")

    # --- redis steps ---

    def step(self, value: object, where: str, last: bool) -> Step:
        data = self.map(value, where)
        kinds = [k for k in STEP_KINDS if k in data]
        if len(kinds) != 1:
            self.fail(where, f"needs exactly one of {', '.join(STEP_KINDS)}")
        kind = kinds[0]
        self.obj(data, where, (kind,), tuple(sorted(_STEP_KEYS[kind] - {kind})))
        texts: dict[str, str] = {}
        for k in ("conn", "error", "contains", "until", "until_not"):
            if k in data:
                texts[k] = self.string(data[k], f"{where}.{k}", nonempty=True)
        reply = self.expected(data["reply"], f"{where}.reply") if "reply" in data else None
        if kind == "sleep":
            return Step("sleep", seconds=self.seconds(data["sleep"], f"{where}.sleep"))
        if kind == "shutdown":
            how = self.string(data["shutdown"], f"{where}.shutdown")
            if how not in ("", "SAVE", "NOSAVE"):
                self.fail(f"{where}.shutdown", f"{how!r} is not '', 'SAVE' or 'NOSAVE'")
            if not last:
                self.fail(f"{where}.shutdown", "must be the last step")
            return Step("shutdown", args=("SHUTDOWN", how) if how else ("SHUTDOWN",))
        if kind == "read":
            conn = self.string(data["read"], f"{where}.read", nonempty=True)
            return Step("read", conn=conn, reply=reply, contains=texts.get("contains"))
        return self.command(data, where, texts, reply)

    def command(
        self, data: Mapping[str, object], where: str, texts: dict[str, str], reply: Expected | None
    ) -> Step:
        args = self.strings(data["cmd"], f"{where}.cmd")
        if not args or not args[0]:
            self.fail(f"{where}.cmd", "must start with a command name")
        for i, a in enumerate(args):
            self.placeholders(a, f"{where}.cmd[{i}]")
        on = self.string(data.get("on", "server"), f"{where}.on", nonempty=True)
        if on not in ("server", "replica", "peer"):
            self.fail(f"{where}.on", f"{on!r} is not 'server', 'replica' or 'peer'")
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
    ) -> tuple[tuple[tuple[str, str], ...], bool, bool, tuple[Step, ...]]:
        config = self.texts(data.get("config", {}), f"{where}.config", _directive_problem, True)
        replica = self.boolean(data.get("replica", False), f"{where}.replica")
        peer = self.boolean(data.get("peer", False), f"{where}.peer")
        raw = data.get("steps", [])
        if not isinstance(raw, list) or not raw:
            self.fail(f"{where}.steps", "must be a non-empty array of step tables")
        steps = tuple(
            self.step(v, f"{where}.steps[{i}]", i == len(raw) - 1) for i, v in enumerate(raw)
        )
        if not replica and any(s.on == "replica" for s in steps):
            self.fail(f"{where}.steps", "a step runs on the replica but replica is not true")
        if not peer and any(s.on == "peer" for s in steps):
            self.fail(f"{where}.steps", "a step runs on the peer but peer is not true")
        return config, replica, peer, steps

    # --- scenarios and the file ---

    def scenario(self, value: object, index: int, driver: str) -> Scenario:
        where = f"scenario[{index}]"
        own = _DRIVER_KEYS.get(driver, ())
        data = self.obj(value, where, _SCENARIO.required, (*_SCENARIO.optional, *own))
        name = self.string(data["name"], f"{where}.name", nonempty=True)
        if not _NAME.match(name):
            self.fail(f"{where}.name", f"{name!r} must be letters, digits, '_', '.' or '-'")
        where = f"scenario {name!r}"
        tag = self.string(data["tag"], f"{where}.tag", nonempty=True)
        if tag not in TAGS:
            self.fail(f"{where}.tag", f"{tag!r} is neither 'train' nor 'test'")
        argv = self.strings(data["argv"], f"{where}.argv")
        if not argv or not argv[0]:
            self.fail(f"{where}.argv", "must start with the program to run")
        for i, a in enumerate(argv):
            self.placeholders(a, f"{where}.argv[{i}]")
        stdin = self.text(data["stdin"], f"{where}.stdin") if "stdin" in data else None
        exit_status = self.integer(data.get("exit", 0), f"{where}.exit", minimum=None)
        if not 0 <= exit_status <= 255:
            self.fail(f"{where}.exit", f"{exit_status} is not between 0 and 255")
        expected = self.strings(data.get("stdout_contains", []), f"{where}.stdout_contains")
        env, files = self.env_and_files(data, where)
        timeout = TIMEOUT
        if "timeout" in data:
            timeout = self.number(data["timeout"], f"{where}.timeout", 0.1, 3600.0)
        plain = Scenario(name, tag, argv, stdin, exit_status, expected, env, files, timeout=timeout)
        return self.driver_parts(plain, data, where, driver)

    def driver_parts(
        self, plain: Scenario, data: Mapping[str, object], where: str, driver: str
    ) -> Scenario:
        """PLAIN with the keys of a server driver's scenario: config, replica, steps."""
        if driver == "redis":
            config, replica, peer, steps = self.redis_parts(data, where)
            return replace(plain, config=config, replica=replica, peer=peer, steps=steps)
        if driver == "nginx":
            config = self.nginx_config(data.get("config", {}), f"{where}.config")
            steps_http = self.http_steps(data.get("steps"), f"{where}.steps")
            return replace(plain, config=config, http_steps=steps_http)
        if driver == "memcached":
            return replace(plain, cache_steps=self.cache_steps(data.get("steps"), f"{where}.steps"))
        return plain

    def env_and_files(
        self, data: Mapping[str, object], where: str
    ) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
        env = self.texts(data.get("env", {}), f"{where}.env", _variable_problem, False)
        files = self.texts(data.get("files", {}), f"{where}.files", _file_problem, False)
        return env, files

    def workload(self, value: object) -> Workload:
        data = self.obj(value, "", *_TOP)
        name = self.string(data["workload"], "workload", nonempty=True)
        program = self.string(data["program"], "program", nonempty=True)
        fixture = self.string(data.get("fixture", "none"), "fixture", nonempty=True)
        if fixture not in FIXTURES:
            self.fail("fixture", f"{fixture!r} is not one of {', '.join(FIXTURES)}")
        description = self.string(data.get("description", ""), "description")
        driver = self.string(data.get("driver", "stdin"), "driver", nonempty=True)
        if driver not in DRIVERS:
            self.fail("driver", f"{driver!r} is not one of {', '.join(DRIVERS)}")
        phases = self.strings(data.get("phases", []), "phases")
        for i, spec in enumerate(phases):
            try:
                parse_trigger(spec)
            except UsageError as err:
                self.fail(f"phases[{i}]", str(err))
        generate = self.string(data.get("generate", ""), "generate")
        if generate and generate not in GENERATORS:
            self.fail("generate", f"{generate!r} is not one of {', '.join(GENERATORS)}")
        raw = data["scenario"]
        if not isinstance(raw, list) or not raw:
            self.fail("scenario", "must be a non-empty array of tables ([[scenario]])")
        scenarios = tuple(self.scenario(v, i, driver) for i, v in enumerate(raw))
        seen: set[str] = set()
        for s in scenarios:
            if s.name in seen:
                self.fail(f"scenario {s.name!r}.name", "appears twice")
            seen.add(s.name)
        return Workload(name, program, fixture, description, scenarios, driver, phases, generate)


def parse(text: str, source: str) -> Workload:
    """Parse a scenario file's text; ``source`` (its name) starts every error message.

    Errors are :class:`UsageError`, one sentence: ``SOURCE: KEY PATH: PROBLEM``
    (``SOURCE: PROBLEM`` for the file as a whole), in the words of the profile
    and policy decoders (:class:`sysphase.model.strict_json.Decoder`).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{source}: not valid TOML ({err})") from None
    except ValueError:  # int() of a decimal integer of more than 4300 digits
        raise UsageError(f"{source}: not valid TOML (an integer with too many digits)") from None
    return _Parser(source).workload(data)
