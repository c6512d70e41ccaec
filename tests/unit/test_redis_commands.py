"""The redis generator (sysphase.workloads.redis_commands) on replies shaped like redis 7's.

Pure: the COMMAND DOCS reply below is RESP2-shaped literal data (flat arrays
for maps), a small part of what redis-server 7.0 answers; tests/e2e checks
the generator against the real server.
"""

from __future__ import annotations

from sysphase.workloads import redis_commands as rc

ARGV = ("redis-server", "{tmp}/redis.conf")


def _arg(name: str, kind: str, *extra: object) -> list[object]:
    return ["name", name, "type", kind, *extra]


def _doc(group: str, *args: list[object]) -> list[object]:
    return ["summary", "s", "since", "1.0.0", "group", group, "arguments", list(args)]


SET = _doc(
    "string",
    _arg("key", "key", "key_spec_index", 0),
    _arg("value", "string"),
    _arg(
        "condition",
        "oneof",
        "flags",
        ["optional"],
        "arguments",
        [_arg("nx", "pure-token", "token", "NX"), _arg("xx", "pure-token", "token", "XX")],
    ),
    _arg("get", "pure-token", "token", "GET", "flags", ["optional"]),
    _arg(
        "expiration",
        "oneof",
        "flags",
        ["optional"],
        "arguments",
        [
            _arg("seconds", "integer", "token", "EX"),
            _arg("milliseconds", "integer", "token", "PX"),
            _arg("keepttl", "pure-token", "token", "KEEPTTL"),
        ],
    ),
)
BLMOVE = _doc(
    "list",
    _arg("source", "key", "key_spec_index", 0),
    _arg("destination", "key", "key_spec_index", 1),
    _arg("timeout", "double"),
)
CLIENT = [
    "summary",
    "container",
    "group",
    "connection",
    "subcommands",
    [
        "client|no-evict",
        _doc(
            "connection",
            _arg(
                "enabled",
                "oneof",
                "arguments",
                [
                    _arg("on", "pure-token", "token", "ON"),
                    _arg("off", "pure-token", "token", "OFF"),
                ],
            ),
        ),
        "client|kill",
        _doc("connection", _arg("ip:port", "string")),
    ],
]
DOCS = ["set", SET, "blmove", BLMOVE, "client", CLIENT, "shutdown", _doc("server")]


def test_parse_docs_replaces_containers_by_their_subcommands():
    commands = rc.parse_docs(DOCS)
    assert [c.name for c in commands] == [
        "BLMOVE",
        "CLIENT KILL",
        "CLIENT NO-EVICT",
        "SET",
        "SHUTDOWN",
    ]
    (set_,) = [c for c in commands if c.name == "SET"]
    assert set_.group == "string"
    assert [a.name for a in set_.args] == ["key", "value", "condition", "get", "expiration"]
    assert set_.args[2].optional and set_.args[2].type == "oneof" and len(set_.args[2].args) == 2


def test_parse_docs_of_a_reply_that_is_not_docs_is_empty():
    assert rc.parse_docs("ERR unknown command") == ()
    assert rc.parse_docs(["set"]) == ()


def test_calls_start_with_the_required_arguments_then_each_alternative_then_an_invalid_one():
    (set_,) = [c for c in rc.parse_docs(DOCS) if c.name == "SET"]
    calls = rc.calls(set_)
    assert calls[0] == ("SET", "gen:string", "10")
    assert ("SET", "gen:string", "10", "NX", "GET", "EX", "100") in calls
    assert ("SET", "gen:string", "10", "XX", "GET", "PX", "10") in calls
    assert ("SET", "gen:string", "10", "NX", "GET", "KEEPTTL") in calls
    assert calls[-1] == ("SET", "gen:string", "10", "NX", "GET", "EX", "not-a-number")
    assert len(calls) == len(set(calls)) <= rc.MAX_CALLS
    assert rc.calls(set_) == calls  # deterministic
    assert rc.calls(set_, seed=1)[1] != calls[1]  # the seed rotates the alternatives


def test_a_timeout_never_blocks_long_and_keys_are_of_the_groups_type():
    (blmove,) = [c for c in rc.parse_docs(DOCS) if c.name == "BLMOVE"]
    assert rc.calls(blmove)[0] == ("BLMOVE", "gen:list", "gen:list", "0.01")


def test_command_scenarios_probe_every_command_but_the_left_out_ones():
    scenarios = rc.command_scenarios(rc.parse_docs(DOCS), ARGV)
    by_name = {s.name: s for s in scenarios}
    assert set(by_name) == {"commands-connection", "commands-list", "commands-string"}
    labels = {st.label for s in scenarios for st in s.steps if st.kind == "probe"}
    assert labels == {"BLMOVE", "CLIENT NO-EVICT", "SET"}  # CLIENT KILL, SHUTDOWN left out
    assert "CLIENT KILL" in rc.LEFT_OUT and "SHUTDOWN" in rc.LEFT_OUT
    for s in scenarios:
        assert s.tag == "train" and s.argv == ARGV
        assert s.steps[-1].kind == "shutdown"
    set_step = by_name["commands-string"].steps[0]
    assert set_step.setup == (("SELECT", "0"), ("DEL", "gen:string"), ("SET", "gen:string", "10"))
    evict = by_name["commands-connection"].steps[0]
    assert evict.setup == ()  # no key: nothing to create
    assert {st.args for st in by_name["commands-connection"].steps[:2]} == {
        ("CLIENT", "NO-EVICT", "ON"),
        ("CLIENT", "NO-EVICT", "OFF"),
    }


DEBUG_HELP = """DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:
AOF-FLUSH-SLEEP <microsec>
    Server will sleep before flushing the AOF, this is used for testing.
DIGEST-VALUE <key> [<key> ...]
    Output a hex signature of the values of all the specified keys.
POPULATE <count> [<prefix>] [<size>]
    Create <count> string keys named key:<num>.
QUICKLIST <key> [<0|1>]
    Show low level info about the quicklist encoding of <key>.
SET-ACTIVE-EXPIRE <0|1>
    Setting it to 0 disables expiring keys in background.
SEGFAULT
    Crash the server with sigsegv.
HELP
    Prints this help."""


def test_debug_help_gives_each_subcommand_with_its_required_arguments():
    assert rc.parse_debug_help(DEBUG_HELP) == (
        ("DEBUG", "AOF-FLUSH-SLEEP", "0"),
        ("DEBUG", "DIGEST-VALUE", "gen:string"),
        ("DEBUG", "POPULATE", "100"),
        ("DEBUG", "QUICKLIST", "gen:string"),
        ("DEBUG", "SET-ACTIVE-EXPIRE", "0"),
    )
    scenario = rc.debug_scenario(rc.parse_debug_help(DEBUG_HELP), ARGV)
    assert scenario.name == "debug-subcommands"
    assert [s.label for s in scenario.steps if s.kind == "probe"][:2] == [
        "DEBUG AOF-FLUSH-SLEEP",
        "DEBUG DIGEST-VALUE",
    ]


def test_config_scenario_sets_each_parameter_to_its_value_but_the_left_out_ones():
    scenario = rc.config_scenario(["maxmemory", "0", "port", "6379", "hz", "10"], ARGV)
    assert [s.args for s in scenario.steps if s.kind == "probe"] == [
        ("CONFIG", "SET", "hz", "10"),
        ("CONFIG", "SET", "maxmemory", "0"),
    ]
    assert scenario.name == "config-set-each"
