"""Patched programs apply their policy's Landlock rulesets themselves (issue 16), real kernel.

The same fixture as tests/e2e/test_landlock_run.py (tests/fixtures/landlock_server.c),
recorded with `record --paths`, its policy made with `policy --landlock`, but
enforced by a patched copy with no sysphase around: the serving phase refuses,
in both threads, what training never did (EACCES), and training runs clean.
Threads that block every signal through libc are restricted all the same; one
that blocks the switch's signal behind libc's back makes the switch fail
closed; a forked child restricts itself. Without Landlock the guard says so
once and keeps seccomp; on an older ABI the ruleset keeps what the kernel knows.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from sysphase._host import landlock, patch
from sysphase.model.landlock_rights import (
    FS_BIT,
    FS_RIGHTS,
    NET_BIT,
    NET_RIGHTS,
    SCOPE_BIT,
    SCOPES,
    mask,
)
from sysphase.policy import guard_source
from sysphase.policy.ir import LandlockRule, LandlockSection, PolicyPhase, ProgramPolicy
from sysphase.policy.landlock_section import degrade
from tests.conftest import need_root
from tests.e2e.patch_helpers import MIN_ENV, build_c, record_env, run, sysphase
from tests.landlock_helpers import lines_of, make_site, need_landlock


def _patched(tmp: Path, name: str, argv: list[str]) -> Path:
    """ARGV recorded with paths (serve=syscall:getppid), its Landlock policy, a patched copy."""
    profile, policy, out = tmp / f"{name}.p.json", tmp / f"{name}.policy.json", tmp / name
    sysphase(
        "record", "--paths", "--phase", "serve=syscall:getppid", "-o", str(profile), "--",
        *argv, env=record_env(),
    )  # fmt: skip
    sysphase("policy", "--landlock", "--allow", "bind", "-o", str(policy), str(profile))
    sysphase("patch", "--policy", str(policy), argv[0], "-o", str(out))
    return out


@pytest.fixture()
def server(tools: None, fx: dict[str, str], tmp_path: Path) -> tuple[Path, list[str], int]:
    """The patched landlock_server, its arguments (without the mode), its port."""
    need_landlock()
    conf, data, port = make_site(tmp_path)
    args = [str(conf), str(data), str(port)]
    return _patched(tmp_path, "server", [fx["landlock_server"], *args, "train"]), args, port


def test_serving_phase_refuses_what_training_never_did(server) -> None:
    out, args, port = server
    with socket.socket() as other:  # so that only the ruleset can refuse the connect
        other.bind(("127.0.0.1", port + 2))
        other.listen(8)
        p = run([out, *args, "attack"])
    said = lines_of(p.stdout.decode())
    assert p.returncode == 0, p.stderr
    assert p.stderr == b""
    assert said["main start-conf"] == "ok"
    for who in ("main", "thread"):
        for what in ("read-page", "create", "write", "rename", "unlink", "connect-used"):
            assert said[f"{who} {what}"] == "ok", (who, what, p.stdout)
        for what in ("read-conf", "bind-new", "connect-new"):
            assert said[f"{who} {what}"] == "EACCES", (who, what, p.stdout)


def test_training_runs_clean_and_check_names_the_rulesets(server) -> None:
    out, args, _port = server
    p = run([out, *args, "train"])
    assert p.returncode == 0, p.stderr
    assert p.stderr == b""
    assert set(lines_of(p.stdout.decode()).values()) == {"ok"}
    check = sysphase("patch", "--check", str(out))
    assert "start (Landlock: 5 rules, bind 1 port, connect 1 port)" in check.stdout
    assert "serve (syscall:getppid; Landlock: 1 rule, connect 1 port)" in check.stdout


@pytest.fixture()
def threads(tools: None, fx: dict[str, str], tmp_path: Path) -> tuple[Path, str, str]:
    """The patched landlock_threads (trained in libc mode), CONF and TARGET."""
    need_landlock()
    conf, target = tmp_path / "app.conf", tmp_path / "page"
    conf.write_text("x\n")
    target.write_text("y\n")
    out = _patched(tmp_path, "threads", [fx["landlock_threads"], str(conf), str(target), "libc"])
    return out, str(conf), str(target)


def test_threads_that_block_every_signal_through_libc_are_restricted(threads) -> None:
    out, conf, target = threads
    assert run([out, conf, target, "libc"]).stdout == b"main open ok\nworker open ok\n"
    p = run([out, conf, conf, "libc"])
    assert (p.returncode, p.stderr) == (0, b"")
    assert p.stdout == b"main open EACCES\nworker open EACCES\n"


def test_a_thread_that_blocks_the_signal_behind_libc_fails_closed(threads) -> None:
    out, conf, _target = threads
    started = time.monotonic()
    p = run([out, conf, conf, "raw"])
    assert p.returncode == 126
    assert p.stdout == b""  # main never opened anything in the serving phase
    assert p.stderr.startswith(b"sysphase-guard: threads: threads did not apply the Landlock ")
    assert b"within 5 s" in p.stderr and p.stderr.endswith(b"refusing to run unsandboxed\n")
    assert time.monotonic() - started < 30


def test_a_forked_child_restricts_itself_or_fails_closed(tools, fx, tmp_path) -> None:
    need_landlock()
    conf, target = tmp_path / "app.conf", tmp_path / "page"
    conf.write_text("x\n")
    target.write_text("y\n")
    out = _patched(tmp_path, "child", [fx["landlock_threads"], str(conf), str(target), "fork"])
    assert run([out, conf, target, "fork"]).stdout == b"child open ok\n"
    assert run([out, conf, conf, "fork"]).stdout == b"child open EACCES\n"
    argv = [fx["landlock_threads"], str(conf), str(target), "fork-thread"]
    out = _patched(tmp_path, "threaded-child", argv)
    p = run([out, conf, conf, "fork-thread"])
    assert p.returncode == 126 and p.stdout == b""
    assert b"a forked child that started threads cannot list them" in p.stderr


NO_LANDLOCK_C = r"""
/* nolandlock PROGRAM ARGS...: runs PROGRAM where landlock_create_ruleset fails with ENOSYS. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 444, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {4, code};
    if (argc < 2 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        return 2;
    execv(argv[1], argv + 1);
    return 2;
}
"""


def test_without_landlock_one_line_and_seccomp_still_enforced(server, tmp_path) -> None:
    out, args, _port = server
    launcher = build_c(tmp_path, "nolandlock", NO_LANDLOCK_C)
    p = run([launcher, out, *args, "attack"])
    assert p.returncode == 0, p.stderr
    assert p.stderr == (
        b"sysphase-guard: server: this kernel has no Landlock (ENOSYS): the policy's Landlock "
        b"rules are not applied\n"
    )
    assert lines_of(p.stdout.decode())["main read-conf"] == "ok"  # Landlock alone refused it
    status = run([launcher, out, *args, "train"], env=MIN_ENV)
    assert status.returncode == 0


ALLOW = struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)  # ret ALLOW
HARNESS_C = r"""
/* harness ABI: the first phase's ruleset built for Landlock ABI (what was said, what was
 * left out), then applied; a bind. */
#define _GNU_SOURCE
#include "guard.h"
#include "guard_landlock.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

void sysphase_guard_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

void sysphase_guard_die(const char *fmt, ...)
{
    (void)fmt;
    _exit(126);
}

const char *sysphase_guard_errname(int err)
{
    return strerrorname_np(err);
}

int main(int argc, char **argv)
{
    struct sysphase_guard_ruleset lost;
    memset(&lost, 0, sizeof(lost));
    int abi = argc > 1 ? atoi(argv[1]) : 7;
    int fd = sysphase_guard_ruleset_build(0, abi, &lost);
    printf("lost %llx %llx %llx\n", lost.handled_fs, lost.handled_net, lost.scoped);
    sysphase_guard_say_left_out(abi, &lost);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(446, fd, 0) != 0)
        return 2;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    printf("bind %s\n", bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 ? "ok" : "refused");
    return 0;
}
"""


def test_rulesets_keep_what_an_older_abi_knows(tools, tmp_path) -> None:
    """guard_ruleset.c on ABI 1 and 3 leaves out what degrade() leaves out (bind is then free),
    and a rule on a path that does not exist."""
    need_root()
    if landlock.abi() < 6:
        pytest.skip("needs a kernel of Landlock ABI 6 or later (scopes)")
    rules = (
        LandlockRule("/usr", ("execute", "read_file", "read_dir")),
        LandlockRule(str(tmp_path / "missing"), ("read_file",)),
    )
    section = LandlockSection(7, FS_RIGHTS, NET_RIGHTS, SCOPES, rules)
    program = ProgramPolicy("/x", (PolicyPhase("start", "start", (), landlock=section),))
    (tmp_path / "policy.c").write_text(guard_source.guard_source(program, [ALLOW], {}, {}))
    (tmp_path / "harness.c").write_text(HARNESS_C)
    harness = tmp_path / "harness"
    sources = [tmp_path / "harness.c", tmp_path / "policy.c", patch.GUARD_DIR / "guard_ruleset.c"]
    subprocess.run(
        ["gcc", "-std=gnu11", "-Wall", "-Werror", f"-I{patch.GUARD_DIR}", "-o", harness, *sources],
        check=True,
        capture_output=True,
    )
    missing = f'phase "start": Landlock rule left out: {tmp_path}/missing (no such file)\n'
    for abi, fs, net, scopes in ((1, 0xE000, 3, 3), (3, 0x8000, 3, 3), (5, 0, 0, 3), (7, 0, 0, 0)):
        fitted, left = degrade(section, abi)
        assert mask(left.fs, FS_BIT) == fs and mask(left.net, NET_BIT) == net
        assert mask(left.scopes, SCOPE_BIT) == scopes
        said = f"{left.describe()}\n" if not left.empty else ""  # the words run prints too
        bind = "refused" if fitted.handled_net else "ok"
        p = run([harness, str(abi)])
        expected = f"{missing}lost {fs:x} {net:x} {scopes:x}\n{said}bind {bind}\n"
        assert p.stdout.decode() == expected, abi
