"""`sysphase report`'s page from constructed profiles (report.html_report and its parts).

The sample profile (tests/unit/profile_samples.py: a shell with a start and a
serve phase, a thread killed by SIGKILL, a child that forks and execs ls)
gets a timeline by hand; the page must hold its nodes, phases, syscall rows,
what serve drops against start, a policy's provenance marks and a diff, with
every profile text escaped and nothing that could make a browser fetch.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re

import pytest

from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Phase, ProcessNode, Profile, SyscallStat
from sysphase.model.timeline import CallTimes, NodeTimes, PhaseBegan, Timeline
from sysphase.model.tree import NodeKind
from sysphase.policy.generate import generate
from sysphase.policy.manual_calls import parse_spec
from sysphase.report import html_report
from sysphase.report.html_parts import esc, fmt_ns, nice_step
from sysphase.report.html_tables import heat_level
from sysphase.report.html_timeline import TREE_LIMIT
from sysphase.report.html_view import program_views
from tests.unit.profile_samples import sample_profile

MS = 1_000_000


def timed_profile() -> Profile:
    """The sample profile with one run's timeline: sh 0..10 ms, serve from 2 ms, ls 4..9 ms."""
    nodes = (
        NodeTimes(0, 0, 10 * MS, (PhaseBegan("start", 0), PhaseBegan("serve", 2 * MS)),
                  (CallTimes("start", "read", 100, 200), CallTimes("serve", "epoll_wait", 2 * MS,
                                                                     8 * MS))),
        NodeTimes(1, 1 * MS, 5 * MS, (PhaseBegan("serve", 2 * MS),), ()),
        NodeTimes(2, 3 * MS, 4 * MS, (PhaseBegan("serve", 3 * MS),), ()),
        NodeTimes(3, 4 * MS, 9 * MS, (PhaseBegan("ls", 4 * MS),),
                  (CallTimes("ls", "openat", 5 * MS, 6 * MS),)),
    )  # fmt: skip
    return dataclasses.replace(sample_profile(), timelines=(Timeline("full", nodes),))


def rows_of(page: str, syscall: str) -> list[str]:
    return re.findall(rf'<tr data-s="{re.escape(syscall)}">.*?</tr>', page)


def test_the_page_holds_the_tree_the_time_axis_and_the_tables() -> None:
    page = html_report.render(timed_profile(), "sample.json")
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    # the tree: every node, under its parent, with how it began and ended
    tree = page[page.index('id="tree"') : page.index('id="time"')]
    for nid in range(4):
        assert f'<div class="tn" data-node="{nid}">' in tree
    assert "killed by SIGKILL" in tree and "exec'd" in tree and "forked" in tree
    assert "└─ " in tree and "├─ " in tree
    # the time axis: a row per node, phase bars in colour, the marks
    svg = page[page.index('<svg class="timeline"') :]
    svg = svg[: svg.index("</svg>")]
    assert svg.count('<g class="row"') == 4
    assert 'class="ph p0"' in svg and 'class="ph p1"' in svg and 'class="ph p2"' in svg
    for mark in ("m-spawn", "m-thread", "m-fork", "m-exec", "m-killed", "m-end", "switch"):
        assert f'class="{mark}"' in svg, mark
    assert "switch to serve at 2.0 ms" in svg
    assert "epoll_wait (serve): first 2.0 ms, last 8.0 ms" in svg
    # the tables: per program and phase, sortable, with calls, errors and times
    assert page.count('class="sortable') >= 4
    (openat_sh, openat_ls) = rows_of(page, "openat")[:2]
    assert 'data-v="2"' in openat_sh and 'data-v="1"' in openat_sh  # 2 calls, 1 error
    assert 'data-v="4"' in openat_ls
    assert rows_of(page, "epoll_wait")[0].count("7.0 µs") == 1


def test_each_phase_says_what_it_drops_against_the_one_before() -> None:
    (sh, ls) = program_views(sample_profile())
    start, serve = sh.phases
    assert (start.previous, start.dropped) == (None, ())
    assert serve.previous == "start"
    assert serve.dropped == ("openat", "read")
    assert serve.added == ("epoll_wait", "execve", "i386:open", "x32:read")
    page = html_report.render(sample_profile(), "p.json")
    assert "drops 2</span> against start: <code>openat</code> <code>read</code>" in page
    assert ls.executable == "/usr/bin/ls" and [p.name for p in ls.phases] == ["ls"]


def test_without_timelines_the_page_says_so_and_keeps_the_rest() -> None:
    page = html_report.render(sample_profile(), "old.json")
    assert html_report.NO_TIMELINES in page
    assert '<svg class="timeline"' not in page
    assert '<div class="tn" data-node="3">' in page and rows_of(page, "epoll_wait")


def test_policy_provenance_seen_added_and_by_hand() -> None:
    profile = sample_profile()
    policy = generate(profile, manual=[parse_spec("allow", "getpid")])
    page = html_report.render(profile, "p.json", policy=(policy, "p.policy"))
    section = page[page.index('id="policy"') :]
    (read,) = rows_of(section, "read")[:1]
    assert 'class="mark seen"' in read and "/bin/sh start: 3 calls" in read
    assert 'class="mark added"' in rows_of(section, "clock_gettime")[0]
    assert "always added" in rows_of(section, "clock_gettime")[0]
    getpid = rows_of(section, "getpid")[0]
    assert 'class="mark by-hand"' in getpid and "--allow getpid" in getpid
    assert 'class="mark refused"' in rows_of(section, "i386:open")[0]
    assert "default action kill (kill the process)" in section


def test_diff_shows_what_the_profile_adds_and_removes() -> None:
    new = sample_profile()
    sh = new.processes[0]
    start = dataclasses.replace(sh.phases[0], syscalls=FrozenMap({"read": SyscallStat(1)}))
    old = dataclasses.replace(new, processes=(dataclasses.replace(sh, phases=(start,)),))
    page = html_report.render(new, "new.json", other=(old, "old.json"))
    section = page[page.index('id="diff"') :]
    assert "sysphase diff old.json new.json" in section
    assert "+openat" in section and "+epoll_wait" in section
    assert "/usr/bin/ls (only here)" in section
    same = html_report.render(new, "new.json", other=(new, "same.json"))
    assert "no differences in system calls" in same


HOSTILE = '/tmp/<script>alert("x")</script>\x1b[31m&\udcff\u2028'


def hostile_profile() -> Profile:
    phase = Phase(0, '"><img src=x onerror=alert(1)>', "syscall:<b>", FrozenMap(
        {"read": SyscallStat(1)}))  # fmt: skip
    node = ProcessNode(0, None, NodeKind.SPAWN, HOSTILE, (HOSTILE, "</code>"), None, None,
                       "exit 0", (phase,))  # fmt: skip
    times = NodeTimes(0, 0, 5, (PhaseBegan(phase.name, 0),), (CallTimes(phase.name, "read", 1, 2),))
    return Profile((HOSTILE,), "x86_64", 1, True, (node,), timelines=(Timeline("full", (times,)),))


def test_every_profile_text_is_escaped() -> None:
    page = html_report.render(hostile_profile(), "<i>name</i>.json")
    assert "<script>alert" not in page and "<img" not in page and "<i>name" not in page
    assert "<b>" not in page and "\x1b" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;\\x1b[31m&amp;\\xff\\u2028" in page
    page.encode("utf-8")  # an undecodable byte of a path shows as \\xff, never a lone surrogate
    assert esc("a\"b'c<&>") == "a&quot;b&#x27;c&lt;&amp;&gt;"


def test_nothing_in_the_page_can_make_a_request() -> None:
    profile = timed_profile()
    policy = generate(profile)
    page = html_report.render(profile, "p.json", policy=(policy, "x"), other=(profile, "y"))
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"\b(src|href)\s*=\s*(?![\"']?#)", page), "only in-page links"
    assert "url(" not in page and "@import" not in page and "<link" not in page
    # the policy admits the inline style and script by hash, and nothing else
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert csp is not None and "default-src 'none'" in csp.group(1)
    for tag in ("style", "script"):
        (body,) = re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.S)
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in csp.group(1)


def test_a_tree_thousands_deep_is_drawn_and_cut() -> None:
    chain = tuple(
        ProcessNode(i, i - 1 if i else None, NodeKind.FORK if i else NodeKind.SPAWN, "/bin/sh",
                    ("sh",), None, None, "exit 0", (Phase(0, "start", "start"),))
        for i in range(TREE_LIMIT + 500)
    )  # fmt: skip
    page = html_report.render(Profile(("sh",), "x86_64", 1, True, chain), "deep.json")
    assert page.count('<div class="tn"') == TREE_LIMIT
    assert "… 500 more" in page


@pytest.mark.parametrize(
    ("calls", "level"), [(0, 0), (1, 1), (9, 1), (10, 2), (999, 3), (10**6, 7), (10**12, 7)]
)
def test_heat_levels(calls: int, level: int) -> None:
    assert heat_level(calls) == level


def test_times_and_ticks_read_well() -> None:
    assert [fmt_ns(n) for n in (850, 12_400, 3_200_000, 3_200_000_000)] == [
        "850 ns", "12.4 µs", "3.2 ms", "3.20 s",
    ]  # fmt: skip
    assert nice_step(49_500_000) == 10_000_000 and nice_step(7) == 1.0
