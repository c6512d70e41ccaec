"""The kernel's seccomp audit records (``type=1326``), read from text: :func:`parse`.

A seccomp filter that kills, traps, logs (``SECCOMP_RET_LOG``) or, with
``SECCOMP_FILTER_FLAG_LOG``, fails a call makes the kernel write an audit
record. Without auditd the kernel prints it (``dmesg``, ``journalctl -k``)::

    [ 8419.202205] audit: type=1326 audit(1796613068.437:11516): auid=4294967295 uid=0
    gid=0 ses=4294967295 pid=21418 comm="t" exe="/tmp/t" sig=31 arch=c000003e syscall=39
    compat=0 ip=0x7fa9fae584e7 code=0x80000000

and auditd writes the same fields to audit.log as ``type=SECCOMP msg=audit(...): ...``
(with ``log_format = ENRICHED``, interpreted fields follow a ``\\x1d``). Every
record carries its epoch time and serial in ``audit(SECONDS.MILLIS:SERIAL)``;
dmesg's ``[SECONDS]`` are since boot. A ``comm`` or ``exe`` that holds a space,
a quote, a control or a non-ASCII byte is written in hex (``comm=61206220``),
else in double quotes; both are read. The kernel's printk rate limit drops
records and says so (``kauditd_printk_skb: 12 callbacks suppressed``); those
are counted. Also here: :func:`parse_since` (``--since``: an epoch time, an ISO
date or time, ``-10min``) and the names of seccomp actions. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sysphase.model import syscalls
from sysphase.model.events import AARCH64, I386, X32, X86_64

__all__ = [
    "AUDIT_ARCHES",
    "SINCE_SLACK",
    "AuditLog",
    "AuditRecord",
    "action_name",
    "parse",
    "parse_since",
]

#: ``AUDIT_ARCH_*`` (the record's ``arch=``) -> sysphase's architecture name (x32 shares
#: x86_64's value; its calls have :data:`syscalls.X32_SYSCALL_BIT` in the number).
AUDIT_ARCHES: Final = {0xC000003E: X86_64, 0x40000003: I386, 0xC00000B7: AARCH64}

#: ``SECCOMP_RET_*`` action (high 16 bits) -> its name, as in
#: ``/proc/sys/kernel/seccomp/actions_logged``
_ACTIONS: Final = {
    0x80000000: "kill_process",
    0x00000000: "kill_thread",
    0x00030000: "trap",
    0x00050000: "errno",
    0x7FC00000: "user_notif",
    0x7FF00000: "trace",
    0x7FFC0000: "log",
    0x7FFF0000: "allow",
}

_RECORD: Final = re.compile(
    r"type=(?:1326|SECCOMP)\s+(?:msg=)?audit\((?P<sec>\d+)(?:\.(?P<frac>\d+))?:(?P<serial>\d+)\):"
    r"(?P<body>[^\x1d\n]*)"
)
_BOOT: Final = re.compile(r"^\s*\[\s*(?P<boot>\d+\.\d+)\]")
_SUPPRESSED: Final = re.compile(r"kauditd_printk_skb: (?P<n>\d+) callbacks suppressed")
_FIELD: Final = re.compile(r'(?:^|\s)(?P<key>\w+)=(?P<value>"[^"]*"|\S*)')
_HEX: Final = re.compile(r"(?:[0-9A-Fa-f]{2})+")
#: the kernel stamps records with its coarse clock, up to a tick (10 ms at HZ=100) behind the
#: time a program reads, and in milliseconds: a record this much before ``since`` still counts
SINCE_SLACK: Final = 0.02


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One seccomp audit record: when, which process, which call, what the filter did.

    ``time`` is the epoch time of ``audit(...)``, ``serial`` its serial number (the two
    identify a record). ``arch`` is ``x86_64``, ``i386``, ``x32`` or ``aarch64`` (or
    ``0x...`` for an ``AUDIT_ARCH`` value sysphase has no table for); ``nr`` is the
    number as the kernel gives it (x32's with the x32 bit) and ``syscall`` its name
    (``syscall_0x1b9`` if the table has none). ``code`` is the filter's
    ``SECCOMP_RET_*`` value, ``signal`` the signal the action sent (31, SIGSYS, for a
    kill or a trap; 0 otherwise). ``comm`` and ``exe`` are "" when the record has none.
    """

    time: float
    serial: int
    pid: int
    comm: str
    exe: str
    arch: str
    nr: int
    syscall: str
    code: int
    signal: int = 0
    ip: int = 0
    uid: int | None = None

    @property
    def action(self) -> str:
        """The filter's action: ``kill_process``, ``log``, ``errno(EPERM)``, ..."""
        return action_name(self.code)


@dataclass(frozen=True, slots=True)
class AuditLog:
    """The records of a text, oldest first, and what the kernel's rate limit dropped.

    ``suppressed`` counts the audit messages printk dropped (``kauditd_printk_skb: N
    callbacks suppressed``) at or after ``since``, as far as their boot-time stamps
    can be placed; ``malformed`` the lines that named a seccomp record but lacked
    one of pid, arch, syscall and code.
    """

    records: tuple[AuditRecord, ...]
    suppressed: int = 0
    malformed: int = 0


def action_name(code: int) -> str:
    """``kill_process``, ``kill_thread``, ``trap``, ``errno(EPERM)``, ``log``, ... for a code."""
    code &= 0xFFFFFFFF
    action, data = code & 0xFFFF0000, code & 0xFFFF
    if action == 0x00050000:
        return f"errno({syscalls.errno_name(data)})" if data else "errno(0)"
    if action == 0x7FF00000 and data:
        return f"trace({data})"
    return _ACTIONS.get(action, f"unknown({code:#010x})")


def _untrusted(value: str) -> str:
    """An audit string field: ``"text"``, hex (a value with a space or a control) or ``(null)``."""
    if value.startswith('"'):
        return value[1:-1] if value.endswith('"') and len(value) > 1 else value[1:]
    if value == "(null)":
        return ""
    if _HEX.fullmatch(value):
        return bytes.fromhex(value).decode("utf-8", "surrogateescape")
    return value


def _int(value: str, base: int = 10) -> int | None:
    try:
        return int(value, base)
    except ValueError:
        return None


def _arch_and_name(audit_arch: int, nr: int) -> tuple[str, str]:
    arch = AUDIT_ARCHES.get(audit_arch)
    if arch is None:
        return f"{audit_arch:#x}", f"syscall_{nr:#x}"
    if arch == X86_64 and nr & syscalls.X32_SYSCALL_BIT:
        arch = X32
    return arch, syscalls.name(arch, nr)


def _record(m: re.Match[str]) -> AuditRecord | None:
    """The record of one ``type=1326``/``type=SECCOMP`` match; None when a field is missing."""
    fields = {f["key"]: f["value"] for f in _FIELD.finditer(m["body"])}
    pid = _int(fields.get("pid", ""))
    audit_arch = _int(fields.get("arch", ""), 16)
    nr = _int(fields.get("syscall", ""))
    code = _int(fields.get("code", ""), 16)
    if pid is None or audit_arch is None or nr is None or code is None:
        return None
    arch, name = _arch_and_name(audit_arch, nr)
    frac = m["frac"] or "0"
    return AuditRecord(
        time=int(m["sec"]) + int(frac) / 10 ** len(frac),
        serial=int(m["serial"]),
        pid=pid,
        comm=_untrusted(fields.get("comm", "(null)")),
        exe=_untrusted(fields.get("exe", "(null)")),
        arch=arch,
        nr=nr,
        syscall=name,
        code=code,
        signal=_int(fields.get("sig", "0")) or 0,
        ip=_int(fields.get("ip", "0"), 16) or 0,
        uid=_int(fields.get("uid", "")),
    )


def _boot(line: str) -> float | None:
    m = _BOOT.match(line)
    return float(m["boot"]) if m else None


def parse(text: str | Iterable[str], since: float | None = None) -> AuditLog:
    """The seccomp records of TEXT (dmesg, ``journalctl -k``, audit.log) at or after SINCE
    (less :data:`SINCE_SLACK`).

    Other lines are skipped. A record seen twice (the same time and serial) counts
    once; records come out in time order.
    """
    lines = text.splitlines() if isinstance(text, str) else text
    seen: dict[tuple[float, int], AuditRecord] = {}
    drops: list[tuple[float | None, int]] = []  # (boot stamp, count) of suppressed messages
    offsets: list[tuple[float, float]] = []  # (boot stamp, epoch - boot) of records
    malformed = 0
    for line in lines:
        m = _RECORD.search(line)
        if m is None:
            s = _SUPPRESSED.search(line)
            if s is not None:
                drops.append((_boot(line), int(s["n"])))
            continue
        rec = _record(m)
        if rec is None:
            malformed += 1
            continue
        boot = _boot(line)
        if boot is not None:
            offsets.append((boot, rec.time - boot))
        if since is None or rec.time >= since - SINCE_SLACK:
            seen.setdefault((rec.time, rec.serial), rec)
    records = tuple(sorted(seen.values(), key=lambda r: (r.time, r.serial)))
    return AuditLog(records, _suppressed(drops, offsets, since), malformed)


def _suppressed(
    drops: list[tuple[float | None, int]], offsets: list[tuple[float, float]], since: float | None
) -> int:
    """How many dropped messages fall at or after SINCE: each placed in epoch time by the
    boot-to-epoch offset of the record nearest to it; one that cannot be placed counts."""
    total = 0
    for boot, n in drops:
        if since is None or boot is None or not offsets:
            total += n
            continue
        offset = min(offsets, key=lambda o: abs(o[0] - boot))[1]
        if boot + offset >= since:
            total += n
    return total


# --- --since ----------------------------------------------------------------------------------

_UNITS: Final = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RELATIVE: Final = re.compile(
    r"-\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[a-z]+)|(?P<n2>\d+(?:\.\d+)?)\s*(?P<unit2>[a-z]+)\s+ago"
)
_EPOCH: Final = re.compile(r"@?\d+(?:\.\d+)?")


def parse_since(text: str, now: float) -> float:
    """An epoch time from ``--since``: ``1796613068.4``, ``@1796613068``, ``-10min``,
    ``2h ago``, ``now``, or an ISO date or time (``2026-12-07``, ``2026-12-07T08:30``,
    ``2026-12-07 08:30:00+01:00``; local time unless it has an offset).

    ValueError (one sentence) for anything else. NOW is the current epoch time.
    """
    t = text.strip()
    if t == "now":
        return now
    if _EPOCH.fullmatch(t):
        return float(t.lstrip("@"))
    rel = _RELATIVE.fullmatch(t.lower())
    if rel is not None:
        n, unit = rel["n"] or rel["n2"], rel["unit"] or rel["unit2"]
        plural = unit[:-1] if len(unit) > 2 and unit.endswith("s") else unit  # mins, hours
        scale = _UNITS.get(unit) or _UNITS.get(plural)
        if scale is not None:
            return now - float(n) * scale
    try:
        return datetime.fromisoformat(t).timestamp()
    except ValueError:
        pass
    raise ValueError(
        f"--since {text!r} is not a time: give an epoch time (1796613068), an ISO date or "
        "time (2026-12-07T08:30), or a time before now (-10min, -2h, -1d, '30s ago')"
    )
