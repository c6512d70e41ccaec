"""`sysphase report`: a profile (and a policy, another profile) as one self-contained HTML page.

Pure: :func:`render` takes the decoded inputs and the names to show, and
returns the page. It holds the process tree, each run's nodes and phases on
a time axis (inline SVG, :mod:`sysphase.report.html_timeline`), per program
and phase the sortable syscall tables and what each phase drops against the
one before, the program x syscall heatmap (:mod:`sysphase.report.html_tables`),
with a policy every allowed call's provenance, with another profile the
diff. Nothing is fetched: the stylesheet and the small script (package data,
``report/assets``) are inlined, fonts are the system's, and the page's
Content-Security-Policy allows only those two inline blocks (by hash) and
nothing from anywhere, so even a bug could not make it load a URL.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
from importlib import resources

from sysphase.model import profile_diff
from sysphase.model.profile import Profile
from sysphase.model.profile_runs import summary
from sysphase.model.timeline import Timeline
from sysphase.model.tree import NodeKind
from sysphase.policy.ir import Policy
from sysphase.report import html_tables as tables
from sysphase.report.html_parts import PhaseColors, esc, fmt_ns
from sysphase.report.html_timeline import legend_html, run_svg, tree_html
from sysphase.report.html_view import heatmap, phase_names, policy_views, program_views

__all__ = ["NO_TIMELINES", "asset", "render"]

#: what the page says of a profile without timelines
NO_TIMELINES = (
    "This profile has no timelines: it was recorded before sysphase kept them, or by the "
    "eBPF backend, which keeps no times. The tree above and the tables below are complete."
)


def asset(name: str) -> str:
    """The text of ``report/assets/NAME`` (installed as package data)."""
    return resources.files("sysphase.report").joinpath("assets", name).read_text("utf-8")


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _facts(profile: Profile, name: str) -> str:
    nodes = profile.processes
    threads = sum(1 for n in nodes if n.created is NodeKind.THREAD)
    keys = {k for n in nodes for p in n.phases for k in p.syscalls}
    state = "complete" if profile.complete else "incomplete (a recording was interrupted)"
    facts = [
        ("profile", name),
        ("arch", profile.arch),
        ("runs", f"{profile.runs}, {state}"),
        ("counts", summary(profile)),
        ("programs", str(len({n.executable for n in nodes}))),
        ("nodes", f"{len(nodes) - threads} processes, {threads or 'no'} threads"),
        ("distinct syscalls", str(len(keys))),
        ("timelines", str(len(profile.timelines)) if profile.timelines else "none"),
    ]
    if profile.fragment:
        facts.append(("fragment", "complain-mode report: only calls outside a policy"))
    items = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    return f'<dl class="facts">{items}</dl>'


def _header(profile: Profile, name: str) -> str:
    command = shlex.join(profile.command) if profile.command else "(attached)"
    return (
        '<header class="top"><h1>sysphase report</h1>'
        f'<div class="cmd">{esc(command)}</div>{_facts(profile, name)}</header>'
    )


def _nav(policy: bool, diff: bool) -> str:
    links = [("tree", "Process tree"), ("time", "Time axis"), ("syscalls", "Syscalls"),
             ("heatmap", "Heatmap")]  # fmt: skip
    if policy:
        links.append(("policy", "Policy"))
    if diff:
        links.append(("diff", "Diff"))
    items = "".join(f'<a href="#{a}">{t}</a>' for a, t in links)
    return (
        f'<nav>{items}<input id="filter" type="search" hidden '
        'placeholder="filter syscalls…" aria-label="filter syscalls"></nav>'
    )


def _run_summary(i: int, count: int, timeline: Timeline) -> str:
    ends = [t.end_ns or t.start_ns for t in timeline.nodes]
    long = fmt_ns(max(ends)) if ends else "0 ns"
    n = len(timeline.nodes)
    return (
        f'run {i + 1} of {count} <span class="sub">· {esc(timeline.mode)} · '
        f"{n} node{'' if n == 1 else 's'} · {long}</span>"
    )


def _run(i: int, profile: Profile, colors: PhaseColors, is_open: bool) -> str:
    timeline, count = profile.timelines[i], len(profile.timelines)
    return (
        f'<details class="run"{" open" if is_open else ""}><summary>'
        f"{_run_summary(i, count, timeline)}</summary>"
        f'<div class="svgbox">{run_svg(profile, timeline, colors)}</div></details>'
    )


def _time_section(profile: Profile, colors: PhaseColors) -> str:
    if not profile.timelines:
        body = f'<p class="warn">{NO_TIMELINES}</p>'
        return f'<section class="card" id="time"><h2>Time axis</h2>{body}</section>'
    count = len(profile.timelines)
    # the run with the most nodes comes first, open; the others one click away
    widest = max(range(count), key=lambda i: (len(profile.timelines[i].nodes), -i))
    others = "".join(_run(i, profile, colors, False) for i in range(count) if i != widest)
    if others:
        others = (
            f'<details class="others"><summary>the other {count - 1} '
            f"run{'' if count == 2 else 's'}</summary>{others}</details>"
        )
    note = (
        '<p class="note">each run from its start, runs in the profile\'s order: a row per '
        "process, thread and exec'd program under its parent, a bar per phase; hover for "
        "times</p>"
    )
    body = f"{note}{legend_html(colors)}{_run(widest, profile, colors, True)}{others}"
    return f'<section class="card" id="time"><h2>Time axis</h2>{body}</section>'


def _body(
    profile: Profile,
    name: str,
    policy: tuple[Policy, str] | None,
    other: tuple[Profile, str] | None,
) -> str:
    names = [n for phases in phase_names(profile).values() for n in phases]
    colors = PhaseColors(names)
    programs = program_views(profile)
    parts = [
        _header(profile, name),
        _nav(policy is not None, other is not None),
        "<main>",
        f'<section class="card" id="tree"><h2>Process tree</h2>{tree_html(profile, colors)}'
        "</section>",
        _time_section(profile, colors),
        tables.syscalls_section(programs, colors),
        tables.heatmap_section(heatmap(programs), colors),
    ]
    if policy is not None:
        views = policy_views(policy[0], profile)
        parts.append(tables.policy_section(policy[0], policy[1], views, colors))
    if other is not None:
        result = profile_diff.diff(other[0], profile)
        parts.append(tables.diff_section(result, name, other[1]))
    parts.append("</main><footer>made by sysphase report: one file, nothing fetched</footer>")
    return "".join(parts)


def render(
    profile: Profile,
    name: str,
    policy: tuple[Policy, str] | None = None,
    other: tuple[Profile, str] | None = None,
) -> str:
    """The page: PROFILE (shown as NAME), optionally a (policy, its name), an (other, its name)."""
    css, js = asset("report.css"), asset("report.js")
    csp = (
        f"default-src 'none'; style-src 'sha256-{_sha256(css)}'; "
        f"script-src 'sha256-{_sha256(js)}'; img-src 'none'; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>sysphase report: {esc(name)}</title><style>{css}</style></head>"
        f"<body>{_body(profile, name, policy, other)}<script>{js}</script></body></html>\n"
    )
