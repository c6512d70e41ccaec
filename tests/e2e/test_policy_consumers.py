"""Each policy format proven by its real consumer: bwrap, gcc (+ libseccomp), crun, systemd.

A policy recorded from `markers 2 0` must let that run finish (exit 0) and
kill `markers 2 1` (one fchdir the profile never saw), an i386 call made
through int 0x80, and an x32 call.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess

import pytest

from tests.conftest import IN_CI, TRACEE_ENV, sysphase_cmd

SIGSYS_STATUSES = (-signal.SIGSYS, 128 + signal.SIGSYS)


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path is None:
        msg = f"{tool} is not installed (apt-get install {package}); CI installs it"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def sysphase(*args: str) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        sysphase_cmd(*args), capture_output=True, text=True, timeout=120, env=TRACEE_ENV
    )
    assert p.returncode == 0, p.stderr
    return p


@pytest.fixture(scope="module")
def profile(fx, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("prof") / "markers.json"
    sysphase("record", "-o", str(out), "--", fx["markers"], "2", "0")
    return str(out)


def policy(profile: str, fmt: str, out, *extra: str):
    sysphase("policy", profile, "--format", fmt, "-o", str(out), *extra)
    return out


def run(argv: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, capture_output=True, timeout=60, env=TRACEE_ENV)


def check_sandbox(prefix: list[str], fx) -> None:
    ok = run([*prefix, fx["markers"], "2", "0"])
    assert ok.returncode == 0, ok.stderr
    for argv in ([fx["markers"], "2", "1"], [fx["int80"]], [fx["x32"]]):
        bad = run([*prefix, *argv])
        assert bad.returncode in SIGSYS_STATUSES, (argv, bad.returncode, bad.stderr)


def test_bpf_through_bwrap(profile, fx, tmp_path):
    bwrap = need("bwrap", "bubblewrap")
    bpf = policy(profile, "bpf", tmp_path / "f.bpf")
    assert bpf.stat().st_size % 8 == 0
    fd = os.open(bpf, os.O_RDONLY)
    try:
        base = [
            bwrap,
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--seccomp",
            str(fd),
        ]
        for argv, want in (
            ([fx["markers"], "2", "0"], (0,)),
            ([fx["markers"], "2", "1"], SIGSYS_STATUSES),
            ([fx["int80"]], SIGSYS_STATUSES),
        ):
            os.lseek(fd, 0, os.SEEK_SET)
            p = subprocess.run(
                [*base, *argv], capture_output=True, timeout=60, pass_fds=(fd,), env=TRACEE_ENV
            )
            assert p.returncode in want, (argv, p.returncode, p.stderr)
    finally:
        os.close(fd)


LAUNCHER = r"""
#include <stdio.h>
#include <unistd.h>
int sysphase_install_first(void);
int main(int argc, char **argv)
{
    (void)argc;
    int rc = sysphase_install_first();
    if (rc != 0) {
        fprintf(stderr, "install failed: %d\n", rc);
        return 99;
    }
    execv(argv[1], argv + 1);
    return 98;
}
"""


@pytest.mark.parametrize("fmt", ["c", "c-bpf"])
def test_c_formats_compile_and_enforce(profile, fx, tmp_path, fmt):
    gcc = need("gcc", "gcc")
    src = policy(profile, fmt, tmp_path / "policy.c")
    main = tmp_path / "main.c"
    main.write_text(LAUNCHER)
    exe = tmp_path / "launcher"
    libs = ["-lseccomp"] if fmt == "c" else []
    build = subprocess.run(
        [gcc, "-Wall", "-Wextra", "-Werror", "-o", str(exe), str(main), str(src), *libs],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr
    check_sandbox([str(exe)], fx)


def test_oci_through_crun(profile, fx, tmp_path):
    crun = need("crun", "crun")
    oci = json.loads(policy(profile, "oci", tmp_path / "seccomp.json").read_text())
    assert oci["defaultAction"] == "SCMP_ACT_KILL_PROCESS"
    bundle = tmp_path / "bundle"
    rootfs = bundle / "rootfs"
    fixtures = os.path.dirname(fx["markers"])
    for d in ("usr", "lib", "lib64", "bin", "etc", fixtures.lstrip("/")):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    spec = subprocess.run([crun, "spec"], cwd=bundle, capture_output=True, timeout=30)
    assert spec.returncode == 0
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["root"] = {"path": "rootfs", "readonly": True}
    config["mounts"] = [m for m in config["mounts"] if m["type"] != "cgroup"] + [
        {"destination": d, "type": "bind", "source": d, "options": ["rbind", "ro"]}
        for d in ("/usr", "/lib", "/lib64", "/bin", "/etc", fixtures)
    ]
    config["linux"].pop("resources", None)
    config["linux"]["namespaces"] = [{"type": t} for t in ("mount", "pid", "ipc", "uts")]
    config["linux"]["seccomp"] = oci

    def crun_run(name: str, argv: list[str]) -> subprocess.CompletedProcess[bytes]:
        config["process"]["args"] = argv
        (bundle / "config.json").write_text(json.dumps(config))
        # this machine's cgroup layout is hybrid, which crun refuses: give it a private cgroup2
        script = (
            f"mount -t cgroup2 none /sys/fs/cgroup && exec {crun} "
            f"--cgroup-manager=disabled run -b {bundle} {name}"
        )
        return subprocess.run(
            ["unshare", "-m", "sh", "-c", script], capture_output=True, timeout=60, env=TRACEE_ENV
        )

    ok = crun_run("sysphase-ok", [fx["markers"], "2", "0"])
    assert ok.returncode == 0, ok.stderr
    bad = crun_run("sysphase-bad", [fx["markers"], "2", "1"])
    assert bad.returncode in SIGSYS_STATUSES, (bad.returncode, bad.stderr)


def test_systemd_names_are_known_to_systemd(profile, tmp_path):
    analyze = need("systemd-analyze", "systemd")
    unit = policy(profile, "systemd", tmp_path / "drop-in.conf").read_text()
    listing = subprocess.run(
        [analyze, "syscall-filter"], capture_output=True, text=True, timeout=60
    ).stdout
    known = {
        line.strip()
        for line in listing.splitlines()
        if line.strip() and not line.strip().startswith(("@", "#"))
    }
    assert len(known) > 300
    names: set[str] = set()
    for line in unit.splitlines():
        if line.startswith("SystemCallFilter="):
            names |= set(line.split("=", 1)[1].split())
    assert {"getppid", "execve", "exit_group"} <= names
    assert names <= known, names - known
    assert "SystemCallArchitectures=native" in unit
    assert "NoNewPrivileges=yes" in unit


def test_k8s_profile_shape(profile, tmp_path):
    text = policy(profile, "k8s", tmp_path / "profile.yaml").read_text()
    assert "kind: SeccompProfile" in text
    assert "apiVersion: security-profiles-operator.x-k8s.io/v1beta1" in text
    assert "- getppid" in text or "getppid" in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["policy", "/nonexistent.json"], "/nonexistent.json"),
        (["policy", "@PROFILE", "--format", "docx"], "docx"),
        (["policy", "@PROFILE", "--default-action", "explode"], "explode"),
    ],
)
def test_policy_bad_input_is_one_sentence(profile, args, needle):
    argv = [profile if a == "@PROFILE" else a for a in args]
    p = subprocess.run(sysphase_cmd(*argv), capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert p.stderr.count("\n") == 1 and needle in p.stderr and "Traceback" not in p.stderr


def test_policy_of_another_architecture_is_refused(profile, tmp_path):
    with open(profile) as f:
        data = json.load(f)
    data["arch"] = "aarch64"
    for proc in data["processes"]:
        for ph in proc["phases"]:
            ph["syscalls"] = {k: v for k, v in ph["syscalls"].items() if k in ("openat", "read")}
            ph["arg_values"] = {}
    other = tmp_path / "arm.json"
    other.write_text(json.dumps(data))
    p = subprocess.run(
        sysphase_cmd("policy", str(other), "--format", "bpf", "-o", str(tmp_path / "x")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode != 0 and p.stderr.count("\n") == 1 and "aarch64" in p.stderr


def test_bwrap_runs_ls_under_its_own_recorded_policy(tmp_path):
    bwrap = need("bwrap", "bubblewrap")
    prof = tmp_path / "ls.json"
    sysphase("record", "-o", str(prof), "--", "/bin/ls", "-la", "/usr/share")
    bpf = policy(str(prof), "bpf", tmp_path / "ls.bpf")
    with open(bpf, "rb") as f:
        p = subprocess.run(
            [
                bwrap,
                "--ro-bind",
                "/",
                "/",
                "--dev",
                "/dev",
                "--proc",
                "/proc",
                "--seccomp",
                str(f.fileno()),
                "/bin/ls",
                "-la",
                "/usr/share",
            ],
            capture_output=True,
            timeout=60,
            pass_fds=(f.fileno(),),
            env=TRACEE_ENV,
        )
    assert p.returncode == 0, p.stderr
    assert b"doc" in p.stdout
