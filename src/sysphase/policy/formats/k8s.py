"""The `k8s` format: a security-profiles-operator ``SeccompProfile`` (YAML).

``apiVersion: security-profiles-operator.x-k8s.io/v1beta1``, ``kind:
SeccompProfile``, named after the root program's basename, with the OCI
profile's content under ``spec``: default action, native architecture only,
one ``syscalls`` entry for the unconditional calls and one per alternative
of a conditional call (``args``). Written by hand (no YAML library): every
syscall name carries its provenance in a ``#`` comment, and the header says
when only the first of several phases is here (a SeccompProfile has none).
Names from the profile only reach comments, as printable ASCII with escapes
(YAML forbids control characters anywhere); scalars are plain words or JSON
strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from sysphase.policy.formats._common import (
    SCMP_ACTION,
    ascii_line,
    comment_text,
    first_phase,
    header,
    oci_args,
    phase_note,
    scmp_arch,
)
from sysphase.policy.ir import AllowedCall, Policy

__all__ = ["metadata_name", "render"]

#: Plain words YAML (1.1 or 1.2) reads as something other than a string.
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


def metadata_name(executable: str) -> str:
    """A Kubernetes object name (DNS-1123 subdomain) from the program's basename."""
    base = executable.rsplit("/", 1)[-1].lower()
    name = re.sub(r"[^a-z0-9.-]+", "-", base)
    name = re.sub(r"^[^a-z0-9]+|[^a-z0-9]+$", "", name)[:253]
    return name or "sysphase-policy"


def _scalar(text: str) -> str:
    """A YAML scalar: plain when YAML reads it as that string, else a JSON (= YAML) string."""
    if re.fullmatch(r"[a-z_][a-z0-9_.-]*", text) and text not in _YAML_WORDS:
        return text
    return json.dumps(text)


def _names(calls: Sequence[AllowedCall], indent: str) -> list[str]:
    return [f"{indent}- {_scalar(c.syscall)}  # {comment_text(c, with_name=False)}" for c in calls]


def render(policy: Policy, bpf: Sequence[bytes] | None = None) -> str:
    """The YAML text; ``bpf`` is not used."""
    phase = first_phase(policy)
    lines = [f"# {ascii_line(line)}" for line in header(policy, "SeccompProfile")]
    note = phase_note(policy, "a SeccompProfile")
    if note:
        lines.append(f"# {ascii_line(note)}")
    if policy.default_action == "errno":
        lines.append("# Refused calls fail with EPERM (the runtime's default errno).")
    lines += [
        "apiVersion: security-profiles-operator.x-k8s.io/v1beta1",
        "kind: SeccompProfile",
        "metadata:",
        f"  name: {_scalar(metadata_name(policy.root_program.executable))}",
        "spec:",
        f"  defaultAction: {SCMP_ACTION[policy.default_action]}",
        "  architectures:",
        f"    - {scmp_arch(policy)}",
        "  syscalls:",
    ]
    plain = [c for c in phase.allowed if not c.rule.when]
    if plain:
        lines += ["    - action: SCMP_ACT_ALLOW", "      names:"]
        lines += _names(plain, "        ")
    for call in phase.allowed:
        for alt in call.rule.when:
            lines += ["    - action: SCMP_ACT_ALLOW", "      names:"]
            lines += _names([call], "        ")
            lines.append("      args:")
            for arg in oci_args(alt):
                lines += [
                    f"        - index: {arg['index']}",
                    f"          value: {arg['value']}",
                    f"          valueTwo: {arg['valueTwo']}",
                    f"          op: {arg['op']}",
                ]
    if not phase.allowed:
        lines[-1] = "  syscalls: []"
    return "\n".join(lines) + "\n"
