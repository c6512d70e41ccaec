"""The `systemd` format: a unit drop-in with ``SystemCallFilter=``.

A ``[Service]`` section for ``/etc/systemd/system/UNIT.service.d/sysphase.conf``:
``NoNewPrivileges=yes``, ``SystemCallArchitectures=native`` (other ABIs are
refused), the allowed names on wrapped ``SystemCallFilter=`` lines, and
``SystemCallErrorNumber=EPERM`` for the errno action. systemd kills the
process on a refused call by default; it has no trap action (the process is
killed instead, and the comment says so); the log action becomes
``SystemCallLog=~...`` (log what is not allowed, refuse nothing; systemd
247 or later). systemd cannot express argument conditions or phases: the
comments say which conditions were dropped and that only the first (widest)
phase is here, and list every call's provenance. Names from the profile are
escaped to printable ASCII on the comment's one line (no newline can start
a directive, no trailing backslash can continue one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from sysphase.policy.formats._common import (
    ascii_line,
    comment_text,
    first_phase,
    header,
    phase_note,
)
from sysphase.policy.ir import Policy

__all__ = ["render"]

_WIDTH: Final = 100


def _wrapped(key: str, names: Sequence[str], prefix: str = "") -> list[str]:
    lines: list[str] = []
    current = ""
    for name in names:
        candidate = f"{current} {name}" if current else name
        if current and len(key) + 1 + len(prefix) + len(candidate) > _WIDTH:
            lines.append(f"{key}={prefix}{current}")
            current = name
        else:
            current = candidate
    if current:
        lines.append(f"{key}={prefix}{current}")
    return lines


def render(policy: Policy, bpf: Sequence[bytes] | None = None) -> str:
    """The drop-in text; ``bpf`` is not used."""
    phase = first_phase(policy)
    lines = [f"# {ascii_line(line)}" for line in header(policy, "systemd unit drop-in")]
    lines.append(
        "# Install as /etc/systemd/system/UNIT.service.d/sysphase.conf, "
        "then: systemctl daemon-reload"
    )
    note = phase_note(policy, "systemd")
    if note:
        lines.append(f"# {ascii_line(note)}")
    action = policy.default_action
    if action == "trap":
        lines.append("# systemd has no trap action: a refused call kills the process instead.")
    if action == "log":
        lines.append(
            "# Log action: calls outside the list are logged, none is refused (systemd >= 247)."
        )
    conditional = [c.syscall for c in phase.allowed if c.rule.when]
    if conditional:
        lines.append(
            "# systemd cannot check arguments: allowed with any arguments here: "
            + ", ".join(conditional)
            + "."
        )
    lines.append("#")
    lines.append("# Allowed system calls and where they come from:")
    lines += [f"#   {comment_text(c)}" for c in phase.allowed]
    names = [c.syscall for c in phase.allowed]
    lines += ["", "[Service]", "NoNewPrivileges=yes", "SystemCallArchitectures=native"]
    if action == "log":
        lines += _wrapped("SystemCallLog", names, "~")
    else:
        lines += _wrapped("SystemCallFilter", names)
        if action == "errno":
            lines.append("SystemCallErrorNumber=EPERM")
    return "\n".join(lines) + "\n"
