"""Landlock generalisation (policy/landlock_rules.py): each rule, narrowing, the bound."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sysphase.model import landlock_needs
from sysphase.model.frozen import FrozenMap
from sysphase.model.landlock_needs import LandlockNeeds, unite
from sysphase.model.landlock_rights import FS_RIGHTS, NET_RIGHTS, SCOPES, Needs
from sysphase.policy.ir import LandlockRule, LandlockSection
from sysphase.policy.landlock_rules import generalise, granted, narrows, wider


def rules(paths: dict[str, set[str]], created: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    return {r.path: r.rights for r in generalise(paths, created)}


def how(paths: dict[str, set[str]], created: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    return {r.path: r.how for r in generalise(paths, created)}


def test_a_written_directory_gets_its_rights_and_its_files_never_its_parent() -> None:
    got = generalise(
        {
            "/var/lib/app": {"make_reg", "remove_file"},
            "/var/lib/app/db": {"read_file", "write_file"},
            "/var/lib/app/db-journal": {"write_file"},
            "/var/lib/other": {"read_file"},
        }
    )
    assert [(r.path, r.rights, r.how, r.recorded) for r in got] == [
        ("/var/lib/app", ("write_file", "read_file", "remove_file", "make_reg"), ("writes",), 3),
        ("/var/lib/other", ("read_file",), ("file",), 1),
    ]
    assert got[0].examples == ("/var/lib/app", "/var/lib/app/db", "/var/lib/app/db-journal")


def test_system_folders_become_read_only_rules() -> None:
    got = generalise(
        {
            "/usr/lib/x86_64-linux-gnu/libc.so.6": {"read_file"},
            "/usr/lib/x86_64-linux-gnu/libm.so.6": {"read_file"},
            "/usr/share/locale/de/LC_MESSAGES/app.mo": {"read_file"},
            "/usr/share/zoneinfo/Europe/Paris": {"read_file"},
            "/usr/lib/locale/C.utf8/LC_CTYPE": {"read_file"},
            "/etc/ssl/certs/ca.pem": {"read_file", "write_file"},
        }
    )
    assert {r.path: (r.rights, r.how, r.recorded) for r in got} == {
        "/usr/lib/x86_64-linux-gnu": (("read_file",), ("system",), 2),
        "/usr/share/locale": (("read_file",), ("system",), 1),
        "/usr/share/zoneinfo": (("read_file",), ("system",), 1),
        "/usr/lib/locale": (("read_file",), ("system",), 1),
        "/etc/ssl/certs": (("read_file",), ("system",), 1),
        # a right beyond reading stays on the file
        "/etc/ssl/certs/ca.pem": (("write_file",), ("file",), 1),
    }


def test_executing_adds_execute_on_the_library_folders_for_the_loader() -> None:
    got = how(
        {"/usr/lib/x86_64-linux-gnu/libc.so.6": {"read_file"}, "/bin/ls": {"execute", "read_file"}}
    )
    assert got["/usr/lib/x86_64-linux-gnu"] == ("system", "loader")
    assert rules({"/usr/lib/x86_64-linux-gnu/libc.so.6": {"read_file"}, "/bin/ls": {"execute"}})[
        "/usr/lib/x86_64-linux-gnu"
    ] == ("execute", "read_file")
    # nothing executed: read only
    assert rules({"/usr/lib/x86_64-linux-gnu/libc.so.6": {"read_file"}}) == {
        "/usr/lib/x86_64-linux-gnu": ("read_file",)
    }


def test_per_process_paths_become_one_rule() -> None:
    got = generalise(
        {
            "/proc/1234/status": {"read_file"},
            "/proc/1234/fd": {"read_dir"},
            "/proc/self/oom_score_adj": {"write_file"},
            "/proc/meminfo": {"read_file"},
            "/dev/pts/3": {"read_file", "write_file", "ioctl_dev"},
        }
    )
    assert {r.path: (r.rights, r.how) for r in got} == {
        "/dev/pts": (("write_file", "read_file", "ioctl_dev"), ("per-process",)),
        "/proc": (("write_file", "read_file", "read_dir"), ("per-process", "read-dir")),
    }
    assert next(r for r in got if r.path == "/proc").recorded == 4  # /proc/meminfo beneath


def test_three_files_read_in_a_directory_make_a_directory_rule() -> None:
    two = {"/etc/app/a.conf": {"read_file"}, "/etc/app/b.conf": {"read_file"}}
    assert rules(two) == {"/etc/app/a.conf": ("read_file",), "/etc/app/b.conf": ("read_file",)}
    three = {**two, "/etc/app/c.conf": {"read_file", "write_file"}}
    assert rules(three) == {"/etc/app": ("read_file",), "/etc/app/c.conf": ("write_file",)}
    assert how(three)["/etc/app"] == ("directory",)


def test_a_listed_directory_is_a_rule_on_itself() -> None:
    got = rules({"/srv/www": {"read_dir"}, "/srv/www/index.html": {"read_file"}})
    assert got == {"/srv/www": ("read_dir",), "/srv/www/index.html": ("read_file",)}


def test_what_lies_in_a_created_directory_goes_where_it_was_created() -> None:
    got = generalise(
        {
            "/var/cache": {"make_dir"},
            "/var/cache/app": {"make_dir", "read_dir"},
            "/var/cache/app/x": {"make_reg"},
            "/var/cache/app/x/f": {"write_file"},
        },
        created=("/var/cache/app", "/var/cache/app/x"),
    )
    assert [(r.path, r.rights, r.how, r.recorded) for r in got] == [
        (
            "/var/cache",
            ("write_file", "read_dir", "make_dir", "make_reg"),
            ("created", "writes"),
            4,
        )
    ]


def test_rules_covered_by_an_ancestor_are_left_out() -> None:
    got = generalise({"/data": {"make_reg", "read_file"}, "/data/sub/a": {"read_file"}})
    assert [(r.path, r.recorded) for r in got] == [("/data", 2)]


def test_directories_with_refer_get_the_same_rights() -> None:
    got = rules({"/in": {"remove_file", "refer", "read_file"}, "/out": {"make_reg", "refer"}})
    both = ("read_file", "remove_file", "make_reg", "refer")
    assert got == {"/in": both, "/out": both}
    assert "refer" in how({"/in": {"remove_file", "refer"}, "/out": {"make_reg", "refer"}})["/out"]


def test_a_rule_on_the_root() -> None:
    assert rules({"/x": {"write_file"}, "/": {"make_reg"}}) == {"/": ("write_file", "make_reg")}


# --- narrowing ------------------------------------------------------------------------------


def section(
    *rule_list: LandlockRule, bind: tuple[int, ...] = (), scoped: tuple[str, ...] = SCOPES
) -> LandlockSection:
    return LandlockSection(7, FS_RIGHTS, NET_RIGHTS, scoped, rule_list, bind, ())


def test_narrows() -> None:
    wide = section(LandlockRule("/srv", ("read_file", "read_dir")), bind=(80, 443))
    assert narrows(wide, section(LandlockRule("/srv/www", ("read_file",)), bind=(80,)))
    assert narrows(wide, wide)
    assert narrows(wide, section())
    assert not narrows(section(), wide)
    assert wider(wide, section(LandlockRule("/srv", ("write_file",)))) == (
        "rules[0].rights",
        '"write_file" on "/srv" is not granted by the earlier phase',
    )
    assert wider(wide, section(bind=(22,))) == (
        "bind_tcp",
        "port 22 is not allowed by the earlier phase",
    )
    assert wider(wide, section(scoped=("signal",)))[0] == "scoped"  # type: ignore[index]
    fewer = LandlockSection(7, FS_RIGHTS[:3], NET_RIGHTS, SCOPES, (), (), ())
    assert wider(wide, fewer)[0] == "handled_fs"  # type: ignore[index]
    assert granted(wide.rules, "/srv/www/x") == {"read_file", "read_dir"}
    assert granted(wide.rules, "/srvx") == set()


PATHS = [
    "/", "/etc/a", "/etc/b", "/etc/c", "/etc", "/tmp", "/tmp/x", "/tmp/x/y", "/var/lib/app",
    "/var/lib/app/db", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/share/locale/de/x.mo",
    "/proc/7/status", "/dev/pts/1", "/in", "/out", "/bin/sh",
]  # fmt: skip
RIGHTS = st.sets(st.sampled_from(FS_RIGHTS), min_size=1, max_size=3)
TOUCHED = st.dictionaries(st.sampled_from(PATHS), RIGHTS, max_size=8)
CREATED = st.sets(st.sampled_from(["/tmp/x", "/var/lib/app", "/etc"]), max_size=2)


def _section(paths: dict[str, set[str]], created: set[str]) -> LandlockSection:
    return section(*generalise(paths, sorted(created)))


@settings(max_examples=300)
@given(TOUCHED, CREATED, TOUCHED, CREATED)
def test_more_paths_never_make_a_narrower_ruleset(
    later: dict[str, set[str]], later_made: set[str], more: dict[str, set[str]], more_made: set[str]
) -> None:
    """A phase's rules are made of its paths and every later phase's: they cover the later ones."""
    earlier = {p: set(r) for p, r in later.items()}
    for p, r in more.items():
        earlier.setdefault(p, set()).update(r)
    assert narrows(_section(earlier, later_made | more_made), _section(later, later_made))


@given(TOUCHED, CREATED)
def test_every_recorded_right_is_granted_where_it_was_recorded(
    paths: dict[str, set[str]], created: set[str]
) -> None:
    got = generalise(paths, sorted(created))
    for path, rights in paths.items():
        if any(path == c or path.startswith(c + "/") for c in created):
            continue  # granted at the directory it was created in
        if path.startswith(("/proc/", "/dev/pts/")):
            continue  # granted on /proc, /dev/pts
        assert rights <= granted(got, path), path


# --- the profile's bound --------------------------------------------------------------------


def test_the_bound_cuts_paths_to_the_deepest_depth_that_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(landlock_needs, "MAX_PATHS", 3)
    needs = Needs(
        {
            "/a/b/c/1": {"read_file"},
            "/a/b/c/2": {"write_file"},
            "/a/b/d": {"read_file"},
            "/a/e": {"make_reg"},
        },
        {"/a/b/c", "/a/b/c/x"},
    )
    got = landlock_needs.freeze(needs)
    assert got.cut_depth == 3
    assert dict(got.paths) == {
        "/a/b/c": ("write_file", "read_file"),
        "/a/b/d": ("read_file",),
        "/a/e": ("make_reg",),
    }
    assert got.created_dirs == ("/a/b/c",)
    monkeypatch.setattr(landlock_needs, "MAX_PATHS", 2)
    got = landlock_needs.freeze(needs)
    assert got.cut_depth == 2
    assert dict(got.paths) == {"/a/b": ("write_file", "read_file"), "/a/e": ("make_reg",)}
    assert got.created_dirs == ()
    small = landlock_needs.freeze(Needs({"/a/b/c": {"read_file"}}))
    assert small.cut_depth is None


def test_unite_is_commutative_and_associative_with_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(landlock_needs, "MAX_PATHS", 2)
    a = LandlockNeeds(FrozenMap({"/x/1/a": ("read_file",), "/x/2": ("read_file",)}))
    b = LandlockNeeds(FrozenMap({"/x/1/b": ("read_file",), "/y/9/z": ("write_file",)}))
    c = LandlockNeeds(FrozenMap({"/x/3/q": ("read_dir",)}), connect_tcp=(443,))
    assert unite([a, b]) == unite([b, a])
    assert unite([unite([a, b]), c]) == unite([a, unite([b, c])]) == unite([a, b, c])
    assert unite([None, None]) is None
    assert unite([None, a]) == unite([a])
