"""`policy --landlock`: profiles with paths, the policy's Landlock sections, codecs, ABIs, CLI."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sysphase.cli.main import main
from sysphase.errors import PolicyError, PolicyInvalid, ProfileInvalid
from sysphase.model import profile_codec
from sysphase.model.file_access import Access
from sysphase.model.landlock_rights import FS_RIGHTS
from sysphase.model.profile import Profile
from sysphase.model.profile_build import from_tree
from sysphase.model.profile_merge import merge
from sysphase.model.tree import NodeKind, ProcessTree
from sysphase.policy import codec as policy_codec
from sysphase.policy.explain import explain
from sysphase.policy.generate import generate
from sysphase.policy.ir import LandlockSection, Policy
from sysphase.policy.landlock_rules import granted, narrows
from sysphase.policy.landlock_section import degrade
from tests.unit.profile_samples import count, node, profiles

O_WRONLY, O_CREAT, O_TRUNC, O_DIRECTORY = 0o1, 0o100, 0o1000, 0o200000
APP, DATE = "/usr/bin/app", "/usr/bin/date"
LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def a(node_: int, phase: int, syscall: str, path: str, flags: int = 0, **kw: object) -> Access:
    ftype = str(kw.get("ftype", "reg"))
    existed = kw.get("existed")
    return Access(node_, phase, syscall, int(kw.get("which", 0)), flags, ftype, existed, 0, path)  # type: ignore[arg-type,call-overload]


def server_tree(kill: bool = False) -> ProcessTree:
    """A server: start (reads config and libraries, binds 8080), serve (writes, forks date)."""
    nodes = [
        node(0, 100, None, NodeKind.SPAWN, APP, ("app",), phases=(0, 1)),
        node(1, 101, 0, NodeKind.FORK, APP, ("app",), phases=(1,)),
        node(2, 101, 1, NodeKind.EXEC, DATE, ("date",), phases=(2,)),
    ]
    counts = [
        count(0, 0, "openat", 6),
        count(0, 0, "bind", 1),
        count(0, 1, "openat", 3),
        count(0, 1, "connect", 1),
        count(1, 1, "execve", 1),
        count(2, 2, "openat", 1),
    ]
    if kill:
        counts.append(count(0, 1, "kill", 1))
    accesses = [
        a(0, 0, "openat", LIBC),
        a(0, 0, "openat", "/etc/app/a.conf"),
        a(0, 0, "openat", "/etc/app/b.conf"),
        a(0, 0, "openat", "/etc/app/c.conf"),
        a(0, 0, "openat", "/etc/app", O_DIRECTORY, ftype="dir"),
        a(0, 0, "bind", "tcp:8080", ftype=""),
        a(0, 1, "openat", "/var/lib/app/db", O_WRONLY | O_CREAT | O_TRUNC, existed=False),
        a(0, 1, "unlink", "/var/lib/app/db-journal"),
        a(0, 1, "connect", "tcp:5432", ftype=""),
        a(0, 1, "openat", "/proc/100/stat"),
        a(1, 1, "execve", DATE),
        a(2, 2, "openat", "/usr/share/zoneinfo/UTC"),
    ]
    names = [("start", "start"), ("serve", "syscall:connect"), ("date", "exec")]
    return ProcessTree(nodes, counts, names, accesses=accesses)


def server_profile(kill: bool = False) -> Profile:
    return from_tree(server_tree(kill), ("app",), "x86_64")


def sections(policy: Policy, exe: str) -> list[LandlockSection]:
    program = policy.program(exe)
    assert program is not None
    out = [p.landlock for p in program.phases]
    assert all(s is not None for s in out)
    return out  # type: ignore[return-value]


def test_a_profile_with_paths_keeps_each_phases_needs() -> None:
    p = server_profile()
    start, serve = p.processes[0].phases
    assert start.landlock is not None and serve.landlock is not None
    assert start.landlock.bind_tcp == (8080,)
    assert dict(start.landlock.paths)[APP] == ("execute", "read_file")  # the spawned program
    assert dict(serve.landlock.paths)["/var/lib/app"] == ("remove_file", "make_reg")
    # the exec is charged to the caller's phase
    fork_serve = p.processes[1].phases[0]
    assert fork_serve.landlock is not None
    assert dict(fork_serve.landlock.paths)[DATE] == ("execute", "read_file")
    assert profile_codec.decode(profile_codec.encode(p), "p.json") == p


def test_a_profile_without_paths_has_none_and_is_written_as_before() -> None:
    tree = replace(server_tree(), accesses=[])
    p = from_tree(tree, ("app",), "x86_64")
    assert all(ph.landlock is None for n in p.processes for ph in n.phases)
    assert "landlock" not in profile_codec.encode(p) and "paths_lost" not in profile_codec.encode(p)
    recorded = from_tree(tree, ("app",), "x86_64", paths=True)
    assert all(ph.landlock is not None for n in recorded.processes for ph in n.phases)


def test_policy_landlock_on_a_profile_without_paths_is_one_sentence() -> None:
    p = from_tree(replace(server_tree(), accesses=[]), ("app",), "x86_64")
    with pytest.raises(PolicyError, match=r"recorded without them: record it again .*--paths"):
        generate(p, landlock=True)
    assert all(ph.landlock is None for prog in generate(p).programs for ph in prog.phases)


def test_every_phase_gets_a_section_and_phases_narrow() -> None:
    policy = generate(server_profile(), landlock=True)
    start, serve = sections(policy, APP)
    (date,) = sections(policy, DATE)
    assert narrows(start, serve)
    assert not narrows(serve, start)
    assert start.bind_tcp == (8080,) and serve.bind_tcp == ()
    assert start.connect_tcp == serve.connect_tcp == (5432,)
    assert start.handled_fs == FS_RIGHTS and start.abi == 7
    # the first phase covers the exec'd program (it runs under it)
    for rule in date.rules:
        assert set(rule.rights) <= granted(start.rules, rule.path)
    by_path = {r.path: r for r in start.rules}
    assert by_path["/etc/app"].rights == ("read_file", "read_dir")
    assert by_path["/var/lib/app"].how == ("writes",)
    assert by_path["/proc"].how == ("per-process",)
    assert by_path["/usr/lib/x86_64-linux-gnu"].how == ("system", "loader")
    assert "/etc/app" not in {r.path for r in serve.rules}


def test_scopes() -> None:
    policy = generate(server_profile(), landlock=True)
    assert sections(policy, APP)[0].scoped == ("abstract_unix_socket", "signal")
    killer = generate(server_profile(kill=True), landlock=True)
    assert [s.scoped for s in sections(killer, APP)] == [("abstract_unix_socket",)] * 2
    tree = server_tree()
    tree.accesses.append(a(0, 1, "connect", "unix-abstract:@bus", ftype=""))
    abstract = generate(from_tree(tree, ("app",), "x86_64"), landlock=True)
    assert [s.scoped for s in sections(abstract, APP)] == [("signal",), ("signal",)]


def test_phases_recorded_without_paths_are_noted() -> None:
    with_paths = server_profile()
    without = from_tree(replace(server_tree(), accesses=[]), ("app",), "x86_64")
    # a merge keeps what was recorded; a run without paths adds nothing
    merged = merge(with_paths, without)
    assert merged.processes[0].phases[0].landlock == with_paths.processes[0].phases[0].landlock
    # a phase only a run without paths saw: its section says so
    tree = server_tree()
    tree.nodes[0].phases.append(3)
    tree.phase_names.append(("late", "signal:SIGUSR1"))
    tree.counts.append(count(0, 3, "read", 1))
    late = from_tree(replace(tree, accesses=[]), ("app",), "x86_64")
    policy = generate(merge(with_paths, late), landlock=True)
    program = policy.program(APP)
    assert program is not None
    assert program.phases[-1].name == "late" and program.phases[-1].landlock is None
    note = program.phases[0].landlock.note  # type: ignore[union-attr]
    assert note is not None and "recorded without --paths (/usr/bin/app late)" in note


def test_the_recording_lost_accesses_is_noted() -> None:
    p = replace(server_profile(), paths_lost=12)
    (start, _) = sections(generate(p, landlock=True), APP)
    assert start.note is not None and "lost 12 accesses" in start.note


def test_round_trip_and_explain() -> None:
    policy = generate(server_profile(), landlock=True)
    text = policy_codec.encode(policy)
    assert policy_codec.decode(text, "p.json") == policy
    assert re.search(r'^ +\{"path": "/etc/app", "rights": \["read_file", "read_dir"\]', text, re.M)
    out = explain(policy)
    assert "landlock (ABI 7): " in out
    assert "tcp bind: 8080; tcp connect: 5432; scoped: abstract_unix_socket, signal" in out
    assert "      /var/lib/app: write_file remove_file make_reg\n        writes: 2 recorded" in out


def _doc() -> dict[str, object]:
    return json.loads(policy_codec.encode(generate(server_profile(), landlock=True)))  # type: ignore[no-any-return]


BAD = [
    (
        lambda d: d["programs"][0]["phases"][0]["landlock"]["rules"][0]["rights"].append("fly"),
        r"\$\.programs\[0\]\.phases\[0\]\.landlock\.rules\[0\]\.rights\[\d\]: unknown Landlock "
        r'right "fly"',
    ),
    (
        lambda d: d["programs"][0]["phases"][0]["landlock"].update(abi=8),
        r"landlock\.abi: Landlock ABI 8 is newer than this sysphase knows \(7\)",
    ),
    (
        lambda d: d["programs"][0]["phases"][0]["landlock"].update(abi=4),
        r'landlock\.handled_fs: "ioctl_dev" needs Landlock ABI 5, not 4',
    ),
    (
        lambda d: d["programs"][0]["phases"][0]["landlock"].update(handled_net=["connect_tcp"]),
        r'landlock\.bind_tcp: ports given, but "bind_tcp" is not in handled_net',
    ),
    (
        lambda d: d["programs"][0]["phases"][0]["landlock"]["rules"].append(
            d["programs"][0]["phases"][0]["landlock"]["rules"][0]
        ),
        r"landlock\.rules\[\d+\]\.path: \"/etc/app\" appears more than once",
    ),
    (
        lambda d: d["programs"][0]["phases"][0]["landlock"]["rules"][0].update(path="/etc/../x"),
        r"rules\[0\]\.path: \"/etc/../x\" is not an absolute path in normal form",
    ),
    (
        lambda d: d["programs"][0]["phases"][1]["landlock"]["bind_tcp"].append(22),
        r"phases\[1\]\.landlock\.bind_tcp: port 22 is not allowed by the earlier phase \"start\", "
        r"and Landlock rulesets only narrow",
    ),
    (
        lambda d: d["programs"][0]["phases"][1]["landlock"]["rules"].append(
            {"path": "/home", "rights": ["read_file"]}
        ),
        r"phases\[1\]\.landlock\.rules\[\d\]\.rights: \"read_file\" on \"/home\" is not granted "
        r"by the earlier phase \"start\"",
    ),
    (
        lambda d: d["programs"][0]["phases"][0]["landlock"].update(colour=1),
        r'landlock\.colour: unknown field "colour"',
    ),
]


@pytest.mark.parametrize(("mutate", "message"), BAD)
def test_the_policy_decoder_is_strict(mutate: object, message: str) -> None:
    doc = _doc()
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(PolicyInvalid, match=message):
        policy_codec.decode(json.dumps(doc), "p.json")


def test_the_profile_decoder_is_strict() -> None:
    doc = json.loads(profile_codec.encode(server_profile()))
    doc["processes"][0]["phases"][0]["landlock"]["paths"]["/etc/passwd"] = ["read", "read_file"]
    with pytest.raises(
        ProfileInvalid,
        match=r'\$\.processes\[0\]\.phases\[0\]\.landlock\.paths\["/etc/passwd"\]\[0\]: '
        r'unknown Landlock right "read"',
    ):
        profile_codec.decode(json.dumps(doc), "p.json")
    doc["processes"][0]["phases"][0]["landlock"]["paths"] = {"etc": ["read_file"]}
    with pytest.raises(ProfileInvalid, match="is not an absolute path in normal form"):
        profile_codec.decode(json.dumps(doc), "p.json")
    doc["processes"][0]["phases"][0]["landlock"] = None
    with pytest.raises(ProfileInvalid, match=r"phases\[0\]\.landlock: expected an object"):
        profile_codec.decode(json.dumps(doc), "p.json")


def test_degrade_to_older_abis() -> None:
    (start, _) = sections(generate(server_profile(), landlock=True), APP)
    same, nothing = degrade(start, 7)
    assert same == start and nothing.empty and nothing.describe() == ""
    five, left = degrade(start, 5)
    assert five.scoped == () and left.scopes == ("abstract_unix_socket", "signal")
    assert five.handled_fs == start.handled_fs and five.bind_tcp == (8080,)
    three, left = degrade(start, 3)
    assert "ioctl_dev" not in three.handled_fs and three.handled_net == () and three.bind_tcp == ()
    assert left.net == ("bind_tcp", "connect_tcp") and left.fs == ("ioctl_dev",)
    one, left = degrade(start, 1)
    assert left.fs == ("refer", "truncate", "ioctl_dev")
    assert all("refer" not in r.rights and r.rights for r in one.rules)
    assert left.describe().startswith("Landlock ABI 1: left out refer (ABI 2), truncate (ABI 3)")
    assert "EXDEV" in left.describe()
    with pytest.raises(ValueError, match="no Landlock"):
        degrade(start, 0)


# --- the command line -----------------------------------------------------------------------


def _write(tmp_path: Path, p: Profile) -> str:
    path = tmp_path / "profile.json"
    path.write_text(profile_codec.encode(p))
    return str(path)


def test_cli_policy_landlock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = _write(tmp_path, server_profile())
    out = tmp_path / "policy.json"
    assert main(["policy", "--landlock", "--explain", profile, "-o", str(out)]) == 0
    policy = policy_codec.decode(out.read_text(), str(out))
    assert all(ph.landlock is not None for prog in policy.programs for ph in prog.phases)
    assert "landlock (ABI 7)" in capsys.readouterr().err
    assert main(["policy", "--landlock", "--format", "oci", profile]) == 2
    assert "--landlock: the oci format has no Landlock rules" in capsys.readouterr().err
    bare = _write(tmp_path, from_tree(replace(server_tree(), accesses=[]), ("app",), "x86_64"))
    assert main(["policy", "--landlock", bare, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sysphase: --landlock needs the paths") and err.count("\n") == 1


ROOT = Path(__file__).resolve().parents[2]


def _json_after(doc: str, heading: str) -> object:
    block = doc.split(heading, 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    return json.loads("{" + block + "}")["landlock"]


def test_the_documented_sections_read() -> None:
    from sysphase.model.profile_codec_landlock import LandlockDecoder as ProfilePart
    from sysphase.policy.codec_landlock import LandlockDecoder as PolicyPart

    profile_doc = (ROOT / "docs/formats/profile.md").read_text()
    needs = ProfilePart("profile.md").landlock(
        _json_after(profile_doc, "### Landlock: what a phase touched"), "$"
    )
    assert needs.bind_tcp == (8080,) and len(needs.paths) == 4
    policy_doc = (ROOT / "docs/formats/policy.md").read_text()
    section = PolicyPart("policy.md").landlock(
        _json_after(policy_doc, "### A Landlock section"), "$"
    )
    (start, _) = sections(generate(server_profile(), landlock=True), APP)
    documented = {r.path: r for r in section.rules}
    assert all(documented[p] == r for r in start.rules if (p := r.path) in documented)
    assert section.handled_fs == start.handled_fs and section.scoped == start.scoped
    explained = explain(generate(server_profile(), landlock=True))
    shown = policy_doc.split("prints them under the phase's calls:", 1)[1].split("```\n", 2)[1]
    for line in shown.splitlines():
        assert line in explained.splitlines(), line


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(p=profiles(arch=st.just("x86_64"), wild_text=False))
def test_any_profile_with_paths_makes_a_policy_that_reads_back(p: Profile) -> None:
    """Every program's phases narrow (the reader checks it), and the sections round-trip."""
    assume(p.processes and all(n.parent is not None for n in p.processes[1:]))
    assume(any(ph.landlock is not None for n in p.processes for ph in n.phases))
    policy = generate(p, landlock=True, fragments="allow")
    assert policy_codec.decode(policy_codec.encode(policy), "p.json") == policy
    for program in policy.programs:
        made = [ph.landlock for ph in program.phases]
        for earlier, later in pairwise(made):
            if earlier is not None and later is not None:
                assert narrows(earlier, later)


def test_landlock_policies_never_let_io_uring_register_a_personality() -> None:
    """A personality keeps the credentials of its registration, Landlock domain included."""
    from sysphase.policy.added_calls import refuse_io_uring_personality
    from sysphase.policy.ir import AllowedCall, ArgCondition, Rule

    plain = {"io_uring_register": AllowedCall(Rule("io_uring_register"), ())}
    refuse_io_uring_personality(plain)
    no_personality = ArgCondition(1, "ne", 9)
    assert plain["io_uring_register"].rule.when == ((no_personality,),)
    assert "IORING_REGISTER_PERSONALITY" in (plain["io_uring_register"].note or "")
    files_only = ArgCondition(1, "eq", 2)
    conditioned = {
        "io_uring_register": AllowedCall(Rule("io_uring_register", ((files_only,),)), ())
    }
    refuse_io_uring_personality(conditioned)
    assert conditioned["io_uring_register"].rule.when == ((files_only, no_personality),)
    refuse_io_uring_personality(conditioned)  # once is enough
    assert conditioned["io_uring_register"].rule.when == ((files_only, no_personality),)
    untouched: dict[str, AllowedCall] = {}
    refuse_io_uring_personality(untouched)
    assert untouched == {}
