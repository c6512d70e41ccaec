"""The `bpf` format: the raw filter of the root program's first phase, as bytes.

An array of 8-byte ``struct sock_filter`` in host byte order, exactly what
libseccomp's ``seccomp_export_bpf`` writes and what ``bwrap --seccomp FD``
(and ``systemd-nspawn``-style loaders) read. No room for phases or comments:
the first phase is the widest and the one to install before exec.
"""

from __future__ import annotations

from collections.abc import Sequence

from sysphase.policy.formats._c_common import check_filters
from sysphase.policy.ir import Policy

__all__ = ["render"]


def render(policy: Policy, bpf: Sequence[bytes] | None = None) -> bytes:
    """The first phase's filter bytes; PolicyError without them or when they are malformed."""
    return check_filters(policy, bpf, "bpf")[0]
