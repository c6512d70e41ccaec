"""Recording keeps the distinct values of the arguments policies can condition on."""

from __future__ import annotations

from sysphase._host.tracer import trace_command
from sysphase.model import profile_build, profile_codec
from tests.conftest import TRACEE_ENV

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4


def test_mmap_protections_and_ioctl_requests_are_kept(tmp_path):
    r = trace_command(["/bin/ls", "-la", "/"], env=TRACEE_ENV)
    names = {(v.nr, v.arg): set() for v in r.tree.arg_values}
    for v in r.tree.arg_values:
        names[(v.nr, v.arg)].add(v.value)
    mmap_prot = names[(9, 2)]
    assert PROT_READ | PROT_EXEC in mmap_prot  # ld.so maps code
    assert PROT_READ | PROT_WRITE in mmap_prot
    assert all(nr in (9, 10, 16, 41, 157, 56) for nr, _ in names)  # only watched calls
    p = profile_build.from_tree(r.tree, ["ls"], "x86_64")
    phase = p.processes[0].phases[0]
    assert set(phase.arg_values["mmap"]["2"]) == mmap_prot
    assert profile_codec.decode(profile_codec.encode(p), "x.json") == p
