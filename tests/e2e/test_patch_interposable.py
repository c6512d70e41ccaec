"""The table of libc functions the guard can interpose, checked against glibc.

Against glibc's headers (one guard interposing every function, gcc -Werror,
nm for the exports) and against the calls glibc really makes (strace).
"""

from __future__ import annotations

import struct
import subprocess

from sysphase._host import patch
from sysphase.policy import guard_source as guard
from sysphase.policy.ir import PolicyPhase, ProgramPolicy
from tests.conftest import TRACEE_ENV, need_strace
from tests.e2e.patch_helpers import build_c

#: A harmless call of every function in guard.INTERPOSABLE (fails at once or does nothing).
PROBES = {
    "accept": "accept(-1, (struct sockaddr *)NULL, NULL)",
    "accept4": "accept4(-1, (struct sockaddr *)NULL, NULL, 0)",
    "bind": "bind(-1, (const struct sockaddr *)NULL, 0)",
    "connect": "connect(-1, (const struct sockaddr *)NULL, 0)",
    "listen": "listen(-1, 0)",
    "socket": "socket(-1, -1, -1)",
    "socketpair": "socketpair(-1, -1, -1, NULL)",
    "shutdown": "shutdown(-1, 0)",
    "setsockopt": "setsockopt(-1, 0, 0, NULL, 0)",
    "getsockopt": "getsockopt(-1, 0, 0, NULL, NULL)",
    "sendto": "sendto(-1, NULL, 0, 0, (const struct sockaddr *)NULL, 0)",
    "send": "send(-1, NULL, 0, 0)",
    "recvfrom": "recvfrom(-1, NULL, 0, 0, (struct sockaddr *)NULL, NULL)",
    "recv": "recv(-1, NULL, 0, 0)",
    "sendmsg": "sendmsg(-1, NULL, 0)",
    "recvmsg": "recvmsg(-1, NULL, 0)",
    "sendmmsg": "sendmmsg(-1, NULL, 0, 0)",
    "recvmmsg": "recvmmsg(-1, NULL, 0, 0, NULL)",
    "epoll_create1": "epoll_create1(-1)",
    "epoll_ctl": "epoll_ctl(-1, 0, -1, NULL)",
    "epoll_wait": "epoll_wait(-1, NULL, 1, 0)",
    "epoll_pwait": "epoll_pwait(-1, NULL, 1, 0, NULL)",
    "poll": "poll(NULL, 0, 0)",
    "ppoll": "ppoll(NULL, 0, &zero, NULL)",
    "read": "read(-1, NULL, 0)",
    "write": "write(-1, NULL, 0)",
    "pread": "pread(-1, NULL, 0, 0)",
    "pread64": "pread64(-1, NULL, 0, 0)",
    "pwrite": "pwrite(-1, NULL, 0, 0)",
    "pwrite64": "pwrite64(-1, NULL, 0, 0)",
    "pipe": "pipe(NULL)",
    "pipe2": "pipe2(NULL, -1)",
    "usleep": "usleep(0)",
    "sleep": "sleep(0)",
    "nanosleep": "nanosleep(&zero, NULL)",
    "chdir": "chdir(NULL)",
    "fchdir": "fchdir(-1)",
    "chroot": "chroot(NULL)",
    "setuid": "setuid(-1)",
    "setgid": "setgid(-1)",
    "setresuid": "setresuid(-1, -1, -1)",
    "setresgid": "setresgid(-1, -1, -1)",
    "readv": "readv(-1, NULL, 0)",
    "writev": "writev(-1, NULL, 0)",
    "eventfd": "eventfd(0, -1)",
    "signalfd": "signalfd(-1, NULL, -1)",
    "wait4": "wait4(-1, NULL, WNOHANG, NULL)",
    "waitpid": "waitpid(-1, NULL, WNOHANG)",
    "wait": "wait(NULL)",
    "waitid": "waitid(P_ALL, 0, NULL, 0)",
    "kill": "kill(0, 0)",
    "sigtimedwait": "sigtimedwait(&none, NULL, &zero)",
    "sigwaitinfo": "sigwaitinfo(NULL, NULL)",
    "getrandom": "getrandom(NULL, 0, 0)",
    "setgroups": "setgroups(0, (const gid_t *)1)",
    "unshare": "unshare(0)",
    "setns": "setns(-1, 0)",
    "getppid": "getppid()",
}


def _functions() -> list[tuple[str, guard.LibcFunction]]:
    return [(nr, f) for nr, fs in guard.INTERPOSABLE.items() for f in fs]


def test_every_interposable_function_makes_its_system_call(tmp_path):
    """glibc's function makes exactly that call, nothing before it (strace between markers)."""
    strace = need_strace()
    functions = _functions()
    assert sorted(f.name for _, f in functions) == sorted(PROBES)
    headers = sorted({f.header for _, f in functions})
    body = "\n".join(f"    {PROBES[f.name]};\n    syscall(SYS_getpid);" for _, f in functions)
    source = "\n".join(
        [
            "#define _GNU_SOURCE",
            *(f"#include <{h}>" for h in [*headers, "sys/syscall.h"]),
            "#include <stddef.h>",
            "int main(void)",
            "{",
            "    struct timespec zero = {0, 0};",
            "    sigset_t none;",
            "    sigemptyset(&none);",
            "    syscall(SYS_getpid);",
            body,
            "    return 0;",
            "}",
        ]
    )
    flags = ["-Wno-unused-result", "-Wno-nonnull", "-Wno-stringop-overflow"]
    probe = build_c(tmp_path, "probe", source, *flags)
    log = tmp_path / "strace.log"
    subprocess.run([strace, "-qq", "-o", str(log), probe], check=True, timeout=60, env=TRACEE_ENV)
    names = [line.split("(", 1)[0] for line in log.read_text().splitlines() if "(" in line]
    calls = names[names.index("getpid") + 1 :]
    groups: list[list[str]] = [[]]
    for name in calls:
        if name == "getpid":
            groups.append([])
        else:
            groups[-1].append(name)
    made = {f.name: g for (_, f), g in zip(functions, groups, strict=False)}
    expected = {f.name: [nr] for nr, f in functions}
    assert made == expected


def test_every_interposable_function_compiles_against_glibc(tools, tmp_path):
    """One guard interposing every function: gcc -Werror checks each prototype, nm the exports."""
    allow = struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)  # ret ALLOW
    phases = [PolicyPhase("start", "start", ())] + [
        PolicyPhase(f"after-{nr}", f"syscall:{nr}", ()) for nr in guard.INTERPOSABLE
    ]
    program = ProgramPolicy("/usr/bin/example", tuple(phases))
    hooks = guard.phase_hooks(program)
    assert sorted(hooks) == sorted(PROBES)
    source = guard.guard_source(program, [allow] * len(phases), hooks, {"test": True})
    out = tmp_path / "all.so"
    patch.build_guard(source, str(out), "gcc", "all.so")
    nm = subprocess.run(
        ["nm", "-D", "--defined-only", out], capture_output=True, text=True, check=True
    )
    exported = sorted(line.split()[-1] for line in nm.stdout.splitlines())
    assert exported == sorted(PROBES)  # the interposers, and nothing of the guard's own
    assert guard.read_guard_info(out.read_bytes()) == {"test": True}
