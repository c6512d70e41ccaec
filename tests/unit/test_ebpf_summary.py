"""The -c table of a backend that measures no time (the eBPF backend): '-' time columns."""

from __future__ import annotations

from sysphase.model.tree import Count, totals
from sysphase.report.summary import HEADER, RULE, render_summary


def test_untimed_table():
    counts = [
        Count(0, 0, "x86_64", 110, 5, 0, 0),  # getppid
        Count(1, 0, "x86_64", 110, 2, 0, 0),
        Count(0, 0, "x86_64", 81, 3, 3, 0),  # fchdir
        Count(0, 0, "i386", 64, 1, 0, 0),  # i386 getppid
        Count(0, 0, "x86_64", 231, 0, 0, 0, 1),  # exit_group, unfinished
    ]
    text = render_summary(totals(counts), timed=False)
    assert text.splitlines() == [
        HEADER,
        RULE,
        "     -           -           -         7           getppid",
        "     -           -           -         3         3 fchdir",
        "     -           -           -         1           getppid (i386)",
        RULE,
        "     -           -           -        11         3 total",
        "did not return (not counted above, as in strace): exit_group 1",
        "times not measured (eBPF backend: calls and errors only)",
    ]


def test_timed_table_unchanged_by_default():
    counts = [Count(0, 0, "x86_64", 110, 2, 0, 4000)]
    assert render_summary(totals(counts)) == render_summary(totals(counts), timed=True)
    assert "not measured" not in render_summary(totals(counts))
