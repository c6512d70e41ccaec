"""`sysphase report` opened in a real headless Chromium (Debian's ``chromium``; CI installs it).

A real recording (a shell that forks ls and cat, with a phase switch at its
first wait4, two runs) and its policy become a report; the browser loads the
file and the rendered page must hold the tree, the phases on the time axis,
the tables made sortable by the page's script (which the page's own
Content-Security-Policy admits), and no request may leave the file. A page
that does load a remote image proves the watch sees requests; the report
with such an image slipped in proves its policy refuses it. The screenshot
is saved next to the test's output (its path is printed).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TRACEE_ENV, make_policy, sysphase_cmd
from tests.e2e.browser import Browser, chromium

REMOTE = "http://example.invalid/x.png"


def sysphase(*args: str) -> None:
    p = subprocess.run(sysphase_cmd(*args), capture_output=True, text=True, timeout=120,
                       env=TRACEE_ENV)  # fmt: skip
    assert p.returncode == 0, p.stderr


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A report of a real recording and its policy, and the profile as JSON."""
    d = tmp_path_factory.mktemp("report")
    prof, html = d / "sh.json", d / "report.html"
    sysphase("record", "--runs", "2", "--phase", "later=syscall:wait4", "-o", str(prof), "--",
             "/bin/sh", "-c", "ls / >/dev/null; cat /dev/null")  # fmt: skip
    pol = make_policy(prof, d / "sh.policy")
    sysphase("report", str(prof), "--policy", pol, "--diff", str(prof), "-o", str(html))
    return html, json.loads(prof.read_text())


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium()
    b = Browser(tmp_path_factory.mktemp("chromium"))
    try:
        yield b
    finally:
        b.close()


def test_the_rendered_report_holds_tree_phases_and_tables(report, browser, tmp_path) -> None:
    html, profile = report
    browser.load(html.as_uri())
    # nothing but the file itself, not even a request the browser would have blocked
    assert browser.requests() == [html.as_uri()], "the page asked for something else"
    assert browser.errors() == []
    dom = browser.evaluate("document.documentElement.outerHTML")
    # the script ran (the Content-Security-Policy admitted it by its hash)
    assert browser.evaluate("document.body.dataset.js") == "ready"
    assert browser.evaluate("document.getElementById('filter').hidden") is False
    tables = browser.evaluate("document.querySelectorAll('table[data-sort-ready]').length")
    assert tables == browser.evaluate("document.querySelectorAll('table.sortable').length") > 4
    # the tree: every node of the profile, ls and cat exec'd under the shell's forks
    for node in profile["processes"]:
        assert f'data-node="{node["id"]}"' in dom
    executables = {n["executable"] for n in profile["processes"]}
    assert {"/usr/bin/ls", "/usr/bin/cat"} <= executables
    for exe in executables:
        assert f'title="{exe}"' in dom
    # the time axis: two runs, the open one drawn with a row per node and both phases
    assert browser.evaluate("document.querySelectorAll('svg.timeline').length") == 2
    rows = browser.evaluate("document.querySelector('details[open] svg').querySelectorAll('g.row')"
                            ".length")  # fmt: skip
    assert rows >= 3
    assert '<line class="switch"' in dom and "switch to later" in dom
    assert re.search(r'class="m-exec"', dom)
    # the tables: per program and phase, the drops, the heatmap, the policy, the diff
    for section in ("tree", "time", "syscalls", "heatmap", "policy", "diff"):
        assert browser.evaluate(f"!!document.getElementById('{section}')"), section
    assert '<tr data-s="execve">' in dom and "drops" in dom
    assert 'class="mark seen"' in dom and 'class="mark added"' in dom
    shot = tmp_path / "report.png"
    browser.screenshot(shot)
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    print(f"\nscreenshot of the report: {shot}")


def test_a_header_click_sorts_its_table(report, browser) -> None:
    html, _ = report
    browser.load(html.as_uri())
    first = "document.querySelector('#syscalls table.sortable')"
    calls = f"[...{first}.tBodies[0].rows].map(r => +r.cells[1].dataset.v)"
    before = browser.evaluate(calls)
    assert before == sorted(before, reverse=True) and len(set(before)) > 1
    browser.evaluate(f"{first}.tHead.rows[0].cells[1].click()")
    assert browser.evaluate(calls) == sorted(before)
    assert browser.evaluate(f"{first}.tHead.rows[0].cells[1].getAttribute('aria-sort')") == (
        "ascending"
    )
    browser.evaluate(f"{first}.tHead.rows[0].cells[0].click()")
    names = browser.evaluate(f"[...{first}.tBodies[0].rows].map(r => r.dataset.s)")
    assert names == sorted(names)


def test_the_watch_sees_a_page_that_fetches(browser, tmp_path) -> None:
    page = tmp_path / "fetches.html"
    page.write_text(f'<!DOCTYPE html><html><body><img src="{REMOTE}"></body></html>')
    browser.load(page.as_uri())
    assert browser.requests() == [page.as_uri(), REMOTE]
    assert REMOTE not in browser.blocked()  # it left: only the name did not resolve


def test_the_reports_policy_refuses_a_remote_image(report, browser, tmp_path) -> None:
    html, _ = report
    hostile = tmp_path / "hostile.html"
    hostile.write_text(html.read_text().replace("<main>", f'<main><img src="{REMOTE}">', 1))
    browser.load(hostile.as_uri())
    assert browser.requests() == [hostile.as_uri(), REMOTE]
    assert browser.blocked() == {REMOTE: "csp"}, "it left the browser"
    assert any("Content Security Policy" in e for e in browser.errors()), browser.errors()
