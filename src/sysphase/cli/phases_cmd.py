"""`sysphase phases`: propose phase triggers from a profile's timelines (model.phase_proposal).

Prints, per program, the best cuts as ``--phase`` arguments ready to paste,
each with what the later phase would drop and how much of the run it covers;
``--json`` gives the same as data. A profile without timelines (written
before they existed) is one sentence.
"""

from __future__ import annotations

import argparse
import json

from sysphase._host import files
from sysphase.errors import UsageError
from sysphase.model import profile_merge
from sysphase.model.phase_proposal import MIN_DROPPED, MIN_SHARE, Proposal, propose
from sysphase.report.escape import terminal_safe

#: proposals shown per program
SHOWN = 3
THRESHOLD = (
    f"a cut is proposed when it drops at least {MIN_DROPPED} syscalls in every run and "
    f"leaves the later phase at least {MIN_SHARE:.0%} of the process's life"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("profiles", nargs="+", metavar="PROFILE")
    p.add_argument("--json", action="store_true", help="the proposals as JSON")


def _line(p: Proposal) -> str:
    return (
        f"  {p.argument()}  drops {len(p.dropped)}: {' '.join(p.dropped)}; "
        f"later phase {p.share:.0%} of the process's life ({p.instances} process runs)"
    )


def run(args: argparse.Namespace) -> int:
    merged = profile_merge.merge_all(files.read_profile(p) for p in args.profiles)
    if not merged.timelines:
        raise UsageError(
            f"{args.profiles[0]}: the profile has no timelines (recorded before they existed): "
            "record it again"
        )
    found = propose(merged)
    if args.json:
        doc = {
            exe: [
                {"argument": p.argument(), "trigger": p.trigger, "dropped": list(p.dropped),
                 "kept": list(p.kept), "share": round(p.share, 3), "instances": p.instances}
                for p in props
            ]
            for exe, props in found.items()
        }  # fmt: skip
        print(json.dumps({"proposals": doc, "threshold": THRESHOLD}, indent=2, sort_keys=True))
        return 0
    programs = sorted({n.executable for n in merged.processes})
    for exe in programs:
        props = found.get(exe, [])
        print(terminal_safe(f"{exe}:"))
        if not props:
            print("  no useful cut")
        for p in props[:SHOWN]:
            print(terminal_safe(_line(p)))
    print(f"({THRESHOLD})")
    return 0
