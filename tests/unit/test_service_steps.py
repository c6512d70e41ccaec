"""The nginx and memcached workloads' pure parts: scenario steps, the two clients' parsers,
reply checks, the generated nginx.conf, and the built-in scenario files."""

from __future__ import annotations

import gzip
from importlib import resources

import pytest

from sysphase.errors import UsageError
from sysphase.workloads import http_client, memcache_client
from sysphase.workloads.memcached_driver import cas_of
from sysphase.workloads.memcached_driver import check as cache_check
from sysphase.workloads.nginx_driver import check as http_check
from sysphase.workloads.nginx_driver import config_text, docroot_files
from sysphase.workloads.scenario import parse
from sysphase.workloads.scenario_steps import CacheStep, HttpStep


def _builtin(name: str):
    text = resources.files("sysphase.workloads").joinpath(f"scenarios/{name}.toml").read_text()
    return parse(text, f"{name}.toml")


@pytest.mark.parametrize(
    ("name", "phases"),
    [
        ("nginx", ("serve=symbol:ngx_process_events_and_timers",)),
        ("memcached", ("listening=syscall:listen", "serve=syscall:epoll_ctl")),
    ],
)
def test_builtin_files_parse_and_split_train_and_test(name: str, phases: tuple[str, ...]) -> None:
    w = _builtin(name)
    assert (w.driver, w.program, w.phases) == (name, name, phases)
    train, test = w.tagged("train"), w.tagged("test")
    assert len(train) >= 3 and len(test) >= 3
    steps = [s.http_steps or s.cache_steps for s in w.scenarios]
    assert all(steps)
    # train and test are different traffic, not copies of each other
    train_steps = {st for s in train for st in (s.http_steps or s.cache_steps)}
    test_steps = {st for s in test for st in (s.http_steps or s.cache_steps)}
    assert len(test_steps - train_steps) >= len(test_steps) // 2
    # the servers run in the foreground, on the scenario's port, never as a daemon
    for s in w.scenarios:
        assert "-d" not in s.argv
        assert ("{port}" in s.argv) if name == "memcached" else ("daemon off;" in s.argv[-1])


NGINX = """
workload = "n"
program = "nginx"
driver = "nginx"
[[scenario]]
name = "one"
tag = "train"
argv = ["nginx", "-p", "{tmp}"]
config = { http = "gzip on;", server = "location /x { return 204; }" }
steps = [
  { request = "GET /index.html", status = 200, contains = "hi" },
  { request = "PUT /up/{port}.txt", body = "data", headers = { X-Test = "1" } },
  { request = "HEAD /big.bin", clients = 3, repeat = 4, length = 0, conn = "c" },
  { sleep = 0.5 },
  { signal = "HUP" },
  { signal = "sigquit" },
]
"""


def test_nginx_scenario_parses() -> None:
    (s,) = parse(NGINX, "n.toml").scenarios
    assert s.config == (("http", "gzip on;"), ("server", "location /x { return 204; }"))
    assert [st.kind for st in s.http_steps] == [
        "request",
        "request",
        "request",
        "sleep",
        "signal",
        "signal",
    ]
    assert s.http_steps[0] == HttpStep(
        "request", method="GET", target="/index.html", status=200, contains="hi"
    )
    assert s.http_steps[1].headers == (("X-Test", "1"),) and s.http_steps[1].body == "data"
    assert (s.http_steps[2].clients, s.http_steps[2].repeat, s.http_steps[2].conn) == (3, 4, "c")
    assert s.http_steps[5].signal == "QUIT"


MEMCACHED = """
workload = "m"
program = "memcached"
driver = "memcached"
[[scenario]]
name = "one"
tag = "test"
argv = ["memcached", "-p", "{port}"]
steps = [
  { cmd = "set k 0 0 2", data = "hi", reply = "STORED" },
  { cmd = "set big 0 0 1000", size = 1000, clients = 2, repeat = 3 },
  { cmd = "cas k 0 0 1 {cas}", data = "x", contains = "STORED" },
  { cmd = "delete k noreply" },
  { cmd = "mg k v q", quiet = true },
  { signal = "TERM" },
]
"""


NO_STEPS = NGINX.split("steps = [")[0] + "steps = []\n"


def test_memcached_scenario_parses() -> None:
    (s,) = parse(MEMCACHED, "m.toml").scenarios
    assert s.cache_steps[0] == CacheStep("cmd", line="set k 0 0 2", data="hi", reply="STORED")
    assert (s.cache_steps[1].size, s.cache_steps[1].clients, s.cache_steps[1].repeat) == (
        1000,
        2,
        3,
    )
    assert s.cache_steps[3].quiet and s.cache_steps[4].quiet
    assert s.cache_steps[5] == CacheStep("signal", signal="TERM")


BAD = [
    (NGINX, '"GET /index.html"', '"get index"', 'steps[0].request: "get index" is not'),
    (NGINX, "status = 200", "status = 99", "steps[0].status: 99 is below 100"),
    (NGINX, 'body = "data"', 'body = "d", body_size = 5', "steps[1]: has both body and"),
    (NGINX, 'X-Test = "1"', '"X Test" = "1"', "steps[1].headers: 'X Test' is not an HTTP"),
    (NGINX, "{port}.txt", "{nope}.txt", "steps[1].request: unknown placeholder {nope}"),
    (NGINX, "clients = 3", "clients = 65", "steps[2].clients: must be an integer from 1"),
    (NGINX, "length = 0", "bytes = 0", 'steps[2].bytes: unknown key "bytes"'),
    (NGINX, "{ sleep = 0.5 }", "{ sleep = 0 }", "steps[3].sleep: must be a number of"),
    (NGINX, '"HUP"', '"KILL"', 'steps[4].signal: "KILL" is not one of HUP, USR1, QUIT'),
    (NGINX, '"HUP"', '"TERM"', "steps[4].signal: SIGTERM stops the server, so it must"),
    (NGINX, "server = ", "stream = ", "config: 'stream' is not one of main, events"),
    (NO_STEPS, "steps = []", "steps = []", "steps: must be a non-empty array of step"),
    (NGINX, 'driver = "nginx"', 'driver = "memcached"', "scenario[0].config: unknown key"),
    (MEMCACHED, '"set k 0 0 2"', '"set k\\r\\n"', "steps[0].cmd: must be one line"),
    (MEMCACHED, 'data = "hi"', 'data = "hi", size = 2', "steps[0]: has both data and size"),
    (MEMCACHED, "{cas}", "{cas2}", "steps[2].cmd: unknown placeholder {cas2}"),
    (MEMCACHED, 'noreply" }', 'noreply", reply = "x" }', "steps[3]: a quiet command gets"),
    (MEMCACHED, "quiet = true", "quiet = 1", "steps[4].quiet: expected true or false, got 1"),
    (MEMCACHED, '"TERM"', '"QUIT"', 'steps[5].signal: "QUIT" is not one of HUP, TERM'),
    (MEMCACHED, "size = 1000", "size = 99999999999", "steps[1].size: 99999999999 is above"),
]


@pytest.mark.parametrize(("text", "old", "new", "message"), BAD, ids=[m for *_, m in BAD])
def test_bad_service_scenarios_are_one_sentence(
    text: str, old: str, new: str, message: str
) -> None:
    assert old in text
    with pytest.raises(UsageError) as err:
        parse(text.replace(old, new, 1), "s.toml")
    msg = str(err.value)
    assert msg.startswith("s.toml: ") and "\n" not in msg
    assert message in msg


def test_nginx_config_is_self_contained() -> None:
    text = config_text("/tmp/x", 18080, [("http", "gzip on;"), ("server", "autoindex on;")], True)
    assert "listen 127.0.0.1:18080;" in text and "worker_processes 2;" in text
    assert "pid /tmp/x/nginx.pid;" in text and "root /tmp/x/html;" in text
    assert "client_body_temp_path /tmp/x/temp/client_body;" in text
    assert "/etc/nginx" not in text and "daemon" not in text
    assert text.index("gzip on;") < text.index("server {") < text.index("autoindex on;")
    assert text.startswith("user nobody nogroup;")
    assert "user " not in config_text("/tmp/x", 18080, [], False)
    names = [name for name, _ in docroot_files()]
    assert {"index.html", "big.bin", "text/lorem.txt", "files/a.txt"} <= set(names)


def test_http_request_encoding() -> None:
    assert http_client.encode("GET", "/a", "h:1", [("Range", "bytes=0-1")], b"") == (
        b"GET /a HTTP/1.1\r\nHost: h:1\r\nRange: bytes=0-1\r\n\r\n"
    )
    assert http_client.encode("PUT", "/u", "h", [], b"abc").endswith(
        b"Content-Length: 3\r\n\r\nabc"
    )


def test_http_parser_takes_pipelined_chunked_head_and_304() -> None:
    p = http_client.Parser()
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n")
    first = p.take()
    assert first is not None and (first.status, first.body) == (200, b"hello")
    assert p.take() is None
    p.feed(b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")
    chunked = p.take()
    assert chunked is not None and chunked.body == b"abcde"
    p.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n")
    head = p.take(head=True)
    assert head is not None and head.body == b"" and head.header("content-length") == "99"
    p.feed(b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n")
    assert p.take() == http_client.Response(304, (("ETag", "x"),), b"")
    p.feed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil eof")
    assert p.take() is None
    p.feed(b"")
    last = p.take()
    assert last is not None and last.body == b"until eof"


def test_http_parser_refuses_what_is_not_http() -> None:
    p = http_client.Parser()
    p.feed(b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(http_client.ProtocolError):
        p.take()


def test_http_check_and_gzip() -> None:
    body = gzip.compress(b"lorem ipsum")
    r = http_client.Response(200, (("Content-Encoding", "gzip"), ("Vary", "Accept")), body)
    assert r.text() == "lorem ipsum"
    assert http_check(HttpStep("request", status=200, contains="ipsum"), r) is None
    assert http_check(HttpStep("request", header="content-encoding: GZIP"), r) is None
    assert http_check(HttpStep("request", status=404), r) == "status 200, expected 404"
    assert http_check(HttpStep("request", length=1), r) == (
        f"a body of {len(body)} bytes, expected 1"
    )
    assert "lacks 'nope'" in (http_check(HttpStep("request", contains="nope"), r) or "")
    assert "no header line holds" in (http_check(HttpStep("request", header="x-y"), r) or "")


def test_memcache_parser_takes_every_reply_shape() -> None:
    assert memcache_client.encode("set k 0 0 2", b"hi") == b"set k 0 0 2\r\nhi\r\n"
    p = memcache_client.Parser()
    p.feed(b"STORED\r\nVALUE a 0 2 7\r\nhi\r\nVALUE b 1 3 8\r\nx\r\n\r\nEND\r\nVA 2 f1\r\nok\r\n")
    assert p.take() == ["STORED"]
    assert p.take() == ["VALUE a 0 2 7", "hi", "VALUE b 1 3 8", "x\r\n", "END"]
    assert p.take() == ["VA 2 f1", "ok"]
    p.feed(b"STAT pid 1\r\nSTAT threads 4\r\nEN")
    assert p.take() is None
    p.feed(b"D\r\nkey=a exp=-1\nkey=b exp=-1\nEND\r\nCLIENT_ERROR bad\r\n")
    assert p.take() == ["STAT pid 1", "STAT threads 4", "END"]
    assert p.take() == ["key=a exp=-1", "key=b exp=-1", "END"]
    reply = p.take()
    assert reply == ["CLIENT_ERROR bad"] and memcache_client.is_error(reply)
    assert not memcache_client.is_error(["ERROR: shutdown not enabled"])
    p.feed(b"VALUE a 0 zz\r\n")
    with pytest.raises(memcache_client.ProtocolError):
        p.take()


def test_memcache_check_and_cas() -> None:
    reply = ["VALUE k 0 2 42", "hi", "END"]
    assert cas_of(reply) == "42" and cas_of(["VALUE k 0 2", "hi", "END"]) is None
    assert cache_check(CacheStep("cmd", reply="VALUE k 0 2 42\nhi\nEND"), reply) is None
    assert cache_check(CacheStep("cmd", contains="hi"), reply) is None
    assert cache_check(CacheStep("cmd", reply="STORED"), ["EXISTS"]) == (
        "reply 'EXISTS', expected 'STORED'"
    )
    assert cache_check(CacheStep("cmd"), ["SERVER_ERROR out of memory"]) == (
        "error reply 'SERVER_ERROR out of memory'"
    )
    assert cache_check(CacheStep("cmd", reply="ERROR"), ["ERROR"]) is None
