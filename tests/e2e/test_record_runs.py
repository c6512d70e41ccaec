"""`record --runs N` gives exact counts over all N runs, and says how every run was recorded.

Real runs of real programs: ls over /etc (the same work each run), and a
shell that creates a file only when it is missing (a redirection: `dup2` and
`fcntl` in the first run only), so one call is seen in 1 of 3 runs.
"""

from __future__ import annotations

import json
import subprocess

from tests.conftest import TRACEE_ENV, sysphase_cmd


def sysphase(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=300, env=TRACEE_ENV
    )


def _totals(doc: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for node in doc["processes"]:
        for phase in node["phases"]:
            for key, stat in phase["syscalls"].items():
                out[key] = out.get(key, 0) + stat["calls"] + stat["unfinished"]
    return out


def test_runs_are_exact_by_default_and_sum_over_every_run(tmp_path):
    one, three = tmp_path / "one.json", tmp_path / "three.json"
    assert sysphase("record", "-o", str(one), "--", "ls", "-la", "/etc").returncode == 0
    rec = sysphase("record", "--runs", "3", "-o", str(three), "--", "ls", "-la", "/etc")
    assert rec.returncode == 0, rec.stderr
    doc = json.loads(three.read_text())
    assert doc["runs"] == 3 and doc["recording"] == {"full": 3}
    totals, single = _totals(doc), _totals(json.loads(one.read_text()))
    assert set(totals) == set(single)
    spread = {s["syscall"]: s for s in doc["spread"]}
    for key, total in totals.items():
        s = spread[key]
        assert s["runs"] == 3
        assert 3 * s["min_calls"] <= total <= 3 * s["max_calls"], key
    # ls -la /etc does the same work each time: three times one run's calls
    assert sum(totals.values()) == 3 * sum(single.values())
    out = sysphase("stats", str(three)).stdout
    assert "calls, errors and times exact over 3 runs" in out.splitlines()[:4]


def test_a_call_seen_in_some_runs_only_is_marked(tmp_path):
    flag, prof = tmp_path / "flag", tmp_path / "p.json"
    script = f"test -e {flag} || : > {flag}"
    rec = sysphase("record", "--runs", "3", "-o", str(prof), "--", "sh", "-c", script)
    assert rec.returncode == 0, rec.stderr
    out = sysphase("stats", str(prof)).stdout
    assert "seen in only some runs: dup2 (1 of 3 runs), fcntl (1 of 3 runs)" in out
    doc = json.loads(sysphase("stats", "--json", str(prof)).stdout)
    some = doc["seen_in_some_runs"]
    (sh,) = some
    assert some[sh]["start"] == {"dup2": 1, "fcntl": 1}
    assert doc["recording"] == {"full": 3}
    explained = sysphase("policy", str(prof), "-o", str(tmp_path / "p.pol"), "--explain")
    lines = explained.stderr.splitlines()
    at = [i for i, line in enumerate(lines) if line.strip().startswith("dup2 ")]
    assert at and lines[at[0] + 1].strip() == f"{sh} start: seen in 1 of 3 runs"


def test_fast_runs_say_what_their_counts_are_worth(tmp_path):
    flag, prof = tmp_path / "flag", tmp_path / "p.json"
    script = f"test -e {flag} || : > {flag}"
    rec = sysphase("record", "--runs", "3", "--fast", "-o", str(prof), "--", "sh", "-c", script)
    assert rec.returncode == 0, rec.stderr
    doc = json.loads(prof.read_text())
    assert doc["recording"] == {"full": 1, "known": 2}
    out = sysphase("stats", str(prof)).stdout
    assert "sets exact over 3 runs; counts exact from 1 run; 2 runs recorded known-set" in out
    # only the full run counted: dup2 is in the one full run that had it, nothing to mark
    assert "seen in only some runs" not in out


def test_a_workload_recording_says_it_was_set_only(tmp_path):
    scenarios, prof = tmp_path / "w.toml", tmp_path / "p.json"
    scenarios.write_text(
        'workload = "cat"\nprogram = "cat"\n'
        '[[scenario]]\nname = "a"\ntag = "train"\nargv = ["cat"]\nstdin = "x"\n'
        '[[scenario]]\nname = "b"\ntag = "train"\nargv = ["cat", "-A"]\nstdin = "y"\n'
    )
    assert sysphase("record", "-o", str(prof), "--workload", str(scenarios)).returncode == 0
    assert json.loads(prof.read_text())["recording"] == {"known": 1, "sets": 1}
    out = sysphase("stats", str(prof)).stdout
    assert (
        "sets exact over 2 runs; no run counted every call; "
        "2 runs recorded set-only and known-set" in out
    )


def test_mode_options_that_contradict_are_one_sentence(tmp_path):
    out = str(tmp_path / "p.json")
    bad = sysphase("record", "--full", "--fast", "--runs", "2", "-o", out, "--", "true")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "sysphase: --full cannot be combined with --sets-only, --baseline or --fast"
    )
    bad = sysphase("record", "--fast", "-o", out, "--workload", "ls")
    assert bad.returncode == 2 and "record --workload is fast already" in bad.stderr


def test_every_run_keeps_its_own_timeline(tmp_path):
    """When each process began, exec'd and ended, when phases began, first and last calls."""
    prof = tmp_path / "p.json"
    script = "sleep 0.05; ls / > /dev/null"
    rec = sysphase(
        "record",
        "--runs",
        "2",
        "--phase",
        "late=syscall:wait4",
        "-o",
        str(prof),
        "--",
        "sh",
        "-c",
        script,
    )
    assert rec.returncode == 0, rec.stderr
    doc = json.loads(prof.read_text())
    assert [t["mode"] for t in doc["timelines"]] == ["full", "full"]
    exe = {p["id"]: p["executable"] for p in doc["processes"]}
    for timeline in doc["timelines"]:
        nodes = {n["node"]: n for n in timeline["nodes"]}
        end = max(n["end_ns"] for n in nodes.values())
        for n in nodes.values():
            assert 0 <= n["start_ns"] <= n["end_ns"] <= end
            assert [p[1] for p in n["phases"]] == sorted(p[1] for p in n["phases"])
            for phase, _syscall, first, last in n["calls"]:
                assert first <= last <= end and phase in {p[0] for p in n["phases"]}
        (sleep,) = [n for i, n in nodes.items() if exe[i].endswith("/sleep")]
        (ls,) = [n for i, n in nodes.items() if exe[i].endswith("/ls")]
        assert ls["start_ns"] >= sleep["end_ns"] - 1_000_000  # ls runs after sleep's 50 ms
        assert sleep["end_ns"] - sleep["start_ns"] >= 40_000_000
        (root,) = [n for i, n in nodes.items() if i == 0]
        names = [p[0] for p in root["phases"]]
        assert names == ["start", "late"]  # the shell waited for sleep: its phase began then
        wait4 = [c for c in root["calls"] if c[1] == "wait4"]
        assert wait4 and all(c[0] == "late" for c in wait4)
