"""`--explain`: why each syscall is in a policy, as plain text.

Per program and phase: every allowed syscall with where it came from
(program, phase, number of calls) or why it was added, its argument
conditions and notes on them, then the calls the trace saw that the policy
refuses (another ABI). Where many phases made a call, its provenance lists
the first few and the note says how many there were (so the text grows
linearly with the phases).
"""

from __future__ import annotations

import shlex
from typing import Final

from sysphase.policy.ir import Policy
from sysphase.report.escape import terminal_safe

__all__ = ["ACTION_TEXT", "explain"]

#: What each default action does, in words.
ACTION_TEXT: Final = {
    "kill": "kill the process",
    "errno": "fail the call with EPERM",
    "trap": "send SIGSYS",
    "log": "allow and log the call",
}

_WIDTH: Final = 20


def explain(policy: Policy) -> str:
    """The explanation text, ending in a newline."""
    options = [f"--{k}" for k, v in policy.options.items() if v]
    lines = [
        f"Policy for {shlex.join(policy.command) or '(no command)'} ({policy.arch})",
        f"Default action: {policy.default_action} "
        f"({ACTION_TEXT.get(policy.default_action, policy.default_action)})",
        f"Options: {' '.join(options) or 'none'}",
    ]
    pad = " " * (4 + _WIDTH + 1)
    for pos, program in enumerate(policy.programs):
        lines.append("")
        lines.append(program.executable + (" (root program)" if pos == 0 else ""))
        for phase in program.phases:
            n = len(phase.allowed)
            lines.append(
                f"  phase {phase.name} (trigger: {phase.trigger}): "
                f"{n} syscall{'' if n == 1 else 's'} allowed"
            )
            for call in phase.allowed:
                lines.append(f"    {call.syscall:<{_WIDTH}} {call.describe()}")
                if call.rule.when:
                    lines.append(f"{pad}when {call.rule.describe()}")
                if call.note:
                    lines.append(f"{pad}note: {call.note}")
            for refused in phase.refused:
                where = "; ".join(p.describe() for p in refused.provenance)
                lines.append(f"    {refused.syscall:<{_WIDTH}} {where}; {refused.reason}")
    # names come from the profile: no control character reaches the terminal
    return "\n".join(terminal_safe(line) for line in lines) + "\n"
