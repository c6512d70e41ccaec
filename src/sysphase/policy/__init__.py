"""Policies (`sysphase-policy/1`): from a profile to seccomp filters per program and phase.

Pure: no OS access. :func:`generate` computes the phase unions seccomp's
semantics demand, :func:`explain` says where each allowed call came from,
:func:`encode`/:func:`decode` read and write the JSON form, and
:mod:`sysphase.policy.formats` renders the deployable formats (OCI, k8s,
systemd, C, BPF). Compiling a phase to BPF is libseccomp's job
(:mod:`sysphase._host.seccomp`); :meth:`PolicyPhase.allow_list` is its input.
"""

from __future__ import annotations

from sysphase.policy.codec import FORMAT, decode, encode
from sysphase.policy.explain import explain
from sysphase.policy.generate import generate
from sysphase.policy.ir import (
    AllowedCall,
    ArgCondition,
    Policy,
    PolicyPhase,
    ProgramPolicy,
    Provenance,
    RefusedCall,
    Rule,
)

__all__ = [
    "FORMAT",
    "AllowedCall",
    "ArgCondition",
    "Policy",
    "PolicyPhase",
    "ProgramPolicy",
    "Provenance",
    "RefusedCall",
    "Rule",
    "decode",
    "encode",
    "explain",
    "generate",
]
