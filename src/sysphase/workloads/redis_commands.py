"""Generated redis scenarios: every command the server describes, called with built arguments.

Pure. The inputs are what a running ``redis-server`` says about itself (the
runner asks an untraced server, sysphase.workloads.self_description):

- ``COMMAND DOCS``: every command and subcommand with its group and argument
  specs (RESP2: flat arrays). :func:`parse_docs` turns it into
  :class:`Command` values; :func:`command_scenarios` into one train scenario
  per command group (``commands-string``, ``commands-server``, ...), whose
  steps call each command of the group several ways: the required arguments
  only; every optional argument, once per alternative of its choices (``SET
  ... NX`` then ``XX``); and once with every number replaced by text (an error
  path). A key argument names a key of the group's type, created afresh
  before each call (:data:`KEYS`), so the call reaches its data path.
- ``DEBUG HELP``: the debugging subcommands and their arguments
  (:func:`parse_debug_help`), one scenario ``debug-subcommands``.
- ``CONFIG GET *``: every parameter, set to the value it already has
  (:func:`config_scenario`, ``config-set-each``).

Every generated step is a *probe* (scenario.Step kind ``probe``): it runs on
a connection of its own, opened for it and closed after, so a command that
changes its connection (SUBSCRIBE, MULTI, HELLO 3, CLIENT REPLY OFF, QUIT)
cannot disturb the next; any reply, error or closed connection passes; only a
server that stops answering fails the scenario. Commands that would end,
crash, stop or re-role the server (SHUTDOWN, DEBUG SEGFAULT, REPLICAOF,
MIGRATE, SYNC) are left out here (:data:`LEFT_OUT`, with the reason) and
covered by hand-written scenarios where they matter. The output is the same
for the same inputs and seed: the seed only rotates which alternative of a
choice the calls start from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sysphase.workloads.scenario import Scenario, Step

__all__ = [
    "GROUP_CONFIG",
    "KEYS",
    "LEFT_OUT",
    "MAX_CALLS",
    "Arg",
    "Command",
    "command_scenarios",
    "config_scenario",
    "debug_scenario",
    "parse_debug_help",
    "parse_docs",
]

#: commands (and subcommands) not generated, with why
LEFT_OUT = {
    "SHUTDOWN": "ends the server (every scenario's last step does it)",
    "MONITOR": "streams every later command to its connection",
    "SYNC": "turns its connection into a replication stream",
    "PSYNC": "turns its connection into a replication stream",
    "REPLICAOF": "makes the server a replica (scenario replica-of)",
    "SLAVEOF": "makes the server a replica (scenario replica-of)",
    "MIGRATE": "needs a target server (scenario migrate)",
    "FAILOVER": "hands the master role to a replica (scenario replica-of)",
    "DEBUG": "undocumented arguments: generated from DEBUG HELP instead",
    "CLIENT PAUSE": "a pause blocks every later probe (scenario client-pause-kill)",
    "CLIENT KILL": "may close the connections other steps use (scenario client-pause-kill)",
}
#: the config of a group's scenario: the cluster commands run on a server in cluster mode
#: (its bus on {replica_port}, which the runner keeps free)
GROUP_CONFIG = {
    "cluster": (
        ("cluster-enabled", "yes"),
        ("cluster-config-file", "{tmp}/nodes.conf"),
        ("cluster-port", "{replica_port}"),
    ),
}
#: DEBUG subcommands not generated: they crash or restart the server (ASSERT, OOM, PANIC,
#: SEGFAULT, CRASH-AND-RECOVER, RESTART), leak memory (LEAK), run a long fuzz test
#: (STRINGMATCH-TEST), need cluster mode (CLUSTERLINK, DROP-CLUSTER-PACKET-FILTER), or exit
#: the server when it has no AOF (LOADAOF: scenario aof-fsync-always runs it)
DEBUG_LEFT_OUT = frozenset(
    {"ASSERT", "CRASH-AND-RECOVER", "OOM", "PANIC", "RESTART", "SEGFAULT", "LEAK", "HELP",
     "STRINGMATCH-TEST", "CLUSTERLINK", "DROP-CLUSTER-PACKET-FILTER", "LOADAOF"}
)  # fmt: skip
#: CONFIG parameters not set again: setting them (even to their value) re-roles or stops work
CONFIG_LEFT_OUT = frozenset({"replicaof", "slaveof", "requirepass", "masterauth", "port", "bind"})
#: calls per command at most (the required-only call, one per alternative, the invalid one)
MAX_CALLS = 8

#: the key each group's commands get, and the commands that create it (afresh: DEL first)
KEYS: dict[str, tuple[str, tuple[tuple[str, ...], ...]]] = {
    "string": ("gen:string", (("SET", "gen:string", "10"),)),
    "list": ("gen:list", (("RPUSH", "gen:list", "a", "b", "c"),)),
    "hash": ("gen:hash", (("HSET", "gen:hash", "f", "1", "g", "2"),)),
    "set": ("gen:set", (("SADD", "gen:set", "a", "b", "c"),)),
    "sorted-set": ("gen:zset", (("ZADD", "gen:zset", "1", "a", "2", "b"),)),
    "geo": ("gen:geo", (("GEOADD", "gen:geo", "13.36", "38.11", "a", "15.08", "37.50", "b"),)),
    "hyperloglog": ("gen:hll", (("PFADD", "gen:hll", "a", "b"),)),
    "stream": (
        "gen:stream",
        (("XADD", "gen:stream", "1-1", "f", "v"), ("XGROUP", "CREATE", "gen:stream", "gen", "0")),
    ),
}
_KEY_OF_GROUP = {"bitmap": "string", "geo": "geo", "hyperloglog": "hyperloglog"}

#: argument values by name, before the type's default (a valid value the name implies)
_BY_NAME = {
    "pattern": "*",
    "script": "return 1",
    "function-code": "#!lua name=gen\nredis.register_function('gen', function() return 1 end)",
    "function": "gen",
    "library-name": "gen",
    "library-name-pattern": "gen",
    "group": "gen",
    "consumer": "c1",
    "groupname": "gen",
    "consumername": "c1",
    "host": "127.0.0.1",
    "port": "1",
    "ip:port": "127.0.0.1:1",
    "channel": "gen",
    "shardchannel": "gen",
    "message": "hello",
    "start": "-",
    "end": "+",
    "id": "1-1",
    "last-id": "1-1",
    "min-idle-time": "0",
    "numkeys": "1",
    "numreplicas": "0",
    "db": "1",
    "destination-db": "1",
    "index1": "0",
    "index2": "1",
    "username": "default",
    "password": "gen-password",
    "longitude": "13.36",
    "latitude": "38.11",
    "radius": "100",
    "width": "100",
    "height": "100",
    "unit": "km",
    "parameter": "maxmemory-policy",
    "value": "10",
    "increment": "2",
    "offset": "0",
    "start-offset": "0",
    "end-offset": "1",
    "serialized-value": "not-a-dump",
    "path": "/nonexistent/module.so",
}
#: numeric arguments by name: a small value (timeouts in ms / s never block long)
_NUMBERS = {"timeout": "10", "milliseconds": "10", "seconds": "100", "count": "2"}
_TYPE_DEFAULT = {
    "string": "x",
    "integer": "1",
    "double": "1.5",
    "unix-time": "4102444800",
    "pattern": "*",
}


@dataclass(frozen=True, slots=True)
class Arg:
    """One argument spec of ``COMMAND DOCS``: type, token, flags, nested arguments."""

    name: str
    type: str
    token: str = ""
    optional: bool = False
    multiple: bool = False
    multiple_token: bool = False
    args: tuple[Arg, ...] = ()


@dataclass(frozen=True, slots=True)
class Command:
    """A command or subcommand: its words (``("CLIENT", "NO-EVICT")``), group and arguments."""

    words: tuple[str, ...]
    group: str
    args: tuple[Arg, ...] = ()

    @property
    def name(self) -> str:
        return " ".join(self.words)


def _pairs(flat: object) -> dict[str, object]:
    """A RESP2 map (a flat array key, value, key, value ...) as a dict."""
    if not isinstance(flat, list) or len(flat) % 2:
        return {}
    return {str(flat[i]): flat[i + 1] for i in range(0, len(flat), 2)}


def _arg(raw: object) -> Arg:
    d = _pairs(raw)
    flags = d.get("flags") or []
    nested = d.get("arguments") or []
    return Arg(
        name=str(d.get("name", "")),
        type=str(d.get("type", "string")),
        token=str(d.get("token") or ""),
        optional="optional" in flags if isinstance(flags, list) else False,
        multiple="multiple" in flags if isinstance(flags, list) else False,
        multiple_token="multiple_token" in flags if isinstance(flags, list) else False,
        args=tuple(_arg(a) for a in nested) if isinstance(nested, list) else (),
    )


def _commands(name: str, docs: dict[str, object]) -> Iterator[Command]:
    subs = _pairs(docs.get("subcommands"))
    if subs:
        for sub_name, sub_docs in sorted(subs.items()):
            yield from _commands(sub_name, _pairs(sub_docs))
        return
    raw_args = docs.get("arguments") or []
    args = tuple(_arg(a) for a in raw_args) if isinstance(raw_args, list) else ()
    words = tuple(w.upper() for w in name.split("|"))
    yield Command(words, str(docs.get("group", "generic")), args)


def parse_docs(reply: object) -> tuple[Command, ...]:
    """Every command and subcommand of a ``COMMAND DOCS`` reply, sorted by name.

    A container (CLIENT, CONFIG, ...) is replaced by its subcommands. A reply
    that is not the documented shape gives no commands.
    """
    out: list[Command] = []
    for name, docs in _pairs(reply).items():
        out.extend(_commands(name, _pairs(docs)))
    return tuple(sorted(out, key=lambda c: c.words))


def _left_out(command: Command) -> bool:
    return any(" ".join(command.words[:n]) in LEFT_OUT for n in (1, 2))


def _key_type(command: Command) -> str:
    """The KEYS entry a command's key arguments name: its group's type, else a string."""
    kind = _KEY_OF_GROUP.get(command.group, command.group)
    return kind if kind in KEYS else "string"


def _value(arg: Arg, key: str, invalid: bool) -> str:
    if arg.type == "key":
        return key
    numeric = arg.type in ("integer", "double", "unix-time")
    if numeric and invalid:
        return "not-a-number"
    if arg.name == "timeout" and arg.type == "double":
        return "0.01"
    if numeric and arg.name in _NUMBERS:
        return _NUMBERS[arg.name]
    if arg.name in _BY_NAME:
        return _BY_NAME[arg.name]
    return _TYPE_DEFAULT.get(arg.type, "x")


def _choices(args: Sequence[Arg]) -> int:
    """The most alternatives any choice among ARGS (nested ones too) has."""
    widest = 1
    for a in args:
        if a.type == "oneof":
            widest = max(widest, len(a.args))
        widest = max(widest, _choices(a.args))
    return widest


def _render(args: Sequence[Arg], key: str, pick: int, full: bool, invalid: bool) -> list[str]:
    """The words of ARGS for one call: alternative ``pick`` of each choice (modulo its size)."""
    out: list[str] = []
    for a in args:
        if a.optional and not full:
            continue
        if a.token:
            out.append(a.token)
        if a.type == "pure-token":
            continue
        if a.type == "oneof":
            if a.args:
                out += _render((a.args[pick % len(a.args)],), key, pick, full, invalid)
        elif a.type == "block":
            out += _render(a.args, key, pick, full, invalid)
        else:
            out.append(_value(a, key, invalid))
    return out


def calls(command: Command, seed: int = 0) -> tuple[tuple[str, ...], ...]:
    """The argument lists to call COMMAND with, each once, at most MAX_CALLS, in a fixed order."""
    key = KEYS[_key_type(command)][0]
    made: list[tuple[str, ...]] = []

    def add(words: list[str]) -> None:
        call = (*command.words, *words)
        if call not in made and len(made) < MAX_CALLS:
            made.append(call)

    add(_render(command.args, key, seed, False, False))
    for k in range(_choices(command.args)):
        add(_render(command.args, key, seed + k, True, False))
    add(_render(command.args, key, seed, True, True))
    return tuple(made)


def _setup(command: Command) -> tuple[tuple[str, ...], ...]:
    """Database 0 and the command's key created afresh, when it takes a key."""
    if not _takes_key(command.args):
        return ()
    key, create = KEYS[_key_type(command)]
    return (("SELECT", "0"), ("DEL", key), *create)


def _takes_key(args: Sequence[Arg]) -> bool:
    return any(a.type == "key" or _takes_key(a.args) for a in args)


def _scenario_name(prefix: str, text: str) -> str:
    return prefix + re.sub(r"[^A-Za-z0-9_.-]", "-", text.lower())


def _scenario(
    name: str, argv: tuple[str, ...], steps: list[Step], config: tuple[tuple[str, str], ...] = ()
) -> Scenario:
    shutdown = Step("shutdown", args=("SHUTDOWN", "NOSAVE"))
    return Scenario(name, "train", argv, config=config, steps=(*steps, shutdown))


def command_scenarios(
    commands: Sequence[Command], argv: tuple[str, ...], seed: int = 0
) -> tuple[Scenario, ...]:
    """One train scenario per command group, ``commands-GROUP``, probing each of its commands."""
    groups: dict[str, list[Step]] = {}
    for command in commands:
        if _left_out(command):
            continue
        setup = _setup(command)
        steps = groups.setdefault(command.group, [])
        for call in calls(command, seed):
            steps.append(Step("probe", args=call, setup=setup, label=command.name))
    return tuple(
        _scenario(_scenario_name("commands-", group), argv, steps, GROUP_CONFIG.get(group, ()))
        for group, steps in sorted(groups.items())
    )


# "POPULATE <count> [<prefix>] [<size>]", "QUICKLIST <key> [<0|1>]", "LOADAOF"
_DEBUG_LINE = re.compile(r"^(?P<name>[A-Z][A-Z0-9-]*)(?P<rest>(?: .*)?)$")
_PLACEHOLDER = re.compile(r"<([^>]*)>")
#: values for DEBUG HELP's placeholders, by name
_DEBUG_VALUES = {
    "key": KEYS["string"][0],
    "count": "100",
    "size": "10",
    "prefix": "dbg",
    "dbid": "0",
    "microsec": "0",
    "milliseconds": "0",
    "seconds": "0",
    "string": "sysphase",
    "message": "sysphase",
    "val": "0",
    "type": "array",
}


def parse_debug_help(text: str) -> tuple[tuple[str, ...], ...]:
    """DEBUG's subcommands from ``DEBUG HELP`` (lines at column 0), each with filled-in arguments.

    Required placeholders (``<count>``) get a value by name; a choice (``<0|1>``)
    its first alternative; optional arguments (in brackets) are left out.
    """
    out: list[tuple[str, ...]] = []
    for line in text.splitlines():
        m = _DEBUG_LINE.match(line.rstrip())
        if m is None or m["name"] in DEBUG_LEFT_OUT or m["name"] == "DEBUG":
            continue
        required = re.sub(r"\[.*?\]", "", m["rest"]).split()
        args: list[str] = []
        for word in required:
            holder = _PLACEHOLDER.fullmatch(word)
            if holder is None:
                args.append(word)
                continue
            name = holder[1]
            args.append(name.split("|")[0] if "|" in name else _DEBUG_VALUES.get(name, "1"))
        out.append(("DEBUG", m["name"], *args))
    return tuple(out)


def debug_scenario(subcommands: Sequence[tuple[str, ...]], argv: tuple[str, ...]) -> Scenario:
    """``debug-subcommands``: each DEBUG subcommand once, over a string key and some data."""
    setup = (("SELECT", "0"), ("DEL", KEYS["string"][0]), *KEYS["string"][1])
    steps = [Step("cmd", args=("DEBUG", "POPULATE", "1000", "dbg", "20"), reply="OK")]
    steps += [Step("probe", args=c, setup=setup, label=" ".join(c[:2])) for c in subcommands]
    return _scenario("debug-subcommands", argv, steps)


def config_scenario(reply: object, argv: tuple[str, ...]) -> Scenario:
    """``config-set-each``: every parameter of ``CONFIG GET *`` set to the value it has."""
    values = _pairs(reply)
    steps = [
        Step("probe", args=("CONFIG", "SET", name, str(value)), label=f"CONFIG SET {name}")
        for name, value in sorted(values.items())
        if name not in CONFIG_LEFT_OUT
    ]
    return _scenario("config-set-each", argv, steps)
