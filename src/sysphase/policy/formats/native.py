"""The `sysphase` format: the policy file itself (`sysphase-policy/1`, every phase)."""

from __future__ import annotations

from collections.abc import Sequence

from sysphase.policy.codec import encode
from sysphase.policy.ir import Policy

__all__ = ["render"]


def render(policy: Policy, bpf: Sequence[bytes] | None = None) -> str:
    """The JSON text of :func:`sysphase.policy.codec.encode`; ``bpf`` is not used."""
    return encode(policy)
