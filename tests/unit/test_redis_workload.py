"""The redis workload's pure parts: RESP encoding and parsing, reply checks, scenario steps."""

from __future__ import annotations

import pytest

from sysphase.errors import UsageError
from sysphase.workloads import resp
from sysphase.workloads.redis_driver import check, config_text
from sysphase.workloads.scenario import Step, parse


def test_encode_is_an_array_of_bulk_strings() -> None:
    assert (
        resp.encode(["SET", "k", "héllo"])
        == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\nh\xc3\xa9llo\r\n"
    )


def test_parser_takes_every_reply_type_and_waits_for_more() -> None:
    p = resp.Parser()
    p.feed(b"+OK\r\n-ERR bad\r\n:42\r\n$-1\r\n*2\r\n$3\r\nabc\r\n*1\r\n:7\r\n$5\r\nhel")
    assert p.take() == (True, "OK")
    assert p.take() == (True, resp.ReplyError("ERR bad"))
    assert p.take() == (True, 42)
    assert p.take() == (True, None)
    assert p.take() == (True, ["abc", [7]])
    assert p.take() == (False, None)
    p.feed(b"lo\r\n")
    assert p.take() == (True, "hello")
    assert p.take() == (False, None)


def test_parser_refuses_what_is_not_resp() -> None:
    p = resp.Parser()
    p.feed(b"?what\r\n")
    with pytest.raises(resp.ProtocolError):
        p.take()


@pytest.mark.parametrize(
    ("step", "reply", "problem"),
    [
        (Step("cmd", reply="OK"), "OK", None),
        (Step("cmd", reply="OK"), "NO", "reply 'NO', expected 'OK'"),
        (Step("cmd", reply=1), "1", "reply '1', expected 1"),
        (Step("cmd", reply=False), None, None),
        (Step("cmd", reply=False), "x", "reply 'x', expected False"),
        (Step("cmd", reply=("a", 1, False)), ["a", 1, None], None),
        (Step("cmd", reply=("a",)), ["a", "b"], "reply ['a', 'b'], expected ('a',)"),
        (Step("cmd"), resp.ReplyError("ERR x"), "error reply 'ERR x'"),
        (Step("cmd", error="ERR"), resp.ReplyError("ERR x"), None),
        (
            Step("cmd", error="WRONGTYPE"),
            resp.ReplyError("ERR x"),
            "error reply 'ERR x', expected one starting 'WRONGTYPE'",
        ),
        (Step("cmd", error="ERR"), "OK", "reply 'OK', expected an error starting 'ERR'"),
        (Step("cmd", contains="role:master"), "# Replication\r\nrole:master\r\n", None),
        (Step("cmd", contains="b"), ["a", ["b"]], None),
        (Step("cmd", contains="z"), ["a"], "reply 'a' lacks 'z'"),
    ],
)
def test_check(step: Step, reply: resp.Reply, problem: str | None) -> None:
    assert check(step, reply) == problem


def test_config_text_is_loopback_and_adds_the_scenario_lines() -> None:
    text = config_text("/tmp/x", 6390, [("io-threads", "2")])
    lines = text.splitlines()
    assert "port 6390" in lines and "bind 127.0.0.1" in lines and "dir /tmp/x" in lines
    assert 'save ""' in lines and lines[-1] == "io-threads 2"


REDIS = """
workload = "r"
program = "redis-server"
driver = "redis"
phases = ["serve=syscall:epoll_wait"]
[[scenario]]
name = "one"
tag = "train"
argv = ["redis-server", "{tmp}/redis.conf"]
config = { maxmemory = "4mb" }
replica = true
steps = [
  { cmd = ["SET", "k", "{port}"], reply = "OK" },
  { cmd = ["INCR", "n"], repeat = 10, clients = 2 },
  { cmd = ["INFO"], on = "replica", until = "up" },
  { read = "sub", reply = ["message", "c", "x"] },
  { sleep = 0.5 },
  { shutdown = "SAVE" },
]
"""


def test_redis_scenario_parses() -> None:
    w = parse(REDIS, "r.toml")
    assert (w.driver, w.phases) == ("redis", ("serve=syscall:epoll_wait",))
    (s,) = w.scenarios
    assert s.config == (("maxmemory", "4mb"),) and s.replica
    assert [st.kind for st in s.steps] == ["cmd", "cmd", "cmd", "read", "sleep", "shutdown"]
    assert s.steps[1] == Step("cmd", args=("INCR", "n"), repeat=10, clients=2)
    assert s.steps[2].on == "replica" and s.steps[2].until == "up"
    assert s.steps[3] == Step("read", conn="sub", reply=("message", "c", "x"))
    assert s.steps[5].args == ("SHUTDOWN", "SAVE")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'driver = "redis"',
            'driver = "http"',
            "r.toml: driver: 'http' is not one of stdin, redis",
        ),
        (
            'phases = ["serve=syscall:epoll_wait"]',
            'phases = ["serve=syscall:nope"]',
            "r.toml: phases[0]: --phase 'serve=syscall:nope': unknown syscall",
        ),
        (
            "{ sleep = 0.5 },",
            '{ sleep = 0.5, cmd = ["PING"] },',
            "steps[4]: needs exactly one of cmd, read, sleep, shutdown",
        ),
        (
            "{ sleep = 0.5 },",
            "{ sleep = 99 },",
            "steps[4].sleep: must be a number of seconds above 0, at most 30",
        ),
        ("repeat = 10", "repeat = 0", "steps[1].repeat: must be an integer from 1 to 1000000"),
        (
            'on = "replica"',
            'on = "elsewhere"',
            "steps[2].on: 'elsewhere' is not 'server', 'replica' or 'peer'",
        ),
        (
            '{ shutdown = "SAVE" },',
            '{ shutdown = "NOW" },',
            "steps[5].shutdown: 'NOW' is not '', 'SAVE' or 'NOSAVE'",
        ),
        ("{ sleep = 0.5 },", '{ shutdown = "" },', "steps[4].shutdown: must be the last step"),
        (
            'reply = "OK" },',
            "reply = true },",
            "steps[0].reply: true is not a reply (false means nil)",
        ),
        ('"{port}"', '"{nope}"', "steps[0].cmd[2]: unknown placeholder {nope}"),
        ("replica = true", "replica = false", "a step runs on the replica but replica is not true"),
        ('{ cmd = ["SET"', '{ verb = "x", cmd = ["SET"', "steps[0].verb: unknown key"),
        (
            'maxmemory = "4mb"',
            '"max memory" = "4mb"',
            "config: 'max memory' is not a redis config directive",
        ),
    ],
)
def test_bad_redis_scenarios(old: str, new: str, message: str) -> None:
    assert old in REDIS
    with pytest.raises(UsageError) as err:
        parse(REDIS.replace(old, new), "r.toml")
    assert message in str(err.value)


def test_redis_keys_need_the_redis_driver() -> None:
    text = REDIS.replace('driver = "redis"\n', "")
    with pytest.raises(UsageError, match=r"scenario\[0\]\.config: unknown key"):
        parse(text, "r.toml")
