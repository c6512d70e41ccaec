"""Names from profiles cannot reach a terminal raw, nor break the files they are written into.

A profile's program paths, phase names and argv are chosen by the traced
program (a marker names its phase). Here they carry terminal escapes
(ESC, OSC with BEL, C1 CSI), a C comment terminator and a newline followed by
``#include <evil>``, a line separator (U+2028), bytes ``os.fsdecode`` could
not decode and a lone surrogate: every policy format stays valid (the C
formats compile, the YAML parses to the same document, the systemd drop-in
has the same lines) and no terminal output holds a control character.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sysphase.model import profile_codec, profile_diff
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Phase, ProcessNode, Profile, SyscallStat
from sysphase.model.tree import Node, NodeEnd, NodeKind, ProcessTree
from sysphase.policy import Policy, decode, explain, generate
from sysphase.policy.formats import FORMATS, needs_bpf, render
from sysphase.policy.formats._c_common import c_comment, c_string
from sysphase.report.escape import ascii_safe, terminal_safe
from sysphase.report.profile_view import render_diff, render_process_tree, render_stats
from sysphase.report.tree_view import render_tree
from tests.conftest import sysphase_cmd

EVIL_EXE = "/tmp/x*/\n#include <evil>\x1b[31m\u2028/\udcff??/ prog"
EVIL_CHILD = "/tmp/child\r\n#define X 1\x1b]0;pwn\x07\x9b2J"
EVIL_PHASE = "serve\x1b]0;pwn\x07*/\n#include <evil2>\u202e/*"
EVIL_ARGV = (EVIL_EXE, "a\x1b[2J\x9b\x00", "\udc9b\udcff", "b\u2029c\\")
#: names JSON can hold but os.fsdecode never makes
ODD_PHASE = "odd\ud800\x7f"

#: what every terminal line may hold: printable, no C0 (but \n, \t), no DEL, no C1
_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def terminal_clean(text: str) -> None:
    """No control character (nor line separator, nor lone surrogate) outside the newlines."""
    for line in text.split("\n"):
        assert not _FORBIDDEN.search(line), repr(line)
        assert line.isprintable(), repr(line)


def _stats(*names: str) -> FrozenMap[SyscallStat]:
    base = {"brk": 1, "mmap": 1, "munmap": 1, "read": 2}
    return FrozenMap({k: SyscallStat(v) for k, v in {**base, **dict.fromkeys(names, 1)}.items()})


def profile(exe: str, child: str, phase: str, argv: tuple[str, ...]) -> Profile:
    """A root program with two phases (the second from a marker) and an exec'd child."""
    root = ProcessNode(
        0,
        None,
        NodeKind.SPAWN,
        exe,
        argv,
        None,
        None,
        "exit 0",
        (
            Phase(0, "start", "start", _stats("getpid", "clone")),
            Phase(1, phase, "marker", _stats("write")),
            Phase(2, ODD_PHASE, "marker", _stats()),
        ),
    )
    kid = ProcessNode(
        1,
        0,
        NodeKind.FORK,
        child,
        (child, *argv[1:]),
        None,
        None,
        "exit 0",
        (Phase(0, "start", "start", _stats("getppid")),),
    )
    return Profile(argv, "x86_64", 1, True, (root, kid))


def hostile() -> Profile:
    return profile(EVIL_EXE, EVIL_CHILD, EVIL_PHASE, EVIL_ARGV)


def benign() -> Profile:
    """The same profile with plain names: the shape every output must keep."""
    return profile("/tmp/prog", "/tmp/child", "serve", ("/tmp/prog", "a", "b", "c"))


def policy_of(p: Profile) -> Policy:
    return generate(p, args=True)


def fake_bpf(policy: Policy) -> list[bytes]:
    """A valid tiny filter per phase (return ALLOW): the c-bpf format only lays it out."""
    return [b"\x06\x00\x00\x00\x00\x00\xff\x7f" for _ in policy.root_program.phases]


def text(fmt: str, policy: Policy) -> str:
    out = render(fmt, policy, fake_bpf(policy) if needs_bpf(fmt) else None)
    assert isinstance(out, str)
    return out


# --- the helpers ----------------------------------------------------------------------------


def test_terminal_safe_escapes_what_a_terminal_acts_on() -> None:
    assert terminal_safe("plain /usr/bin/ls -la") == "plain /usr/bin/ls -la"
    assert terminal_safe("café 中文") == "café 中文"  # printable text stays
    assert terminal_safe("a\x1b[31mb\x07\n\t\r") == "a\\x1b[31mb\\x07\\n\\t\\r"
    assert terminal_safe("\x7f\x85\x9b\xa0") == "\\x7f\\u0085\\u009b\\u00a0"
    assert terminal_safe("\u2028\u2029\u202e\u200b\ufeff") == "\\u2028\\u2029\\u202e\\u200b\\ufeff"
    # undecodable bytes (os.fsdecode's surrogateescape) show as the byte; other surrogates as such
    assert terminal_safe("\udcff\udc9b\ud800") == "\\xff\\x9b\\ud800"
    assert terminal_safe("a\\x1b") == "a\\\\x1b"  # a literal backslash is doubled


def test_ascii_safe_escapes_every_non_ascii_character_too() -> None:
    assert ascii_safe("café \U0001f600\x1b\\") == "caf\\u00e9 \\U0001f600\\x1b\\\\"
    assert ascii_safe("plain text") == "plain text"


@given(st.text())
def test_escaped_text_is_always_printable(s: str) -> None:
    out = terminal_safe(s)
    assert out.isprintable() and not _FORBIDDEN.search(out)
    out.encode("utf-8")  # no lone surrogate left: printing cannot fail
    ascii_out = ascii_safe(s)
    assert ascii_out.isascii() and ascii_out.isprintable()
    if s.isprintable() and "\\" not in s:
        assert out == s


@given(st.text(), st.text())
def test_escaping_keeps_names_apart(a: str, b: str) -> None:
    if a != b:
        assert terminal_safe(a) != terminal_safe(b)
        assert ascii_safe(a) != ascii_safe(b)


def test_c_comment_cannot_end_or_nest_or_splice() -> None:
    out = c_comment("a*/b/*c??/\nd")
    assert "*/" not in out and "/*" not in out and "??" not in out and "\n" not in out


# --- the policy formats ---------------------------------------------------------------------


def test_every_text_format_is_printable_ascii() -> None:
    policy = policy_of(hostile())
    for fmt in FORMATS:
        if fmt == "bpf":
            continue
        out = text(fmt, policy)
        assert out.isascii(), fmt
        for line in out.splitlines():
            assert line.isprintable(), (fmt, line)


@pytest.mark.parametrize("fmt", ["k8s", "systemd", "oci"])
def test_hostile_names_keep_every_output_the_same_shape(fmt: str) -> None:
    """Same number of lines as with plain names: no name adds a line."""
    evil, plain = text(fmt, policy_of(hostile())), text(fmt, policy_of(benign()))
    assert len(evil.splitlines()) == len(plain.splitlines())


@pytest.mark.parametrize("fmt", ["c", "c-bpf"])
def test_c_comments_hold_and_no_directive_gets_out(fmt: str) -> None:
    out = text(fmt, policy_of(hostile()))
    for line in out.splitlines():
        assert not line.lstrip().startswith(("#include <evil", "#define X"))
    # every comment and string ends where it should: without them, no name is left, and
    # the preprocessor directives are those of the same policy with plain names
    code = code_of(out)
    assert "<evil" not in code and "\\x1b" not in code and "#define X" not in code
    assert "*/" not in code.replace("/**/", "") and "/*" not in code.replace("/**/", "")

    def directives(source: str) -> list[str]:
        return [line for line in source.splitlines() if line.lstrip().startswith("#")]

    assert directives(code) == directives(code_of(text(fmt, policy_of(benign()))))


#: a C string literal or block comment, whichever starts first (as the C lexer reads them)
_C_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|/\*.*?\*/', re.S)


def code_of(source: str) -> str:
    """C source with its string literals as ``""`` and its comments as ``/**/``."""
    return _C_TOKEN.sub(lambda m: '""' if m.group().startswith('"') else "/**/", source)


def _cc(source: str, tmp_path: Path, name: str, extra: list[str] | None = None) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    exe = tmp_path / name
    flags = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-Wcomment"]
    proc = subprocess.run(
        ["gcc", *flags, "-Wtrigraphs", "-o", str(exe), str(src), *(extra or [])],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return exe


_MAIN = r"""
#include <errno.h>
int sysphase_install(const char *phase);
int main(void)
{
    return sysphase_install("no-such-phase") == -EINVAL ? 0 : 1;
}
"""


@pytest.mark.parametrize("fmt", ["c", "c-bpf"])
def test_c_formats_compile_with_hostile_names(fmt: str, tmp_path: Path) -> None:
    if fmt == "c" and not Path("/usr/include/seccomp.h").exists():
        pytest.skip("libseccomp's header is not installed")
    source = text(fmt, policy_of(hostile())) + _MAIN
    exe = _cc(source, tmp_path, "policy", ["-lseccomp"] if fmt == "c" else [])
    assert subprocess.run([str(exe)], timeout=30).returncode == 0


def test_c_string_literals_hold_the_exact_bytes(tmp_path: Path) -> None:
    names = [EVIL_EXE, EVIL_PHASE, *EVIL_ARGV, "q??/x??=", ODD_PHASE]
    body = "\n".join(
        f'    printf("%zu:", sizeof({c_string(n)}) - 1);\n'
        f"    fwrite({c_string(n)}, 1, sizeof({c_string(n)}) - 1, stdout);"
        for n in names
    )
    exe = _cc(f"#include <stdio.h>\nint main(void)\n{{\n{body}\n    return 0;\n}}\n", tmp_path, "s")
    out = subprocess.run([str(exe)], capture_output=True, timeout=30).stdout
    odd = b"odd" + "\ud800".encode("utf-8", "surrogatepass") + b"\x7f"
    raw = [odd if n == ODD_PHASE else n.encode("utf-8", "surrogateescape") for n in names]
    assert out == b"".join(b"%d:%s" % (len(b), b) for b in raw)


def test_k8s_parses_to_the_same_document() -> None:
    if os.environ.get("CI") == "true":  # a test extra: CI has it
        import yaml
    else:
        yaml = pytest.importorskip("yaml", reason="PyYAML is not installed (pip install pyyaml)")
    evil: dict[str, Any] = yaml.safe_load(text("k8s", policy_of(hostile())))
    plain: dict[str, Any] = yaml.safe_load(text("k8s", policy_of(benign())))
    assert re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", evil["metadata"]["name"])
    evil["metadata"] = plain["metadata"]
    assert evil == plain  # the names only ever reach comments


def test_systemd_comments_stay_comments() -> None:
    out = text("systemd", policy_of(hostile()))
    for line in out.splitlines():
        assert line == "" or line.startswith(("#", "[Service]")) or re.fullmatch(r"\w+=.*", line)
        assert not line.endswith("\\") or line.endswith("\\\\")  # no line continuation


def test_json_formats_round_trip_the_names() -> None:
    policy = policy_of(hostile())
    native = text("sysphase", policy)
    assert native.isascii()
    back = decode(native, "policy.json")
    assert [p.executable for p in back.programs] == [EVIL_EXE, EVIL_CHILD]
    assert [p.name for p in back.root_program.phases] == ["start", EVIL_PHASE, ODD_PHASE]
    assert back.command == EVIL_ARGV
    oci = json.loads(text("oci", policy))
    for entry in oci["syscalls"]:
        assert entry["comment"].isascii() and entry["comment"].isprintable()


# --- terminal outputs -----------------------------------------------------------------------


def test_profile_views_are_clean() -> None:
    p = hostile()
    for out in (
        render_stats(p),
        render_process_tree(p),
        render_diff(profile_diff.diff(benign(), p)),
        explain(policy_of(p)),
    ):
        terminal_clean(out)
        assert "\\x1b]0;pwn\\x07" in out or "\\x1b[31m" in out


def test_trace_tree_is_clean() -> None:
    node = Node(0, 10, 10, None, NodeKind.SPAWN, EVIL_EXE, EVIL_ARGV, NodeEnd.EXITED, 0, 0, 0)
    out = render_tree(ProcessTree([node], []))
    terminal_clean(out)
    assert out.count("\n") == 1


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=120, errors="surrogateescape"
    )


def test_cli_stats_diff_explain_are_clean(tmp_path: Path) -> None:
    evil, plain = tmp_path / "evil.json", tmp_path / "plain.json"
    evil.write_text(profile_codec.encode(hostile()))
    plain.write_text(profile_codec.encode(benign()))
    stats = _cli("stats", str(evil))
    assert stats.returncode == 0, stats.stderr
    diff = _cli("diff", str(plain), str(evil))
    assert diff.returncode == 0, diff.stderr
    explained = _cli("policy", str(evil), "--explain", "-o", str(tmp_path / "p.json"))
    assert explained.returncode == 0, explained.stderr
    for out in (stats.stdout, diff.stdout, explained.stderr):
        terminal_clean(out)
        assert "\\x1b]0;pwn\\x07" in out


def test_run_and_validate_lines_are_clean(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sysphase._host import enforcement
    from sysphase._host.enforcement import Violation
    from sysphase.cli import run_cmd, validate_cmd

    rows = [Violation(EVIL_EXE, EVIL_PHASE, "socket", 3)]
    monkeypatch.setattr(enforcement, "outside_policy", lambda _result, _first: rows)
    run_cmd._summary(None, "start")  # type: ignore[arg-type]
    monkeypatch.setattr(validate_cmd.files, "read_policy", lambda _p: (None, b""))
    monkeypatch.setattr(
        validate_cmd.runner, "validate_workload", lambda _w, _p: [("t\x1b[2J", rows)]
    )
    args = type(
        "Args", (), {"command_argv": [], "policy": "p", "workload": "w", "enforce": False}
    )()
    assert validate_cmd.run(args) == 1  # type: ignore[arg-type]
    out = capsys.readouterr()
    for stream in (out.out, out.err):
        terminal_clean(stream)
        assert "\\x1b]0;pwn\\x07" in stream
    monkeypatch.setattr(
        validate_cmd.runner,
        "validate_enforced",
        lambda _w, _p: [("t\x1b[2J", f"check failed: {EVIL_PHASE}", [])],
    )
    args.enforce = True  # type: ignore[attr-defined]
    assert validate_cmd.run(args) == 1  # type: ignore[arg-type]
    out = capsys.readouterr()
    terminal_clean(out.out)
    assert "\\x1b]0;pwn\\x07" in out.out
