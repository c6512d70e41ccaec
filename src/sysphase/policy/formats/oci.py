"""The `oci` format: a Docker / Podman / containerd (runc, crun) seccomp profile.

The JSON of ``docker run --security-opt seccomp=FILE`` and of the OCI runtime
spec's ``linux.seccomp``: ``defaultAction``, ``architectures`` (native only:
other ABIs get the runtime's bad-architecture action) and one ``syscalls``
entry per allowed call and alternative, whose ``comment`` carries the
provenance. It has no phases: it holds the root program's first (widest)
phase, and each comment says so when there were more.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sysphase.policy.formats._common import (
    EPERM,
    SCMP_ACTION,
    ascii_line,
    comment_text,
    first_phase,
    oci_args,
    scmp_arch,
)
from sysphase.policy.ir import Policy

__all__ = ["render"]


def render(policy: Policy, bpf: Sequence[bytes] | None = None) -> str:
    """The profile as JSON text (2-space indent, ending in a newline); ``bpf`` is not used."""
    phase = first_phase(policy)
    phases = policy.root_program.phases
    prefix = ""
    if len(phases) > 1:
        name = ascii_line(phase.name)
        prefix = f'phase "{name}", the first of {len(phases)} (OCI profiles have no phases); '
    doc: dict[str, object] = {"defaultAction": SCMP_ACTION[policy.default_action]}
    if policy.default_action == "errno":
        doc["defaultErrnoRet"] = EPERM
    doc["architectures"] = [scmp_arch(policy)]
    entries: list[dict[str, object]] = []
    for call in phase.allowed:
        comment = prefix + comment_text(call, with_name=False)
        for alt in call.rule.when or ((),):
            entry: dict[str, object] = {"names": [call.syscall], "action": "SCMP_ACT_ALLOW"}
            if alt:
                entry["args"] = oci_args(alt)
            entry["comment"] = comment
            entries.append(entry)
    doc["syscalls"] = entries
    return json.dumps(doc, indent=2) + "\n"
