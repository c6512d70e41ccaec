"""Output formats: snapshots of every text format from the stored policy, then what each must hold.

The snapshots live in tests/unit/snapshots/policy/ and are rendered from
server.sysphase.json (which test_policy_snapshots.py keeps equal to what
`generate` makes of its synthetic server profile). SYSPHASE_UPDATE_SNAPSHOTS=1
rewrites them. The C formats are also compiled, and run under their own
filters, when gcc and libseccomp's header are installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sysphase.errors import PolicyError, UsageError
from sysphase.model.frozen import FrozenMap
from sysphase.model.profile import Phase, ProcessNode, Profile, SyscallStat
from sysphase.model.tree import NodeKind
from sysphase.policy import Policy, decode, explain, generate
from sysphase.policy.formats import FORMATS, SUFFIXES, is_binary, needs_bpf, render
from sysphase.policy.formats.k8s import metadata_name

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots" / "policy"
STORED = SNAPSHOTS / "server.sysphase.json"
UPDATE = os.environ.get("SYSPHASE_UPDATE_SNAPSHOTS") == "1"
IN_CI = os.environ.get("CI") == "true"


def stored() -> Policy:
    return decode(STORED.read_text(), str(STORED))


def insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


#: A tiny hand-made filter per phase (arch check, allow read, kill the rest).
FAKE_BPF = [
    insn(0x20, 0, 0, 4)
    + insn(0x15, 0, 3, 0xC000003E)
    + insn(0x20, 0, 0, 0)
    + insn(0x15, 0, 1, nr)
    + insn(0x06, 0, 0, 0x7FFF0000)
    + insn(0x06, 0, 0, 0x80000000)
    for nr in (0, 1)
]


def text_of(fmt: str, policy: Policy, bpf: list[bytes] | None = None) -> str:
    out = render(fmt, policy, bpf)
    assert isinstance(out, str)
    return out


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with SYSPHASE_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(), f"{name} differs (SYSPHASE_UPDATE_SNAPSHOTS=1 rewrites it)"


SNAPSHOT_FILES = {
    "oci": "server.oci.json",
    "k8s": "server.k8s.yaml",
    "systemd": "server.systemd.conf",
    "c": "server.c",
    "c-bpf": "server.c-bpf.c",
}


@pytest.mark.parametrize("fmt", sorted(SNAPSHOT_FILES))
def test_snapshot(fmt: str) -> None:
    check_snapshot(
        SNAPSHOT_FILES[fmt], text_of(fmt, stored(), FAKE_BPF if needs_bpf(fmt) else None)
    )


def test_explain_snapshot() -> None:
    check_snapshot("server.explain.txt", explain(stored()))


def test_the_sysphase_format_is_the_policy_file() -> None:
    assert render("sysphase", stored()) == STORED.read_text()


def test_registry() -> None:
    assert list(FORMATS) == ["sysphase", "oci", "k8s", "systemd", "c", "c-bpf", "bpf"]
    assert set(SUFFIXES) == set(FORMATS)
    assert [f for f in FORMATS if needs_bpf(f)] == ["c-bpf", "bpf"]
    assert [f for f in FORMATS if is_binary(f)] == ["bpf"]
    with pytest.raises(UsageError, match="unknown policy format 'yaml'"):
        needs_bpf("yaml")
    with pytest.raises(UsageError, match="unknown policy format"):
        render("json", stored())


def test_every_text_format_is_ascii_and_ends_in_a_newline() -> None:
    for fmt in FORMATS:
        out = render(fmt, stored(), FAKE_BPF)
        if isinstance(out, str):
            assert out.isascii() and out.endswith("\n"), fmt


# --- oci ------------------------------------------------------------------------------------


def test_oci_holds_the_first_phase_with_provenance() -> None:
    policy = stored()
    doc = json.loads(text_of("oci", policy))
    assert list(doc) == ["defaultAction", "architectures", "syscalls"]
    assert doc["defaultAction"] == "SCMP_ACT_KILL_PROCESS"
    assert doc["architectures"] == ["SCMP_ARCH_X86_64"]
    first = policy.root_program.phases[0]
    assert {n for e in doc["syscalls"] for n in e["names"]} == set(first.syscall_names())
    for entry in doc["syscalls"]:
        assert entry["action"] == "SCMP_ACT_ALLOW"
        assert entry["comment"].startswith('phase "start", the first of 2')
    socket = [e for e in doc["syscalls"] if e["names"] == ["socket"]]
    assert socket == [
        {
            "names": ["socket"],
            "action": "SCMP_ACT_ALLOW",
            "args": [
                {"index": 0, "value": 2, "valueTwo": 0, "op": "SCMP_CMP_EQ"},
                # masked_eq: the mask in value, the expected bits in valueTwo (as runc reads it)
                {"index": 1, "value": 0xFFF7F7FF, "valueTwo": 1, "op": "SCMP_CMP_MASKED_EQ"},
            ],
            "comment": 'phase "start", the first of 2 (OCI profiles have no phases); '
            "/usr/bin/server start: 1 call (when arg0 == 2 and arg1 & 0xfff7f7ff == 0x1)",
        }
    ]
    # one entry per alternative
    assert len([e for e in doc["syscalls"] if e["names"] == ["mmap"]]) == 2


@pytest.mark.parametrize(
    ("action", "scmp"),
    [("errno", "SCMP_ACT_ERRNO"), ("trap", "SCMP_ACT_TRAP"), ("log", "SCMP_ACT_LOG")],
)
def test_oci_actions(action: str, scmp: str) -> None:
    doc = json.loads(text_of("oci", one_phase_policy(action)))
    assert doc["defaultAction"] == scmp
    assert ("defaultErrnoRet" in doc) is (action == "errno")
    if action == "errno":
        assert doc["defaultErrnoRet"] == 1
    assert all("the first of" not in e["comment"] for e in doc["syscalls"])


def one_phase_policy(action: str = "kill") -> Policy:
    node = ProcessNode(
        0,
        None,
        NodeKind.SPAWN,
        "/usr/local/bin/My_Tool.v2",
        ("t",),
        None,
        None,
        None,
        (Phase(0, "start", "start", FrozenMap({"read": SyscallStat(1)})),),
    )
    return generate(Profile(("t",), "x86_64", 1, True, (node,)), default_action=action)


# --- k8s ------------------------------------------------------------------------------------


def test_k8s_is_a_seccomp_profile_with_the_oci_content() -> None:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    policy = stored()
    doc: dict[str, Any] = yaml.safe_load(text_of("k8s", policy))
    assert doc["apiVersion"] == "security-profiles-operator.x-k8s.io/v1beta1"
    assert doc["kind"] == "SeccompProfile"
    assert doc["metadata"] == {"name": "server"}
    oci = json.loads(text_of("oci", policy))
    spec = doc["spec"]
    assert spec["defaultAction"] == oci["defaultAction"]
    assert spec["architectures"] == oci["architectures"]

    def rules(entries: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {(n, json.dumps(e.get("args", []))) for e in entries for n in e["names"]}

    assert rules(spec["syscalls"]) == rules(oci["syscalls"])


def test_k8s_names() -> None:
    assert metadata_name("/usr/local/bin/My_Tool.v2") == "my-tool.v2"
    assert metadata_name("/usr/bin/redis-server") == "redis-server"
    assert metadata_name("/opt/_x_/") == "sysphase-policy"
    assert metadata_name("") == "sysphase-policy"
    text = text_of("k8s", one_phase_policy("errno"))
    assert "  name: my-tool.v2\n" in text
    assert "# Refused calls fail with EPERM" in text
    assert "Only the first phase" not in text


# --- systemd --------------------------------------------------------------------------------


def filter_names(text: str, key: str) -> list[str]:
    return [
        name
        for line in text.splitlines()
        if line.startswith(f"{key}=")
        for name in line.split("=", 1)[1].lstrip("~").split()
    ]


def test_systemd_lists_every_name_once_in_short_lines() -> None:
    policy = stored()
    text = text_of("systemd", policy)
    names = filter_names(text, "SystemCallFilter")
    assert names == sorted(policy.root_program.phases[0].syscall_names())
    assert all(len(line) <= 100 for line in text.splitlines() if not line.startswith("#"))
    lines = text.splitlines()
    assert lines[lines.index("[Service]") :][:3] == [
        "[Service]",
        "NoNewPrivileges=yes",
        "SystemCallArchitectures=native",
    ]
    assert "SystemCallErrorNumber" not in text
    assert "# systemd cannot check arguments: allowed with any arguments here: clone, mmap" in text
    assert "#   futex: /usr/bin/server start: 1 call; /usr/bin/server serve: 4 calls" in lines


def test_systemd_actions() -> None:
    errno = text_of("systemd", one_phase_policy("errno"))
    assert errno.endswith("SystemCallErrorNumber=EPERM\n")
    trap = text_of("systemd", one_phase_policy("trap"))
    assert "# systemd has no trap action" in trap and "SystemCallErrorNumber" not in trap
    log = text_of("systemd", one_phase_policy("log"))
    assert "SystemCallFilter=" not in log
    assert all(
        line.startswith("SystemCallLog=~") for line in log.splitlines() if "SystemCallLog" in line
    )
    assert "read" in filter_names(log, "SystemCallLog")


# --- c-bpf and bpf --------------------------------------------------------------------------


def test_c_bpf_renders_the_given_instructions() -> None:
    text = text_of("c-bpf", stored(), FAKE_BPF)
    assert "static struct sock_filter sysphase_start_filter[] = {" in text
    assert "    /* 0001 */ {0x15, 0, 3, 0xc000003e}," in text
    assert "    /* 0003 */ {0x15, 0, 1, 0x00000001}," in text  # the serve phase's filter
    assert "prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sysphase_start_prog)" in text
    assert "SECCOMP_FILTER_FLAG_TSYNC" in text
    assert "int main" not in text


def test_bpf_is_the_first_phase_bytes() -> None:
    out = render("bpf", stored(), FAKE_BPF)
    assert out == FAKE_BPF[0]


@pytest.mark.parametrize("fmt", ["c-bpf", "bpf"])
def test_compiled_filters_are_checked(fmt: str) -> None:
    policy = stored()
    with pytest.raises(PolicyError, match="needs the compiled filters"):
        render(fmt, policy)
    with pytest.raises(PolicyError, match=r"one compiled filter per phase .* \(2\), got 1"):
        render(fmt, policy, FAKE_BPF[:1])
    with pytest.raises(PolicyError, match="not a whole number of 8-byte instructions"):
        render(fmt, policy, [FAKE_BPF[0], b"\0" * 12])
    with pytest.raises(PolicyError, match="4097 instructions, over the kernel's 4096"):
        render(fmt, policy, [FAKE_BPF[0], insn(6, 0, 0, 0) * 4097])


# --- the C formats compile and enforce ------------------------------------------------------


def need_cc() -> None:
    if shutil.which("gcc") is None or not Path("/usr/include/seccomp.h").exists():
        msg = "gcc or libseccomp's header is not installed (apt-get install libseccomp-dev)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)


MAIN = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int sysphase_install_first(void);
int sysphase_install(const char *phase);

int main(int argc, char **argv)
{
    if (sysphase_install("no-such-phase") != -EINVAL)
        return 10;
    int rc = sysphase_install_first();
    if (rc != 0)
        return 11;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "getpid") == 0)
            getpid();
        else if (sysphase_install(argv[i]) != 0)
            return 12;
    }
    _exit(0);
}
"""


def enforced_policy() -> Policy:
    """start allows getpid, serve does not; both have what libseccomp and _exit need."""
    base = {"brk": 1, "mmap": 1, "munmap": 1}

    def stats(extra: dict[str, int]) -> FrozenMap[SyscallStat]:
        return FrozenMap({k: SyscallStat(v) for k, v in {**base, **extra}.items()})

    node = ProcessNode(
        0,
        None,
        NodeKind.SPAWN,
        "/t",
        ("t",),
        None,
        None,
        None,
        (
            Phase(0, "start", "start", stats({"getpid": 1})),
            Phase(1, "serve", "marker", stats({})),
        ),
    )
    return generate(Profile(("t",), "x86_64", 1, True, (node,)), args=True)


def build_and_run(tmp_path: Path, source: str, libs: list[str]) -> dict[str, int]:
    (tmp_path / "policy.c").write_text(source)
    (tmp_path / "main.c").write_text(MAIN)
    exe = tmp_path / "t"
    cmd = ["gcc", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-o", str(exe)]
    proc = subprocess.run(
        [*cmd, str(tmp_path / "main.c"), str(tmp_path / "policy.c"), *libs],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    results = {}
    for case, args in {
        "first": ["getpid"],
        "serve": ["serve"],
        "serve+getpid": ["serve", "getpid"],
    }.items():
        results[case] = subprocess.run([str(exe), *args], timeout=30).returncode
    return results


EXPECTED = {"first": 0, "serve": 0, "serve+getpid": -signal.SIGSYS}


def test_c_compiles_and_enforces(tmp_path: Path) -> None:
    need_cc()
    source = text_of("c", enforced_policy())
    assert build_and_run(tmp_path, source, ["-lseccomp"]) == EXPECTED


def test_c_bpf_compiles_and_enforces(tmp_path: Path) -> None:
    need_cc()
    try:
        from sysphase._host.seccomp import compile_filter
    except ImportError as err:  # pragma: no cover - the compiler lives in _host
        pytest.skip(f"sysphase._host.seccomp is not available ({err})")
    policy = enforced_policy()
    bpf = [
        compile_filter(p.allow_list(), policy.default_action, arch=policy.arch, phase=p.name)
        for p in policy.root_program.phases
    ]
    source = text_of("c-bpf", policy, bpf)
    assert build_and_run(tmp_path, source, []) == EXPECTED
