"""The terminal views: tree glyphs, process and thread counts, and the rich renderings.

rich output is rendered as rich's own tests do, into a fixed-width
``Console(file=io.StringIO(), width=..., color_system=None)``, and compared
as text (trailing spaces of a line aside). Names from profiles and traces
stay escaped and are never read as rich markup.
"""

from __future__ import annotations

import argparse
import io
import re
import shlex

import pytest
from rich.console import Console, RenderableType

from sysphase.cli import diff_cmd, stats_cmd, terminal
from sysphase.model import profile_codec, profile_diff
from sysphase.model.events import X86_64
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Phase, ProcessNode, Profile, SyscallStat
from sysphase.model.tree import Count, Node, NodeEnd, NodeKind, ProcessTree, totals
from sysphase.report import rich_views
from sysphase.report.escape import terminal_safe
from sysphase.report.profile_view import render_diff, render_process_tree, render_stats
from sysphase.report.summary import render_summary
from sysphase.report.text_tree import draw
from sysphase.report.tree_view import render_tree

SGR = re.compile(r"\x1b\[[0-9;]*m")


def rendered(view: RenderableType | None, width: int = 100, color: str | None = None) -> str:
    assert view is not None
    console = Console(file=io.StringIO(), width=width, color_system=color)  # type: ignore[arg-type]
    console.print(view)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in out.split("\n"))


# --- plain text: the glyphs and the counts --------------------------------------------------


def test_siblings_get_branches_and_the_last_one_a_corner() -> None:
    tree = {"a": ["b", "e", "f"], "b": ["c", "d"], "f": ["g"]}
    lines = draw(["a", "x"], lambda n: tree.get(n, []), str)
    assert lines == ["a", "├─ b", "│  ├─ c", "│  └─ d", "├─ e", "└─ f", "   └─ g", "x"]


def test_a_deep_chain_draws_without_recursion() -> None:
    chain = draw([0], lambda n: [n + 1] if n < 5000 else [], str)
    assert len(chain) == 5001
    assert chain[-1] == "   " * 4999 + "└─ 5000"


def node(
    index: int,
    pid: int,
    parent: int | None,
    kind: NodeKind,
    exe: str,
    argv: tuple[str, ...],
    end: NodeEnd = NodeEnd.EXITED,
    value: int = 0,
) -> Node:
    return Node(index, pid, pid, parent, kind, exe, argv, end, value, 0, 0)


def trace_tree() -> ProcessTree:
    nodes = [
        node(0, 10, None, NodeKind.SPAWN, "/bin/sh", ("sh", "-c", "ls; ls")),
        node(1, 11, 0, NodeKind.THREAD, "/bin/sh", ("sh",), NodeEnd.SIGNALED, 9),
        node(2, 12, 0, NodeKind.FORK, "/bin/sh", ("sh",), NodeEnd.EXEC),
        node(3, 12, 2, NodeKind.EXEC, "/usr/bin/ls", ("ls",)),
        node(4, 13, 0, NodeKind.VFORK, "/bin/sh", ("sh",), NodeEnd.EXEC),
        node(5, 13, 4, NodeKind.EXEC, "/usr/bin/ls", ("ls", "-l")),
    ]
    counts = [
        Count(0, 0, X86_64, 0, 3, 0, 3000),  # read
        Count(0, 0, X86_64, 257, 2, 1, 2000),  # openat
        Count(3, 0, X86_64, 257, 4, 2, 4000),
        Count(3, 0, X86_64, 231, 0, 0, 0, unfinished=1),  # exit_group
        Count(5, 0, X86_64, 1, 1, 0, 1000),  # write
    ]
    return ProcessTree(nodes, counts)


TRACE_TREE = """\
10 sh -c 'ls; ls' (spawn, exit 0): 5 calls, 1 errors, 2 distinct
├─ thread 11 (thread, killed by SIGKILL): 0 calls, 0 errors, 0 distinct
├─ 12 sh (fork, exec): 0 calls, 0 errors, 0 distinct
│  └─ 12 ls (exec, exit 0): 5 calls, 2 errors, 2 distinct
└─ 13 sh (vfork, exec): 0 calls, 0 errors, 0 distinct
   └─ 13 ls -l (exec, exit 0): 1 calls, 0 errors, 1 distinct
"""


def test_trace_tree_plain() -> None:
    assert render_tree(trace_tree()) == TRACE_TREE


def test_summary_plain_keeps_straces_layout() -> None:
    assert render_summary(totals(trace_tree().counts)) == (
        "% time     seconds  usecs/call     calls    errors syscall\n"
        "------ ----------- ----------- --------- --------- ----------------\n"
        " 60.00    0.000006           1         6         3 openat\n"
        " 30.00    0.000003           1         3           read\n"
        " 10.00    0.000001           1         1           write\n"
        "------ ----------- ----------- --------- --------- ----------------\n"
        "100.00    0.000010           1        10         3 total\n"
        "did not return (not counted above, as in strace): exit_group 1\n"
    )


def stats(**counts: int) -> FrozenMap[SyscallStat]:
    return FrozenMap({k: SyscallStat(n, 0, 1000 * n) for k, n in counts.items()})


def threaded_profile(exe: str = "/usr/bin/redis-server", phase: str = "serve") -> Profile:
    """One process with 9 threads, and a child process."""
    main = ProcessNode(
        0,
        None,
        NodeKind.SPAWN,
        exe,
        ("redis-server",),
        None,
        None,
        "exit 0",
        (
            Phase(0, "start", "start", stats(read=2)),
            Phase(1, phase, "syscall:epoll_wait", stats(epoll_wait=3)),
        ),
    )
    threads = tuple(
        ProcessNode(
            i,
            0,
            NodeKind.THREAD,
            exe,
            ("redis-server",),
            None,
            None,
            "exit 0",
            (Phase(0, phase, "inherited", stats(futex=1)),),
        )
        for i in range(1, 10)
    )
    child = ProcessNode(
        10,
        0,
        NodeKind.FORK,
        exe,
        ("redis-server",),
        None,
        None,
        "exit 0",
        (Phase(0, phase, "inherited", stats(write=1)),),
    )
    return Profile(("redis-server",), X86_64, 1, True, (main, *threads, child))


def test_stats_counts_processes_and_threads_apart() -> None:
    text = render_stats(threaded_profile())
    assert "/usr/bin/redis-server (2 processes, 9 threads)\n" in text
    tree = render_process_tree(threaded_profile()).splitlines()
    assert tree[0].startswith("0 /usr/bin/redis-server (spawn, exit 0)")
    assert [line[:3] for line in tree[1:]] == ["├─ "] * 9 + ["└─ "]


# --- rich: the same content as tables and trees ---------------------------------------------


def test_rich_trace_tree() -> None:
    assert rendered(rich_views.trace_tree(trace_tree(), 100)) == (
        "10 sh -c 'ls; ls' (spawn, exit 0): 5 calls, 1 errors, 2 distinct\n"
        "├── thread 11 (thread, killed by SIGKILL): 0 calls, 0 errors, 0 distinct\n"
        "├── 12 sh (fork, exec): 0 calls, 0 errors, 0 distinct\n"
        "│   └── 12 ls (exec, exit 0): 5 calls, 2 errors, 2 distinct\n"
        "└── 13 sh (vfork, exec): 0 calls, 0 errors, 0 distinct\n"
        "    └── 13 ls -l (exec, exit 0): 1 calls, 0 errors, 1 distinct\n"
    )


def test_rich_summary_table() -> None:
    rows = totals(trace_tree().counts)
    assert rendered(rich_views.summary(rows), width=80) == (
        "% time    seconds   usecs/call   calls   errors   syscall\n"
        "─────────────────────────────────────────────────────────\n"
        " 60.00   0.000006            1       6        3   openat\n"
        " 30.00   0.000003            1       3            read\n"
        " 10.00   0.000001            1       1            write\n"
        "─────────────────────────────────────────────────────────\n"
        "100.00   0.000010            1      10        3   total\n"
        "did not return (not counted above, as in strace): exit_group 1\n"
    )
    untimed = rendered(rich_views.summary(rows, timed=False), width=80)
    assert "     -         -            -       6        3   openat" in untimed
    assert untimed.endswith("times not measured (eBPF backend: calls and errors only)\n")


def test_rich_stats_and_process_tree() -> None:
    profile = threaded_profile()
    out = rendered(rich_views.stats(profile), width=80)
    assert out.startswith(
        "profile of redis-server\n"
        "x86_64, 1 run, complete\n"
        "how the runs were recorded is not said (a profile from before it was)\n"
        "\n"
        "/usr/bin/redis-server (2 processes, 9 threads)\n"
        "  phase start\n"
        "  syscall      calls   errors    seconds\n"
        "  ──────────────────────────────────────\n"
        "  read             2            0.000002\n"
        "  ──────────────────────────────────────\n"
        "  total            2            0.000002\n"
        "  phase serve\n"
    )
    tree = rendered(rich_views.process_tree(profile, 80)).splitlines()
    assert [line[:4] for line in tree[1:]] == ["├── "] * 9 + ["└── "]


def test_rich_diff() -> None:
    a = threaded_profile()
    b = threaded_profile(phase="loop")
    out = rendered(rich_views.diff(profile_diff.diff(a, b)))
    assert out == (
        "/usr/bin/redis-server\n"
        "├── phase serve\n"
        "│   ├── - epoll_wait\n"
        "│   ├── - futex\n"
        "│   └── - write\n"
        "└── phase loop\n"
        "    ├── + epoll_wait\n"
        "    ├── + futex\n"
        "    └── + write\n"
    )


@pytest.mark.parametrize("color", [None, "truecolor"])
def test_rich_views_escape_names_and_ignore_markup(color: str | None) -> None:
    exe = "/bin/[bold]x[/bold]\x1b]0;pwn\x07"
    phase = "[red]serve\x1b[2J"
    argv = ("[link=http://x]y", "\x9b31m")
    profile = threaded_profile(exe, phase)
    tree = ProcessTree([node(0, 10, None, NodeKind.SPAWN, exe, argv)], [])
    diff = profile_diff.diff(threaded_profile(), profile)
    views = [
        rich_views.stats(profile),
        rich_views.process_tree(profile, 100),
        rich_views.diff(diff),
        rich_views.trace_tree(tree, 100),
    ]
    text = "\n".join(SGR.sub("", rendered(view, color=color)) for view in views)
    assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text
    assert terminal_safe(exe) in text
    assert f"phase {terminal_safe(phase)}" in text
    assert terminal_safe(" ".join(shlex.quote(a) for a in argv)) in text


# --- too large for rich: plain text ---------------------------------------------------------


def test_trees_too_deep_or_too_large_fall_back_to_plain() -> None:
    def chain() -> ProcessTree:  # a new one each time: ProcessTree links the nodes it gets
        nodes = [node(0, 1, None, NodeKind.SPAWN, "/bin/x", ("x",))]
        nodes += [node(i, i + 1, i - 1, NodeKind.FORK, "/bin/x", ("x",)) for i in range(1, 40)]
        return ProcessTree(nodes, [])

    assert rich_views.trace_tree(chain(), 200) is not None
    assert rich_views.trace_tree(chain(), 100) is None  # 39 levels of 4 columns
    wide = [node(0, 1, None, NodeKind.SPAWN, "/bin/x", ("x",))]
    wide += [node(i, i + 1, 0, NodeKind.FORK, "/bin/x", ("x",)) for i in range(1, 2001)]
    assert rich_views.trace_tree(ProcessTree(wide, []), 100) is None


# --- the CLI: rich on a terminal, plain in a pipe -------------------------------------------


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_console_only_for_a_terminal() -> None:
    assert terminal.console_for(io.StringIO()) is None
    assert terminal.console_for(Tty()) is not None


@pytest.mark.parametrize("tty", [False, True])
def test_stats_and_diff_commands(monkeypatch, tmp_path, tty):  # type: ignore[no-untyped-def]
    a, b = threaded_profile(), threaded_profile(phase="loop")
    path_a, path_b = tmp_path / "a.json", tmp_path / "b.json"
    path_a.write_text(profile_codec.encode(a))
    path_b.write_text(profile_codec.encode(b))
    commands = (
        (stats_cmd, argparse.Namespace(profiles=[str(path_a)], json=False, coverage=False)),
        (diff_cmd, argparse.Namespace(a=str(path_a), b=str(path_b))),
    )
    outputs = []
    for cmd, args in commands:
        out = Tty() if tty else io.StringIO()
        monkeypatch.setattr("sys.stdout", out)
        assert cmd.run(args) == 0
        outputs.append(out.getvalue())
    stats, diff = (SGR.sub("", text) for text in outputs)
    if tty:
        assert stats.startswith("profile of redis-server\n")
        assert "\n  ──────" in stats and "\n├── " in stats and "\n└── 10 " in stats
        assert "└── phase loop\n" in diff
    else:  # byte for byte the plain text
        assert stats.startswith(render_stats(a))
        assert "\n├─ 1 " in stats and "\n└─ 10 " in stats
        assert diff == render_diff(profile_diff.diff(a, b))
