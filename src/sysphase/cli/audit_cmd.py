"""`sysphase audit`: the kernel's seccomp audit records, named, and as a fragment to merge.

    sysphase audit [--since TIME] [--from dmesg|journal|FILE] [--exe PATH]
                   [--policy POLICY [-o FRAGMENT]] [--json]

Programs enforced without sysphase watching (a patched binary, ``bwrap
--seccomp``, crun, systemd's ``SystemCallFilter=``) leave only the kernel's
audit records (``type=1326``). This reads them (:mod:`sysphase._host.audit_sources`,
parsed by :mod:`sysphase.model.audit_records`), names the call and program
and, with the policy, the phase whose filter refused the call
(:mod:`sysphase.policy.audit`), prints a line per record and a summary
(:mod:`sysphase.report.audit_view`), and can write the calls as a profile
fragment for ``sysphase merge``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

from sysphase._host import audit_sources, files
from sysphase.errors import UsageError
from sysphase.model import audit_records, profile_codec
from sysphase.policy import audit
from sysphase.policy.ir import Policy
from sysphase.report import audit_view
from sysphase.report.escape import terminal_safe


def add_arguments(p: argparse.ArgumentParser) -> None:
    # "--since -10min": a value that starts with "-" and a digit is a value, not an option
    p._negative_number_matcher = re.compile(r"^-\d")
    p.add_argument(
        "--since",
        metavar="TIME",
        help="only records from TIME on: an epoch time, an ISO date or time "
        "(2026-12-07T08:30, local), or a time before now (-10min, -2h, -1d)",
    )
    p.add_argument(
        "--from",
        dest="source",
        metavar="SOURCE",
        help="dmesg, journal (journalctl -k), or an audit.log FILE ('-': standard input); "
        "by default the first of dmesg, the journal and /var/log/audit/audit.log with records",
    )
    p.add_argument(
        "--exe",
        metavar="PATH",
        help="only records of this executable (its real path)",
    )
    p.add_argument(
        "--policy",
        metavar="POLICY",
        help="a sysphase-policy/1 file: name each record's program and the phase whose "
        "filter refused the call",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument(
        "-o",
        dest="output",
        metavar="FRAGMENT",
        help="with --policy: write the calls, per program and phase, as a profile fragment "
        "for sysphase merge",
    )


def _since(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return audit_records.parse_since(text, time.time())
    except ValueError as err:
        raise UsageError(str(err)) from None


def _rows(
    log: audit_records.AuditLog, policy: Policy | None, exe: str | None
) -> list[audit_view.Row]:
    records = [r for r in log.records if exe is None or r.exe == exe]
    ids = audit_sources.build_ids(r.exe for r in records) if policy is not None else {}
    return [(r, audit.attribute(r, policy, ids.get(r.exe, ""))) for r in records]


def _warn(log: audit_records.AuditLog, source: str) -> None:
    if log.suppressed:
        print(
            f"sysphase: audit: the kernel's rate limit dropped {log.suppressed} audit "
            f"message(s) of any program in {source} (kauditd_printk_skb: callbacks suppressed); "
            "records may be missing (auditd keeps them all)",
            file=sys.stderr,
        )
    if log.malformed:
        print(
            f"sysphase: audit: {log.malformed} seccomp record(s) in {source} lacked "
            "pid, arch, syscall or code and were skipped",
            file=sys.stderr,
        )


def _print(
    rows: list[audit_view.Row],
    args: argparse.Namespace,
    log: audit_records.AuditLog,
    source: str,
    since: float | None,
) -> None:
    if args.json:
        for record, who in rows:
            print(audit_view.record_json(record, who))
        print(audit_view.summary_json(rows, source, since, log.suppressed))
        return
    for record, who in rows:
        print(audit_view.record_line(record, who))
    for line in audit_view.summary_lines(rows, source, since, args.policy is not None):
        print(line)


def _write_fragment(output: str, rows: list[audit_view.Row], policy: Policy) -> None:
    profile = audit.fragment(rows, policy)
    files.write_atomic(output, profile_codec.encode(profile))
    calls = sum(len(p.syscalls) for n in profile.processes for p in n.phases)
    say = (
        f"sysphase: audit: wrote {output}: {calls} call(s) (a profile fragment for sysphase merge)"
    )
    print(terminal_safe(say), file=sys.stderr)
    strangers = sorted({who.program for _, who in rows if not who.known})
    if strangers:
        left = ", ".join(strangers)
        print(
            terminal_safe(
                f"sysphase: audit: left out of {output}, not programs of the policy: {left}"
            ),
            file=sys.stderr,
        )


def run(args: argparse.Namespace) -> int:
    if args.command_argv:
        raise UsageError("audit takes no command after '--'")
    since = _since(args.since)
    if args.output and not args.policy:
        raise UsageError(
            "-o needs --policy: a fragment puts each call in its program's phase, "
            "which only the policy tells"
        )
    policy = files.read_policy(args.policy)[0] if args.policy else None
    if args.output:
        files.refuse_overwriting_inputs(args.output, [args.policy or "-"], "the fragment")
    exe = os.path.realpath(args.exe) if args.exe else None
    text = audit_sources.read(args.source, since)
    log = audit_records.parse(text.text, since)
    rows = _rows(log, policy, exe)
    _print(rows, args, log, text.source, since)
    _warn(log, text.source)
    if args.output and policy is not None:
        _write_fragment(args.output, rows, policy)
    return 0
