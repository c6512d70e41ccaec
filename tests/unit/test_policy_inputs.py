"""Policy generation's inputs: what it refuses, and the options it records.

A profile without processes, an unknown default action and a program with
more phases than MAX_PHASES are refused; the default action and the options
are recorded in the policy.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from sysphase.errors import PolicyError, UsageError
from sysphase.model.profile import Profile
from sysphase.model.tree import NodeKind
from sysphase.policy import generate
from sysphase.policy.generate import MAX_PHASES
from tests.unit.policy_samples import SERVER, marker_profile, phase, proc, server_profile


def test_bad_inputs() -> None:
    with pytest.raises(PolicyError, match="no processes"):
        generate(Profile((), "x86_64", 1, True, ()))
    with pytest.raises(UsageError, match="unknown default action 'allow'"):
        generate(server_profile(), default_action="allow")


@pytest.mark.parametrize("action", ["kill", "errno", "trap", "log"])
def test_the_default_action_and_options_are_recorded(action: str) -> None:
    policy = generate(server_profile(), default_action=action, portable=True)
    assert policy.default_action == action
    assert dict(policy.options) == {"args": False, "portable": True}
    assert policy.command == (SERVER,) and policy.arch == "x86_64"


def test_a_program_with_more_phases_than_the_limit_is_refused() -> None:
    assert generate(marker_profile(MAX_PHASES)).root_program.phases[-1].name == (
        f"m{MAX_PHASES - 1}"
    )
    with pytest.raises(PolicyError) as err:
        generate(marker_profile(3_000, exe="/usr/bin/chatty"))
    assert str(err.value) == (
        f'program "/usr/bin/chatty" has 3,000 phases, more than the {MAX_PHASES} a policy '
        "allows per program (record it with fewer phase triggers or markers)"
    )
    # the limit is per program: the phases of all its processes count together
    base = marker_profile(MAX_PHASES)
    other = proc(
        1,
        0,
        NodeKind.FORK,
        "/m",
        *(phase(k, f"other{k}", "marker", {"write": 1}) for k in range(2)),
    )
    with pytest.raises(PolicyError, match=f"has {MAX_PHASES + 2} phases"):
        generate(replace(base, processes=(*base.processes, other)))
    # raised on purpose (benchmarks, tests)
    assert len(generate(marker_profile(300), max_phases=300).root_program.phases) == 300
