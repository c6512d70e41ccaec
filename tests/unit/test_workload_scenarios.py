"""The scenario file parser (sysphase.workloads.scenario) and the built-in scenario files."""

from __future__ import annotations

from importlib import resources

import pytest

from sysphase.errors import ProfileInvalid, UsageError
from sysphase.model.profile_codec import decode, encode
from sysphase.workloads.scenario import Scenario, parse
from tests.unit.profile_samples import sample_profile

GOOD = """
workload = "demo"
program = "cat"
description = "a demo"

[[scenario]]
name = "first"
tag = "train"
argv = ["cat", "{tmp}/in.txt"]
files = { "in.txt" = "hello {tmp}\\n" }
stdout_contains = ["hello"]

[[scenario]]
name = "second"
tag = "test"
argv = ["cat"]
stdin = "abc"
exit = 3
env = { LC_ALL = "C.UTF-8" }
"""


def test_good_file() -> None:
    w = parse(GOOD, "demo.toml")
    assert (w.name, w.program, w.fixture, w.description) == ("demo", "cat", "none", "a demo")
    assert w.scenarios[0] == Scenario(
        name="first",
        tag="train",
        argv=("cat", "{tmp}/in.txt"),
        stdout_contains=("hello",),
        files=(("in.txt", "hello {tmp}\n"),),
    )
    second = w.scenarios[1]
    assert (second.stdin, second.exit, second.env) == ("abc", 3, (("LC_ALL", "C.UTF-8"),))
    assert [s.name for s in w.tagged("train")] == ["first"]
    assert [s.name for s in w.tagged("test")] == ["second"]


def _scenario(**extra: str) -> str:
    body = {"name": '"s"', "tag": '"train"', "argv": '["cat"]', **extra}
    lines = "\n".join(f"{k} = {v}" for k, v in body.items() if v is not None)
    return f'workload = "w"\nprogram = "cat"\n[[scenario]]\n{lines}\n'


BAD = [
    ("workload = ", "not valid TOML"),
    (
        'program = "cat"\n[[scenario]]\nname="s"\ntag="train"\nargv=["cat"]\n',
        'bad.toml: missing key "workload"',
    ),
    ('workload = "w"\nprogram = "cat"\nscenario = []\n', "scenario: must be a non-empty"),
    (
        'workload = "w"\nprogram = "cat"\nextra = 1\n[[scenario]]\n',
        'extra: unknown key "extra" (known: description, driver, fixture, generate, phases,',
    ),
    ('workload = 5\nprogram = "cat"\nscenario = [{}]\n', "workload: expected a string, got 5"),
    (
        'workload = 1979-05-27\nprogram = "cat"\nscenario = [{}]\n',
        "workload: expected a string, got 1979-05-27",
    ),
    (
        'workload = "w"\nprogram = "cat"\nscenario = [[]]\n',
        "scenario[0]: expected a table, got an array",
    ),
    ('workload = "w"\nprogram = "cat"\nfixture = "x"\nscenario = [{}]\n', "fixture: 'x' is not"),
    (_scenario(name=None), 'scenario[0]: missing key "name"'),
    (_scenario(name='"a b"'), "scenario[0].name: 'a b' must be"),
    (_scenario(tag='"dev"'), "scenario 's'.tag: 'dev' is neither"),
    (_scenario(argv="[]"), "scenario 's'.argv: must start with the program"),
    (_scenario(argv='"cat"'), "scenario 's'.argv: expected an array, got \"cat\""),
    (_scenario(argv='["cat", 1]'), "scenario 's'.argv[1]: expected a string, got 1"),
    (_scenario(argv='["cat", "{nope}"]'), "scenario 's'.argv[1]: unknown placeholder {nope}"),
    (_scenario(exit='"0"'), "scenario 's'.exit: expected an integer, got \"0\""),
    (_scenario(exit="true"), "scenario 's'.exit: expected an integer, got true"),
    (_scenario(exit="300"), "scenario 's'.exit: 300 is not between"),
    (_scenario(stdin="1"), "scenario 's'.stdin: expected a string, got 1"),
    (_scenario(stdout_contains='"x"'), "scenario 's'.stdout_contains: expected an array, got"),
    (_scenario(env="[]"), "scenario 's'.env: expected a table, got an array"),
    (_scenario(env='{ "A=B" = "x" }'), "scenario 's'.env: 'A=B' is not"),
    (_scenario(files='{ "../x" = "x" }'), "scenario 's'.files: '../x' must be a relative"),
    (_scenario(files='{ "a" = 1 }'), "scenario 's'.files.a: expected a string, got 1"),
    (_scenario(files='{ "in.txt" = 1 }'), "scenario 's'.files[\"in.txt\"]: expected a string"),
    (_scenario(bogus="1"), 'scenario[0].bogus: unknown key "bogus" (known: argv, env, exit,'),
    (_scenario() + '[[scenario]]\nname="s"\ntag="test"\nargv=["cat"]\n', "'s'.name: appears twice"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_file_is_one_sentence_naming_file_and_key(text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse(text, "bad.toml")
    msg = str(info.value)
    assert msg.startswith("bad.toml: ")
    assert message in msg
    assert "\n" not in msg


def test_messages_read_like_the_profile_decoders() -> None:
    """The same shared checks make both: FILE: PATH: the same problem for the same value."""
    with pytest.raises(UsageError) as scenario_error:
        parse(_scenario(exit='"3"'), "bad.toml")
    with pytest.raises(ProfileInvalid) as profile_error:
        decode(encode(sample_profile()).replace('"runs": 1', '"runs": "3"'), "p.json")
    assert (
        str(scenario_error.value) == "bad.toml: scenario 's'.exit: expected an integer, got \"3\""
    )
    assert str(profile_error.value) == 'p.json: $.runs: expected an integer, got "3"'


@pytest.mark.parametrize("name", ["ls", "sqlite"])
def test_builtin_files_parse_and_split_train_and_test(name: str) -> None:
    text = resources.files("sysphase.workloads").joinpath(f"scenarios/{name}.toml").read_text()
    w = parse(text, f"{name}.toml")
    train, test = w.tagged("train"), w.tagged("test")
    assert train and test
    # train and test are different runs, not copies of each other
    assert not {(s.argv, s.stdin) for s in train} & {(s.argv, s.stdin) for s in test}
    assert not {s.stdin for s in train if s.stdin} & {s.stdin for s in test if s.stdin}
