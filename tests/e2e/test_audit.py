"""`sysphase audit` on real kernel records: a patched fixture under log and kill policies.

The fixture calls getppid before its serve phase (the first epoll_wait) and,
run with "late", again after it: recorded without "late", its policy's serve
filter refuses getppid. Patched with `--default-action log` the late call is
logged and allowed; patched with the kill policy it kills the program. The
kernel's records (dmesg) must name exactly that call of that program, with
the right action and phase; the fragment written with -o merges into the
profile, and the policy made from the merge lets the late call through. The
kernel rate-limits its audit messages (10 per 5 s, shared with every other
printk_ratelimit user), so a run whose record was dropped is repeated after
the window; records are matched on this test's own binaries.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from sysphase.policy import codec
from tests.conftest import IN_CI, need_root, sysphase_cmd
from tests.e2e.patch_helpers import SIGSYS, build_c, record_env, run, sysphase

LATE = r"""
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int late = argc > 1 && strcmp(argv[1], "late") == 0;
    syscall(SYS_getppid); /* start allows getppid */
    int ep = epoll_create1(0);
    struct epoll_event ev;
    epoll_wait(ep, &ev, 1, 0); /* serve begins */
    if (late)
        syscall(SYS_getppid); /* serve refuses it */
    return 0;
}
"""

#: how often a run is repeated when its record does not show (the rate limit's window is 5 s)
ATTEMPTS = 3


@pytest.fixture(scope="module")
def patched(tools, tmp_path_factory):
    """{binary, profile, policy, policy_log, kill, log}: the fixture, recorded and patched twice."""
    need_root()
    tmp = tmp_path_factory.mktemp("audit")
    binary = build_c(tmp, "late", LATE)
    prof, pol, pol_log = tmp / "late.json", tmp / "policy.json", tmp / "policy-log.json"
    serve = ("--phase", "serve=syscall:epoll_wait")
    sysphase("record", "-o", str(prof), *serve, "--", binary, env=record_env())
    sysphase("policy", str(prof), "-o", str(pol))
    sysphase("policy", str(prof), "--default-action", "log", "-o", str(pol_log))
    out = {"binary": binary, "profile": str(prof), "policy": str(pol), "policy_log": str(pol_log)}
    for action, policy in (("kill", pol), ("log", pol_log)):
        out[action] = str(tmp / f"late-{action}")
        sysphase("patch", "--policy", str(policy), binary, "-o", out[action])
    return out


def audit_json(since: float, exe: str, *args: str) -> list[dict]:
    p = sysphase("audit", "--since", f"{since:.3f}", "--exe", exe, "--json", *args)
    return [json.loads(line) for line in p.stdout.splitlines()]


def logged(exe: str, expected_status: int, *args: str) -> tuple[float, list[dict]]:
    """Run EXE late until the kernel's record of it shows; (the time before, its records)."""
    since = time.time()
    for attempt in range(ATTEMPTS):
        assert run([exe, "late"]).returncode == expected_status
        for _ in range(20):
            found = audit_json(since, exe, *args)
            if found[:-1]:
                return since, found
            time.sleep(0.1)
        if attempt + 1 < ATTEMPTS:
            time.sleep(5.5)  # the printk rate limit's window
    dmesg = subprocess.run(["dmesg"], capture_output=True, text=True, check=False).stdout
    assert exe not in dmesg, f"dmesg has a record of {exe} that sysphase audit did not read"
    msg = f"the kernel logged no seccomp record of {exe} (audit off, or rate-limited)"
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)


def check(records: list[dict], exe: str, program: str, action: str, signal: int) -> None:
    *rows, summary = records
    assert summary["records"] == len(rows) >= 1
    for r in rows:
        assert (r["exe"], r["program"], r["syscall"], r["arch"]) == (
            exe,
            program,
            "getppid",
            "x86_64",
        )
        assert (r["action"], r["signal"]) == (action, signal)
        assert r["phase"] == "serve"
        assert r["note"] == f"the first of {program}'s phases that refuses getppid"


def test_a_logged_call_is_named_with_its_phase_and_merges_back(patched, tmp_path):
    binary, exe = patched["binary"], patched["log"]
    since, records = logged(exe, 0, "--policy", patched["policy_log"])
    check(records, exe, binary, "log", 0)
    frag, merged, policy = tmp_path / "frag.json", tmp_path / "merged.json", tmp_path / "p.json"
    sysphase(
        "audit", "--since", f"{since:.3f}", "--exe", exe, "--policy", patched["policy_log"],
        "-o", str(frag),
    )  # fmt: skip
    assert json.loads(frag.read_text())["fragment"] is True
    sysphase("merge", "-o", str(merged), patched["profile"], str(frag))
    sysphase("policy", str(merged), "-o", str(policy))
    serve = codec.decode(policy.read_text(), str(policy)).root_program.phase("serve")
    assert serve is not None and "getppid" in serve.syscall_names()
    fixed = str(tmp_path / "late-fixed")
    sysphase("patch", "--policy", str(policy), binary, "-o", fixed)
    assert run([fixed, "late"]).returncode == 0


def test_a_killed_call_is_named_with_its_phase(patched):
    binary, exe = patched["binary"], patched["kill"]
    since, records = logged(exe, SIGSYS, "--policy", patched["policy"])
    check(records, exe, binary, "kill_process", 31)
    text = sysphase("audit", "--since", f"{since:.3f}", "--exe", exe, "--policy", patched["policy"])
    first, *_ = text.stdout.splitlines()
    assert first.endswith(
        f"  {exe} (program {binary})  getppid (110)  kill_process  "
        f"phase serve (the first of {binary}'s phases that refuses getppid)"
    )
    assert f"  {binary}  phase serve  getppid  " in text.stdout
    bare = audit_json(since, exe)  # without the policy: the program is the file
    assert {(r["program"], r["syscall"], r["phase"]) for r in bare[:-1]} == {(exe, "getppid", None)}


def test_sources_and_bad_input_are_one_sentence(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(
        "type=SYSCALL msg=audit(1700000000.000:7): arch=c000003e syscall=41 success=no\n"
        "type=SECCOMP msg=audit(1700000000.000:7): auid=1000 uid=1000 gid=1000 ses=2 pid=99 "
        'comm="nc" exe="/usr/bin/nc" sig=31 arch=c000003e syscall=41 compat=0 ip=0x1 '
        'code=0x80000000\x1dAUID="u" ARCH=x86_64 SYSCALL=socket\n'
    )
    p = sysphase("audit", "--from", str(log))
    assert p.stdout.splitlines()[-2:] == [
        f"1 record from {log}:",
        "  /usr/bin/nc  socket  1",
    ]
    stdin = subprocess.run(
        sysphase_cmd("audit", "--from", "-", "--json"),
        input=log.read_text(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(stdin.stdout.splitlines()[0])["syscall"] == "socket"
    for args, said in [
        (("--from", str(tmp_path / "none")), f"sysphase: {tmp_path / 'none'}: no such file"),
        (("--since", "soon"), "sysphase: --since 'soon' is not a time: give an epoch time"),
        (("-o", str(tmp_path / "f.json")), "sysphase: -o needs --policy: a fragment puts"),
        (("--from", str(tmp_path)), f"sysphase: {tmp_path} is a directory, not an audit log"),
    ]:
        bad = sysphase("audit", *args, ok=False)
        assert bad.returncode != 0
        assert len(bad.stderr.splitlines()) == 1 and bad.stderr.startswith(said), bad.stderr
    assert not os.path.exists(tmp_path / "f.json")
