"""Recording through seccomp filters, in-process (so the ASan pass covers the C paths):
set-only recording, known-set (baseline) re-recording, filtered tracing.

Sets are compared per (executable, phase, syscall key), the profile's own grain; no test
looks at a clock. Thread start-up and exit make a timing-dependent number of futex calls,
so futex is left out where threads race.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence

import pytest

from sysphase._host import seccomp, tracer
from sysphase.cli.trace_cmd import parse_selection
from sysphase.model import profile as prof
from sysphase.model import profile_build, profile_merge, syscalls
from sysphase.model.events import X86_64
from sysphase.model.phases import parse_trigger
from sysphase.model.tree import NodeKind
from tests.conftest import TRACEE_ENV, need_root

Keys = set[tuple[str, str, str]]


def profile(result: tracer.TraceResult, argv: Sequence[str]) -> prof.Profile:
    return profile_build.from_tree(result.tree, list(argv), "x86_64")


def keys(p: prof.Profile, racy: bool = False) -> Keys:
    out = {(n.executable, ph.name, k) for n in p.processes for ph in n.phases for k in ph.syscalls}
    return {k for k in out if k[2] != "futex"} if racy else out


def run(argv: Sequence[str], config: tracer.PhaseConfig | None = None, **kw: object):
    r = tracer.trace_command(list(argv), env=TRACEE_ENV, phases=config, **kw)  # type: ignore[arg-type]
    return r, profile(r, argv)


def triggers(*specs: str) -> tracer.PhaseConfig:
    return tracer.PhaseConfig(triggers=tuple(parse_trigger(s) for s in specs))


# (argv with @fixture names, phase config, whether threads race on futex)
CASES: list[tuple[list[str], Callable[[], tracer.PhaseConfig | None], bool]] = [
    (["@markers", "5", "3"], lambda: None, False),
    (["@int80"], lambda: None, False),
    (["@x32"], lambda: None, False),
    (["@threads", "4", "10"], lambda: None, True),
    (["@forks", "fork", "3", "2"], lambda: None, False),
    (["@forks", "vfork", "3", "2"], lambda: None, False),
    (["@exec_thread", "7", "@markers", "3"], lambda: None, True),
    (["@signals", "20"], lambda: None, False),
    (["@phases", "syscall"], lambda: triggers("serve=syscall:getpid"), False),
    (["@phases", "mark"], lambda: None, False),
    (["@phases", "signal"], lambda: tracer.PhaseConfig(signal=12), False),
    (["@phases", "func", "3"], lambda: triggers("serve=symbol:sysphase_fixture_serve"), True),
    (["@twophase", "before", "3"], lambda: triggers("serve=syscall:getpid"), True),
    (["@twophase", "after", "3"], lambda: triggers("serve=symbol:twophase_serve"), True),
    (["sh", "-c", "ls / >/dev/null; cat /dev/null"], lambda: None, False),
]
IDS = ["-".join(a.lstrip("@") for a in c[0][:3]).replace("/", "") for c in CASES]


def argv_of(fx, argv: list[str]) -> list[str]:
    return [fx[a[1:]] if a.startswith("@") else a for a in argv]


@pytest.mark.parametrize(("argv", "config", "racy"), CASES, ids=IDS)
def test_set_only_records_the_same_sets_as_full_tracing(fx, argv, config, racy):
    argv = argv_of(fx, argv)
    full, pf = run(argv, config())
    fast, ps = run(argv, config(), sets_only=True)
    assert fast.mode == "sets" and fast.exit_status == full.exit_status
    assert keys(ps, racy) == keys(pf, racy)


@pytest.mark.parametrize(("argv", "config", "racy"), CASES, ids=IDS)
def test_baseline_run_adds_exactly_what_the_baseline_lacks(fx, argv, config, racy):
    """Baseline = the same program with fewer markers / a shorter chain / another mode
    where there is one, else itself: the baseline run must find exactly the rest."""
    argv = argv_of(fx, argv)
    name = os.path.basename(argv[0])
    smaller = {
        "markers": lambda: [argv[0], "0", "0"],
        "forks": lambda: [argv[0], argv[1], "1", "1"],
        "twophase": lambda: [argv[0], "before", "1"],
        "sh": lambda: ["sh", "-c", "ls / >/dev/null"],
    }.get(name, lambda: argv)()
    _, base = run(smaller, config())
    full, pf = run(argv, config())
    fast, pb = run(argv, config(), baseline=base)
    assert fast.mode == "baseline" and fast.exit_status == full.exit_status
    want, got = keys(pf, racy), keys(pb, racy)
    assert got <= want  # nothing recorded that the program did not do in that phase
    assert want - keys(base) <= got  # everything it did that the baseline lacked
    assert keys(profile_merge.merge(base, pb), racy) == keys(profile_merge.merge(base, pf), racy)


def test_set_only_counts_calls_at_entry(fx):
    r, _ = run([fx["markers"], "5", "3"], sets_only=True)
    by = {c.name: c for c in r.tree.counts if c.arch == X86_64}
    assert by["getppid"].calls == 5 and by["fchdir"].calls == 3
    assert by["fchdir"].errors == 0 and by["getppid"].time_ns == 0  # not measured
    assert by["exit_group"].calls == 0 and by["exit_group"].unfinished == 1


def test_int80_calls_stop_in_set_only_mode(fx):
    r, _ = run([fx["int80"]], sets_only=True)
    i386 = {c.name: c.calls for c in r.tree.counts if c.arch == "i386"}
    assert i386 == {"getpid": 1, "getppid": 1, "fchdir": 1}


def test_set_only_takes_about_half_the_stops(fx):
    argv = [fx["loop"], "20000"]
    full, _ = run(argv)
    fast, _ = run(argv, sets_only=True)
    assert full.stops >= 40000 and 20000 <= fast.stops <= full.stops * 0.55


def test_baseline_of_a_known_program_makes_almost_no_stops(fx):
    argv = [fx["loop"], "20000"]
    _, base = run(argv)
    fast, p = run(argv, baseline=base)
    assert fast.stops < 40  # the exec and exit events, execve's and clone's stops
    assert keys(p) == set()


def test_baseline_records_each_new_threads_own_start_up_calls(fx):
    # the baseline knows every call, yet each thread's first calls land in its own node:
    # a thread alive across a switch may make them after it (policy generation counts a
    # thread's earlier calls in its later phases), so they must not hide behind the
    # process's known set
    argv = [fx["threads"], "4", "10"]
    _, base = run(argv)
    fast, p = run(argv, baseline=base)
    assert fast.mode == "baseline" and fast.exit_status == 0
    threads = [n for n in p.processes if n.created is NodeKind.THREAD]
    assert len(threads) == 4
    for n in threads:
        calls = {k for ph in n.phases for k in ph.syscalls}
        assert {"set_robust_list", "rseq", "getppid"} <= calls, calls
    # bounded: about 2 stops for each of a thread's first calls, not one for every call
    assert fast.stops < 4 * 2 * 40


def test_baseline_switches_filters_at_triggers_and_markers(fx):
    argv = [fx["phases"], "mark"]
    _, base = run(argv)
    fast, p = run(argv, baseline=base)
    assert fast.switches == 2  # "serve" and "drain" stacked at their markers
    assert {ph.name for n in p.processes for ph in n.phases} == {"start", "serve", "drain"}


def test_a_failed_filter_switch_falls_back_to_entry_stops(fx, tmp_path):
    # the program's own filter refuses seccomp(): the switch at markers' exec fails, and
    # the process is recorded at syscall-entry stops instead
    names = {n for n in syscalls.names(X86_64) if n != "seccomp"}
    allow = {n: () for n in names if (syscalls.number(X86_64, n) or 0) >= 0}
    own = tmp_path / "own.bpf"
    own.write_bytes(seccomp.compile_filter(allow, "errno"))
    argv = [fx["sandboxed"], str(own), fx["markers"], "4", "2"]
    _, base = run([fx["sandboxed"], str(own), fx["markers"], "0", "0"])
    full, pf = run(argv)
    fast, pb = run(argv, baseline=base)
    assert fast.exit_status == full.exit_status == 0
    assert fast.switches == 0
    counts = {c.name: c.calls for c in fast.tree.counts if c.arch == X86_64}
    assert counts["getppid"] == 4 and counts["fchdir"] == 2
    assert keys(profile_merge.merge(base, pb)) == keys(profile_merge.merge(base, pf))


def test_a_program_with_its_own_filter_is_still_recorded(fx, tmp_path):
    _, plain = run([fx["markers"], "2", "1"])
    allow = {n.split(":")[-1]: () for n in keys_of_arch(plain)} | {"execve": ()}
    own = tmp_path / "own.bpf"
    own.write_bytes(seccomp.compile_filter(allow, "errno"))
    argv = [fx["sandboxed"], str(own), fx["markers"], "2", "1"]
    full, pf = run(argv)
    fast, ps = run(argv, sets_only=True)
    assert fast.exit_status == full.exit_status == 0
    assert keys(ps) == keys(pf)
    counts = {c.name: c.calls for c in fast.tree.counts if c.arch == X86_64}
    assert counts["getppid"] == 2 and counts["fchdir"] == 1


def keys_of_arch(p: prof.Profile) -> set[str]:
    return {k for n in p.processes for ph in n.phases for k in ph.syscalls if ":" not in k}


def test_recording_filters_leave_no_new_privs_unset_as_root(tmp_path):
    need_root()
    out = tmp_path / "status"
    argv = ["sh", "-c", f"grep -E 'NoNewPrivs|Seccomp:' /proc/self/status > {out}"]
    for kw in ({"sets_only": True}, {"select": tracer.Selection(frozenset({"openat"}))}):
        r, _ = run(argv, **kw)
        assert r.exit_status == 0
        status = dict(line.split(":") for line in out.read_text().splitlines())
        assert status["NoNewPrivs"].strip() == "0" and status["Seccomp"].strip() == "2"


def test_a_setuid_program_keeps_its_privileges_under_set_only_recording():
    need_root()
    # root's setuid is invisible; a setuid-root copy of `id` run as nobody shows euid 0
    # only when no_new_privs is off (under no_new_privs the set-uid bit is ignored)
    with tempfile.TemporaryDirectory(dir="/tmp") as d:  # a folder nobody can reach
        os.chmod(d, 0o755)
        helper = os.path.join(d, "id")
        shutil.copy("/usr/bin/id", helper)
        os.chmod(helper, 0o4755)
        out = os.path.join(d, "out")
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
        argv += ["sh", "-c", f"{helper} -u > {out}"]

        def euid(**kw: object) -> str:
            with open(out, "w") as f:
                f.write("?")
            os.chmod(out, 0o666)
            if kw:
                assert run(argv, **kw)[0].exit_status == 0
            else:
                subprocess.run(argv, env=TRACEE_ENV, check=True, timeout=30)
            with open(out) as f:
                return f.read().strip()

        if euid() != "0":
            pytest.skip(f"set-uid binaries do not work in {d} (nosuid mount?)")
        assert euid(sets_only=True) == "0"
        assert euid(select=tracer.Selection(frozenset({"openat"}))) == "0"


def selection(expr: str) -> tracer.Selection:
    return tracer.Selection(*parse_selection(expr))


@pytest.mark.parametrize(
    ("argv", "expr"),
    [
        (["@forks", "vfork", "3", "2"], "trace=%process,getppid"),
        (["@markers", "5", "3"], "trace=fchdir,exit_group"),
        (["@int80"], "trace=getppid,fchdir"),
        (["@threads", "3", "4"], "trace=!futex,getppid"),
        (["@phases", "mark"], "trace=%file,write"),
    ],
    ids=["process", "names", "int80", "inverted", "marker"],
)
def test_filtered_tracing_counts_exactly_the_selected_calls(fx, argv, expr):
    argv = argv_of(fx, argv)
    sel = selection(expr)

    def chosen(r: tracer.TraceResult) -> dict[tuple[str, str], tuple[int, int, int]]:
        return {
            (c.arch, c.name): (c.calls, c.errors, c.unfinished)
            for c in r.tree.counts
            if (c.name in sel.names) != sel.inverted and c.name != "futex"
        }

    full, _ = run(argv)
    fast, _ = run(argv, select=sel)
    assert fast.mode == "filtered" and fast.exit_status == full.exit_status
    assert chosen(fast) == chosen(full) and chosen(full)
    if not sel.inverted:
        assert fast.stops < full.stops


def test_filtered_tracing_live_events_have_results(fx):
    seen = []
    r = tracer.trace_command(
        [fx["markers"], "3", "2"],
        env=TRACEE_ENV,
        sink=seen.extend,
        select=selection("trace=fchdir,getppid"),
    )
    assert r.exit_status == 0
    names = [(syscalls.name(e.arch, e.nr), e.retval) for e in seen]
    assert [n for n, _ in names] == ["getppid"] * 3 + ["fchdir"] * 2
    assert all(v is not None for _, v in names) and names[-1][1] == -9  # EBADF


def test_recording_modes_refuse_enforcement_arguments(fx):
    with pytest.raises(Exception, match="enforcement"):
        tracer.trace_command(
            [fx["markers"], "1", "0"], sets_only=True, enforce=tracer.Enforce(None, complain=True)
        )


def test_without_cap_sys_admin_the_filter_comes_with_no_new_privs():
    need_root()  # to become nobody
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    import sysphase

    src = os.path.dirname(os.path.dirname(sysphase.__file__))
    script = (
        "import os\n"
        "from sysphase._host import tracer\n"
        "env = {k: v for k, v in os.environ.items() if 'SAN' not in k and k != 'LD_PRELOAD'}\n"
        "r = tracer.trace_command(['grep', '-E', 'NoNewPrivs|Seccomp:', '/proc/self/status'],"
        " env=env, sets_only=True)\n"
        "assert r.exit_status == 0, r.exit_status\n"
        "assert {c.name for c in r.tree.counts} >= {'openat', 'read', 'write'}\n"
    )
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    # this interpreter, or the system's of the same version (the extension's ABI) if
    # nobody cannot reach this one (e.g. under /root)
    for python in (sys.executable, "/usr/bin/python{}.{}".format(*sys.version_info[:2])):
        proc = subprocess.run(
            [*nobody, "env", f"PYTHONPATH={src}", python, "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            check=False,
        )
        if "Permission denied" not in proc.stderr and "No such file" not in proc.stderr:
            break
    else:
        pytest.skip(f"nobody cannot run this interpreter or read {src}: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    status = dict(line.split(":") for line in proc.stdout.splitlines())
    assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2"
