"""Phase switches in patched programs: at a libc call, for every thread, or refused by name.

A two-phase program proves the guard's switch at a libc call (and TSYNC
across threads); triggers the guard cannot see, too many phases and
triggers no interposable function reaches are refused with the reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sysphase.errors import UsageError
from sysphase.policy import guard_source as guard
from sysphase.policy.ir import PolicyPhase, ProgramPolicy
from tests.e2e.patch_helpers import SIGSYS, build_c, one_sentence, record_policy, run, sysphase

TWO_PHASES_C = r"""
/* twophase MODE: socket() before or after the first call of epoll_wait(), in main or a thread.
 * Prints its Seccomp_filters line after epoll_wait. MODE: before, after, thread-after. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *mode;
static int pipefd[2];

static void *worker(void *arg)
{
    char c;
    (void)arg;
    if (read(pipefd[0], &c, 1) != 1)
        return NULL;
    if (strcmp(mode, "thread-after") == 0)
        close(socket(AF_INET, SOCK_STREAM, 0));
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t t;
    struct epoll_event ev;
    char line[256];
    if (argc != 2)
        return 2;
    mode = argv[1];
    if (pipe(pipefd) != 0 || pthread_create(&t, NULL, worker, NULL) != 0)
        return 1;
    int ep = epoll_create1(0);
    if (strcmp(mode, "before") == 0)
        close(socket(AF_INET, SOCK_STREAM, 0));
    epoll_wait(ep, &ev, 1, 0);
    FILE *f = fopen("/proc/self/status", "r");
    while (f != NULL && fgets(line, sizeof(line), f))
        if (strncmp(line, "Seccomp_filters:", 16) == 0)
            fputs(line, stdout);
    fflush(stdout);
    if (write(pipefd[1], "x", 1) != 1 || pthread_join(t, NULL) != 0)
        return 1;
    if (strcmp(mode, "after") == 0)
        close(socket(AF_INET, SOCK_STREAM, 0));
    return 0;
}
"""


def test_two_phases_switch_at_a_libc_call_for_every_thread(tools, tmp_path):
    prog = build_c(tmp_path, "twophase", TWO_PHASES_C)
    policy = record_policy(
        tmp_path, "twophase", [prog, "before"], "--phase", "serve=syscall:epoll_wait"
    )
    phases = json.loads(Path(policy).read_text())["programs"][0]["phases"]
    assert [p["name"] for p in phases] == ["start", "serve"]
    out = tmp_path / "patched"
    sysphase("patch", "--policy", policy, prog, "-o", str(out))
    ok = run([out, "before"])
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == b"Seccomp_filters:\t2\n"  # the serve filter is stacked on start's
    for mode in ("after", "thread-after"):  # socket is allowed in start only
        bad = run([out, mode])
        assert bad.returncode == SIGSYS, (mode, bad.returncode, bad.stderr)
        assert bad.stdout == b"Seccomp_filters:\t2\n"
        assert run([prog, mode]).returncode == 0
    check = sysphase("patch", "--check", str(out))
    assert "phases: start, serve (syscall:epoll_wait)" in check.stdout


@pytest.mark.parametrize(
    ("args", "trigger", "phase"),
    [
        (["syscall"], "syscall:getpid", "serve=syscall:getpid"),  # a raw syscall(SYS_getpid)
        (["func", "2"], "symbol:sysphase_fixture_serve", "serve=symbol:sysphase_fixture_serve"),
        (["mark"], "marker", None),
    ],
)
def test_triggers_the_guard_cannot_see_are_refused(tools, fx, tmp_path, args, trigger, phase):
    opts = ["--phase", phase] if phase else []
    policy = record_policy(tmp_path, "phases", [fx["phases"], *args], *opts)
    p = sysphase("patch", "--policy", policy, fx["phases"], "-o", str(tmp_path / "x"), ok=False)
    assert p.returncode == 2
    msg = one_sentence(p)
    assert f"starts at {trigger}, which the guard cannot see" in msg
    assert f"use sysphase run --policy {policy} -- {fx['phases']}" in msg
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.sysphase-guard.so").exists()


def test_too_many_phases_and_unknown_triggers_are_named():
    start = PolicyPhase("start", "start", ())
    many = ProgramPolicy("/p", (start,) * (guard.MAX_PHASES + 1))
    with pytest.raises(UsageError, match="a guard holds at most 64"):
        guard.phase_hooks(many)
    for trigger, why in [
        ("signal:SIGUSR2", "does not watch signal deliveries"),
        ("addr:0x1a2b0", "out of a library's reach"),
        ("syscall:openat", "no libc function it can interpose makes openat"),
        ("exec", "only follows syscall triggers reached through libc"),
    ]:
        program = ProgramPolicy("/p", (start, PolicyPhase("later", trigger, ())))
        with pytest.raises(UsageError, match=why):
            guard.phase_hooks(program, "/p", "p.json")
