"""The benchmark's command lines: what each mode runs, and `sysphase bench`'s own options.

Also the order modes run in within a round and the measure helper's output
(exit status, peak RSS, CPU time).
"""

from __future__ import annotations

import pytest

from sysphase.bench import __main__ as bench_main
from sysphase.bench.measure import describe_exit, parse_measure_output
from sysphase.bench.runner import BPFTRACE_PROGRAM, mode_argv, rotated, selected_modes
from sysphase.bench.stats import (
    BASELINE,
    BPFTRACE,
    EBPF,
    MODES,
    NATIVE,
    SETS_ONLY,
    STARTUP,
    STRACE,
    SYSPHASE,
)


def test_mode_argv() -> None:
    cmd = ["/usr/bin/find", "/usr"]
    assert mode_argv(NATIVE, cmd) == cmd
    assert mode_argv(SYSPHASE, cmd, python="py") == [
        "py", "-m", "sysphase", "trace", "-c", "-o", "/dev/null", "--", "/usr/bin/find", "/usr"
    ]  # fmt: skip
    assert mode_argv(STARTUP, cmd, python="py", true="/bin/true") == [
        "py", "-m", "sysphase", "trace", "-c", "-o", "/dev/null", "--", "/bin/true"
    ]  # fmt: skip
    assert mode_argv(STRACE, cmd, strace="/usr/bin/strace") == [
        "/usr/bin/strace", "-f", "-c", "-o", "/dev/null", "/usr/bin/find", "/usr"
    ]  # fmt: skip
    with pytest.raises(ValueError):
        mode_argv(STRACE, cmd, strace=None)
    with pytest.raises(ValueError):
        mode_argv("perf", cmd)


def test_mode_argv_of_the_new_modes() -> None:
    cmd = ["/usr/bin/find", "/usr"]
    sysphase = ["py", "-m", "sysphase"]
    assert mode_argv(SETS_ONLY, cmd, python="py", out="o.json") == [
        *sysphase, "record", "--sets-only", "-o", "o.json", "--", *cmd
    ]  # fmt: skip
    assert mode_argv(BASELINE, cmd, python="py", out="o.json", baseline="b.json") == [
        *sysphase, "record", "--baseline", "b.json", "-o", "o.json", "--", *cmd
    ]  # fmt: skip
    assert mode_argv(EBPF, cmd, python="py") == [
        *sysphase, "trace", "-c", "--backend", "ebpf", "-o", "/dev/null", "--", *cmd
    ]  # fmt: skip
    assert mode_argv(BPFTRACE, ["/bin/x", "a b"], bpftrace="/usr/bin/bpftrace") == [
        "/usr/bin/bpftrace", "-e", BPFTRACE_PROGRAM, "-c", "/bin/x 'a b'"
    ]  # fmt: skip
    assert "/pid == cpid/" in BPFTRACE_PROGRAM and "@[args->id] = count()" in BPFTRACE_PROGRAM
    for mode, kw in [
        (SETS_ONLY, {}),
        (BASELINE, {"out": "o"}),
        (BPFTRACE, {"bpftrace": None}),
    ]:
        with pytest.raises(ValueError):
            mode_argv(mode, cmd, **kw)  # type: ignore[arg-type]


def test_selected_modes_add_native_and_the_startup_baseline() -> None:
    assert selected_modes([STRACE]) == [NATIVE, STRACE]
    assert selected_modes([SETS_ONLY, STRACE]) == [NATIVE, STARTUP, STRACE, SETS_ONLY]
    assert selected_modes([BPFTRACE, EBPF]) == [NATIVE, STARTUP, EBPF, BPFTRACE]
    assert selected_modes(MODES) == list(MODES)


def test_rotated_gives_each_mode_a_turn_first() -> None:
    modes = ["a", "b", "c"]
    assert [rotated(modes, i)[0] for i in range(4)] == ["a", "b", "c", "a"]
    assert rotated(modes, 1) == ["b", "c", "a"]
    assert rotated([], 5) == []


def test_parse_measure_output() -> None:
    assert parse_measure_output("0 1192 900 1100\n") == (0, 1192, 0.002)
    assert parse_measure_output("768 10 0 0") == (3, 10, 0.0)  # exit status 3
    assert parse_measure_output("9 10 0 0")[0] == -9  # SIGKILL
    for bad in ("", "0 1 2", "0 1 2 x"):
        with pytest.raises(ValueError):
            parse_measure_output(bad)


def test_describe_exit() -> None:
    assert describe_exit(1) == "exited with status 1"
    assert describe_exit(-11) == "was killed by SIGSEGV"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], (("loop", "find", "ls", "redis"), 3, 1_000_000)),
        (["--quick"], (("loop", "ls"), 1, 100_000)),
        (
            ["--quick", "--workload", "loop", "--loop-calls", "2000", "--rounds", "2"],
            (("loop",), 2, 2000),
        ),
        (
            ["--workload", "ls", "--workload", "find", "--workload", "ls"],
            (("ls", "find"), 3, 10**6),
        ),
        (["--loop-calls", "1_000"], (("loop", "find", "ls", "redis"), 3, 1000)),
    ],
)
def test_settings(argv: list[str], expected: tuple[tuple[str, ...], int, int]) -> None:
    st = bench_main.settings_from_args(bench_main.build_parser().parse_args(argv))
    assert (st.workloads, st.rounds, st.loop_calls) == expected


@pytest.mark.parametrize(
    "argv", [["--rounds", "0"], ["--loop-calls", "-1"], ["--workload", "x"], ["--rounds", "a"]]
)
def test_bad_command_line_is_one_sentence_and_status_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        bench_main.build_parser().parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("sysphase bench: ") and err.count("\n") == 1


def test_settings_only_modes_and_redis_requests() -> None:
    args = ["--only", "redis,loop", "--modes", "sets-only,strace", "--redis-requests", "500"]
    st = bench_main.settings_from_args(bench_main.build_parser().parse_args(args))
    assert st.workloads == ("redis", "loop")
    assert st.modes == (NATIVE, STARTUP, STRACE, SETS_ONLY)
    assert st.redis_requests == 500
    assert st.explicit
    quick = bench_main.settings_from_args(bench_main.build_parser().parse_args(["--quick"]))
    assert quick.redis_requests == 10_000 and quick.modes == MODES and not quick.explicit


@pytest.mark.parametrize("argv", [["--modes", "perf"], ["--only", "loop,x"], ["--modes", ","]])
def test_bad_names_are_one_sentence_and_status_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        bench_main.build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
