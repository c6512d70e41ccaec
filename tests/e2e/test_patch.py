"""`sysphase patch`: copies of real programs that sandbox themselves, with no sysphase around.

Each program is recorded, its policy generated (`--format sysphase`), and a
copy patched; the copy then runs in a minimal environment (PATH=/usr/bin:/bin,
no PYTHONPATH) or in a bubblewrap root without sysphase and its Python: it
must behave as the original, run under seccomp with no_new_privs, and be
killed (SIGSYS) when made to do something its policy lacks. A two-phase
program proves the guard's switch at a libc call (and TSYNC across
threads). The table of functions the guard can interpose is checked against
glibc's headers (gcc) and against the calls glibc really makes (strace).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
from pathlib import Path

import pytest

from sysphase._host import patch
from sysphase.errors import UsageError
from sysphase.model import syscalls
from sysphase.policy.ir import PolicyPhase, ProgramPolicy
from tests.conftest import IN_CI, TRACEE_ENV, need_strace, sysphase_cmd

SIGSYS = -signal.SIGSYS
#: No sysphase here: not on PATH, not importable (the patched copies run with this).
MIN_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        msg = f"{tool} is not installed (apt-get install {package}); CI installs it"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def sysphase(*args: str, ok: bool = True, env=None) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        sysphase_cmd(*args),
        capture_output=True,
        text=True,
        timeout=300,
        env=TRACEE_ENV if env is None else env,
        stdin=subprocess.DEVNULL,
    )
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def run(argv, env=MIN_ENV) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, timeout=120, env=env, stdin=subprocess.DEVNULL
    )


def record_env() -> dict[str, str]:
    """MIN_ENV for the recorded program, plus what sysphase itself needs to import."""
    env = dict(MIN_ENV)
    if "PYTHONPATH" in TRACEE_ENV:
        env["PYTHONPATH"] = TRACEE_ENV["PYTHONPATH"]
    return env


def record_policy(tmp, name: str, argv, *phase_opts: str) -> str:
    prof, pol = tmp / f"{name}.profile.json", tmp / f"{name}.policy.json"
    sysphase("record", "-o", str(prof), *phase_opts, "--", *map(str, argv), env=record_env())
    sysphase("policy", str(prof), "--format", "sysphase", "-o", str(pol))
    return str(pol)


def sha256(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def one_sentence(p: subprocess.CompletedProcess[str]) -> str:
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sysphase: "), p.stderr
    return lines[0]


@pytest.fixture(scope="module")
def tools() -> None:
    need("patchelf", "patchelf")
    need("gcc", "gcc")


@pytest.fixture(scope="module")
def patched_ls(tools, tmp_path_factory):
    """(original, patched copy, policy file, the original's sha256 before patching)."""
    tmp = tmp_path_factory.mktemp("ls")
    ls = os.path.realpath("/bin/ls")
    before = sha256(ls)
    policy = record_policy(tmp, "ls", [ls, "-la", "/usr/share"])
    out = tmp / "ls"
    p = sysphase("patch", "--policy", policy, "/bin/ls", "-o", str(out))
    assert f"wrote {out}" in p.stderr
    return ls, out, policy, before


def test_patched_ls_runs_without_sysphase(patched_ls):
    ls, out, _, before = patched_ls
    assert sha256(ls) == before  # the original is never written
    assert (out.parent / "ls.sysphase-guard.so").is_file()
    original = run([ls, "-la", "/usr/share"])
    copy = run([out, "-la", "/usr/share"])
    assert copy.returncode == 0, copy.stderr
    assert copy.stdout == original.stdout and copy.stdout
    # the guard needs libc and nothing else: no Python, no libseccomp
    with open(out.parent / "ls.sysphase-guard.so", "rb") as f:
        assert patch.read_elf(f.read(), "guard").needed == ("libc.so.6",)


def test_patched_ls_in_a_root_without_sysphase(patched_ls):
    """Under bwrap with only /usr, /etc and the copy's folder: no sysphase, no venv."""
    bwrap = need("bwrap", "bubblewrap")
    ls, out, _, _ = patched_ls
    folder = str(out.parent)
    box = [
        bwrap,
        *("--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"),
        *("--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib"),
        *("--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev"),
        *("--ro-bind", folder, folder, "--"),
    ]
    import sysphase

    hidden = os.path.dirname(os.path.dirname(sysphase.__file__))
    assert run([*box, "/usr/bin/test", "-e", hidden]).returncode == 1  # really not there
    copy = run([*box, out, "-la", "/usr/share"])
    assert copy.returncode == 0, copy.stderr
    assert copy.stdout == run([ls, "-la", "/usr/share"]).stdout


def test_patched_cat_is_under_seccomp_with_no_new_privs(tools, tmp_path):
    cat = os.path.realpath("/bin/cat")
    policy = record_policy(tmp_path, "cat", [cat, "/proc/self/status"])
    sysphase("patch", "--policy", policy, cat, "-o", str(tmp_path / "cat"))
    p = run([tmp_path / "cat", "/proc/self/status"])
    assert p.returncode == 0, p.stderr
    status = dict(line.split(":\t", 1) for line in p.stdout.decode().splitlines() if ":\t" in line)
    assert status["Seccomp"] == "2"
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp_filters"] == "1"
    unpatched = run([cat, "/proc/self/status"]).stdout.decode()
    assert "Seccomp:\t0" in unpatched


def test_patched_program_is_killed_outside_its_policy(tools, fx, tmp_path):
    policy = record_policy(tmp_path, "markers", [fx["markers"], "2", "0"])
    before = sha256(fx["markers"])
    out = tmp_path / "markers"
    sysphase("patch", "--policy", policy, fx["markers"], "-o", str(out))
    assert sha256(fx["markers"]) == before
    assert run([out, "2", "0"]).returncode == 0
    bad = run([out, "2", "1"])  # one fchdir the profile never saw
    assert bad.returncode == SIGSYS, bad.stderr
    assert run([fx["markers"], "2", "1"]).returncode == 0  # the original is not sandboxed


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


def build_c(tmp_path, name: str, source: str, *flags: str) -> str:
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    binary = tmp_path / name
    subprocess.run(
        ["gcc", "-O1", "-pthread", "-Wall", "-Wextra", "-Werror", *flags, "-o", binary, src],
        check=True,
        capture_output=True,
    )
    return str(binary)


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


def test_static_binaries_are_refused(tools, fx, tmp_path):
    static = build_c(tmp_path, "static", "int main(void) { return 0; }\n", "-static")
    policy = record_policy(tmp_path, "markers", [fx["markers"], "2", "0"])
    p = sysphase("patch", "--policy", policy, static, "-o", str(tmp_path / "x"), ok=False)
    assert p.returncode == 2
    msg = one_sentence(p)
    assert "static binaries cannot load a guard library; use sysphase run" in msg


def test_check(patched_ls, tmp_path):
    ls, out, policy, _ = patched_ls
    p = sysphase("patch", "--check", str(out))
    guard = out.parent / "ls.sysphase-guard.so"
    assert p.stdout.splitlines()[0] == (
        f"{out} is patched with {policy} (sha256 {sha256(policy)}), guard {guard}"
    )
    assert p.stdout.splitlines()[1] == "  program /usr/bin/ls, phases: start"
    p = sysphase("patch", "--check", ls, ok=False)
    assert (p.returncode, p.stdout) == (1, f"{ls} is not patched by sysphase\n")
    # without its guard the copy is still recognised, and refuses to start
    shutil.copy(out, tmp_path / "ls")
    p = sysphase("patch", "--check", str(tmp_path / "ls"), ok=False)
    assert p.returncode == 1
    assert f"guard {tmp_path / 'ls.sysphase-guard.so'} is missing" in p.stdout
    assert run([tmp_path / "ls", "/"]).returncode == 127  # the loader stops it


def test_read_elf_agrees_with_patchelf(patched_ls, fx):
    patchelf = need("patchelf", "patchelf")
    _, out, _, _ = patched_ls
    for path in ("/bin/ls", str(out), fx["markers"]):
        listed = subprocess.run(
            [patchelf, "--print-needed", path], capture_output=True, text=True, check=True
        ).stdout.split()
        with open(path, "rb") as f:
            image = patch.read_elf(f.read(), path)
        assert list(image.needed) == listed
        assert image.machine == "x86_64" and image.interpreter
    assert patch.read_elf(out.read_bytes(), "x").guards == ("$ORIGIN/ls.sysphase-guard.so",)


def _foreign_elf(tmp_path) -> str:
    data = bytearray(Path("/bin/ls").read_bytes())
    struct.pack_into("<H", data, 18, 183)  # e_machine: aarch64
    path = tmp_path / "arm-ls"
    path.write_bytes(bytes(data))
    return str(path)


def _aarch64_policy(policy: str, tmp_path) -> str:
    data = json.loads(Path(policy).read_text())
    data["arch"] = "aarch64"
    known = syscalls.names("aarch64")
    for prog in data["programs"]:
        for phase in prog["phases"]:
            phase["allowed"] = [a for a in phase["allowed"] if a["syscall"] in known]
    path = tmp_path / "aarch64.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_bad_input_is_one_sentence(patched_ls, tmp_path):
    ls, out, policy, _ = patched_ls
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    truncated = tmp_path / "truncated"
    truncated.write_bytes(Path("/bin/ls").read_bytes()[:200])
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    x = str(tmp_path / "x")
    cases = [
        (["--policy", policy, str(tmp_path / "nope"), "-o", x], "nope: no such file"),
        (["--policy", policy, str(text), "-o", x], "notes.txt is not an ELF file"),
        (["--policy", policy, _foreign_elf(tmp_path), "-o", x], "is a program for aarch64"),
        (["--policy", policy, str(truncated), "-o", x], "truncated is a damaged ELF file"),
        (["--policy", policy, ls, "-o", ls], "never modifies the original"),
        (["--policy", policy, str(out), "-o", x], "is already patched by sysphase"),
        (["--policy", str(tmp_path / "none.json"), ls, "-o", x], "none.json: no such file"),
        (["--policy", str(bad_json), ls, "-o", x], "bad.json: not valid JSON"),
        (["--policy", _aarch64_policy(policy, tmp_path), ls, "-o", x], "a policy for aarch64"),
        (["--policy", policy, ls], "patch needs -o OUT"),
        (["--policy", policy, "-o", x], "patch needs a BINARY"),
        ([ls, "-o", x], "patch needs --policy POLICY"),
        (["--check", str(out), ls], "--check takes only the patched binary"),
        (["--check", str(text)], "notes.txt is not an ELF file"),
    ]
    for args, expected in cases:
        p = sysphase("patch", *args, ok=False)
        # a bad policy file is PolicyInvalid (1), as for sysphase run; the rest are usage errors
        assert p.returncode == (1 if "json" in expected else 2), (args, p.stderr)
        assert expected in one_sentence(p), (args, p.stderr)
    assert not os.path.exists(x)


def test_missing_tools_are_named_with_their_package(patched_ls, tmp_path):
    ls, _, policy, _ = patched_ls
    only_gcc = tmp_path / "bin"
    only_gcc.mkdir()
    (only_gcc / "gcc").symlink_to(shutil.which("gcc"))
    env = {**TRACEE_ENV, "PATH": str(only_gcc)}
    p = sysphase("patch", "--policy", policy, ls, "-o", str(tmp_path / "x"), ok=False, env=env)
    assert p.returncode == 1
    assert one_sentence(p) == (
        "sysphase: patchelf is needed to patch a binary and is not installed "
        "(apt-get install patchelf)"
    )


# --- the table of functions the guard interposes -------------------------------------------

#: A harmless call of every function in patch.INTERPOSABLE (fails at once or does nothing).
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
}


def _functions() -> list[tuple[str, patch.LibcFunction]]:
    return [(nr, f) for nr, fs in patch.INTERPOSABLE.items() for f in fs]


def test_every_interposable_function_makes_its_system_call(tmp_path):
    """glibc's function makes exactly that call, nothing before it (strace between markers)."""
    strace = need_strace()
    functions = _functions()
    assert sorted(f.name for _, f in functions) == sorted(PROBES)
    headers = sorted({f.header for _, f in functions})
    body = "\n".join(f"    {PROBES[f.name]};\n    syscall(SYS_getppid);" for _, f in functions)
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
            "    syscall(SYS_getppid);",
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
    calls = names[names.index("getppid") + 1 :]
    groups: list[list[str]] = [[]]
    for name in calls:
        if name == "getppid":
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
        PolicyPhase(f"after-{nr}", f"syscall:{nr}", ()) for nr in patch.INTERPOSABLE
    ]
    program = ProgramPolicy("/usr/bin/example", tuple(phases))
    hooks = patch.phase_hooks(program)
    assert sorted(hooks) == sorted(PROBES)
    source = patch.guard_source(program, [allow] * len(phases), hooks, {"test": True})
    out = tmp_path / "all.so"
    patch.build_guard(source, str(out), "gcc", "all.so")
    nm = subprocess.run(
        ["nm", "-D", "--defined-only", out], capture_output=True, text=True, check=True
    )
    exported = sorted(line.split()[-1] for line in nm.stdout.splitlines())
    assert exported == sorted(PROBES)  # the interposers, and nothing of the guard's own
    assert patch.read_guard_info(out.read_bytes()) == {"test": True}


def test_too_many_phases_and_unknown_triggers_are_named():
    start = PolicyPhase("start", "start", ())
    many = ProgramPolicy("/p", (start,) * (patch.MAX_PHASES + 1))
    with pytest.raises(UsageError, match="a guard holds at most 64"):
        patch.phase_hooks(many)
    for trigger, why in [
        ("signal:SIGUSR2", "does not watch signal deliveries"),
        ("addr:0x1a2b0", "out of a library's reach"),
        ("syscall:openat", "no libc function it can interpose makes openat"),
        ("exec", "only follows syscall triggers reached through libc"),
    ]:
        program = ProgramPolicy("/p", (start, PolicyPhase("later", trigger, ())))
        with pytest.raises(UsageError, match=why):
            patch.phase_hooks(program, "/p", "p.json")


def test_a_filter_the_kernel_refuses_stops_the_program_before_main(tools, fx, tmp_path):
    """Fail closed: one line on stderr, exit 126, and main never runs unsandboxed."""
    bad = struct.pack("<HBBI", 0xFFFF, 0, 0, 0)  # no such BPF instruction: EINVAL
    program = ProgramPolicy(fx["markers"], (PolicyPhase("start", "start", ()),))
    source = patch.guard_source(program, [bad], {}, {"test": True})
    patch.build_guard(source, str(tmp_path / "m.sysphase-guard.so"), "gcc", "m.sysphase-guard.so")
    shutil.copy(fx["markers"], tmp_path / "m")
    subprocess.run(
        ["patchelf", "--add-needed", "$ORIGIN/m.sysphase-guard.so", tmp_path / "m"], check=True
    )
    p = run([tmp_path / "m", "2", "0"])
    assert p.returncode == 126
    assert p.stderr == (
        b'sysphase-guard: m: seccomp(SECCOMP_SET_MODE_FILTER) failed for phase "start": '
        b"EINVAL; refusing to run unsandboxed\n"
    )
