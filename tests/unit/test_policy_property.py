"""End to end property: random profile -> generate -> libseccomp -> BPF simulator.

For every phase of the root program, the compiled filter allows exactly the
phase's allowed set, which is every x86_64 syscall the profile's processes
recorded (for the first phase: all of them) plus the documented additions,
and nothing else; other ABIs never get through.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sysphase.model import syscalls
from sysphase.model.profile import Profile
from sysphase.policy import bpf_sim
from sysphase.policy.generate import ALWAYS_ADDED, generate
from tests.unit.profile_samples import profiles

ALLOW = 0x7FFF0000


@pytest.fixture(scope="module")
def seccomp():
    from sysphase._host import seccomp as mod
    from sysphase.errors import PolicyError

    try:
        mod.load_library()
    except PolicyError as err:
        if os.environ.get("CI") == "true":
            pytest.fail(str(err))
        pytest.skip(f"libseccomp is not loadable ({err}); CI installs libseccomp2")
    return mod


def _recorded(profile: Profile) -> set[str]:
    """x86_64 syscalls recorded by the first process and everything below it."""
    under = {0}
    for n in profile.processes[1:]:  # parents come before children
        if n.parent in under:
            under.add(n.id)
    return {
        k
        for n in profile.processes
        if n.id in under
        for ph in n.phases
        for k in ph.syscalls
        if ":" not in k
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=profiles(arch=st.just("x86_64"), wild_text=False))
def test_filter_allows_exactly_the_policy(seccomp, p: Profile) -> None:
    # a recording has one root (the traced command); programs are unions over their processes
    assume(p.processes and all(n.parent is not None for n in p.processes[1:]))
    # the strategy draws fragments too: take their calls as they are
    policy = generate(p, fragments="allow")
    first = policy.root_program.phases[0]
    allowed = first.syscall_names()
    # the widest phase holds every call the tree recorded, plus the documented additions
    assert _recorded(p) | set(ALWAYS_ADDED) <= allowed
    assert allowed - _recorded(p) - set(ALWAYS_ADDED) <= {"prctl", "seccomp"}
    for phase in policy.root_program.phases:
        bpf = seccomp.compile_filter(phase.allow_list(), "kill", phase=phase.name)
        want = {syscalls.number("x86_64", n) for n in phase.syscall_names()}
        for nr in range(460):
            got = bpf_sim.run(bpf, nr, bpf_sim.AUDIT_ARCH_X86_64)
            assert (got == ALLOW) == (nr in want), (phase.name, nr, syscalls.name("x86_64", nr))
        assert bpf_sim.run(bpf, 20, bpf_sim.AUDIT_ARCH_I386) != ALLOW
        assert bpf_sim.run(bpf, 0x40000000 | 39, bpf_sim.AUDIT_ARCH_X86_64) != ALLOW
