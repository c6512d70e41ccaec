"""Where the kernel's seccomp audit records are: dmesg, the journal, audit.log, a file.

Without auditd the kernel prints its audit records to its log (``dmesg``,
``journalctl -k`` on a systemd machine); with auditd they go to
``/var/log/audit/audit.log``. :func:`read` takes one source by name (``dmesg``,
``journal``, a file, ``-`` for standard input) or, by default, the first of
dmesg, the journal and audit.log that holds a seccomp record (else the first
that can be read). A source that cannot be read is one sentence. Parsing is
pure (:mod:`sysphase.model.audit_records`); :func:`build_ids` reads the
build-id of the executables the records name, so a copy of a program (a
patched binary) is known as that program.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from sysphase._host import files
from sysphase.errors import AuditSourceError, SysphaseError
from sysphase.model import elf

__all__ = ["AUDIT_LOG", "AuditText", "build_ids", "read"]

#: auditd's log
AUDIT_LOG: Final = "/var/log/audit/audit.log"
#: the sources tried in turn when none is named
AUTOMATIC: Final = ("dmesg", "journal", AUDIT_LOG)
#: largest log read (an audit.log rotates at 8 MiB by default)
_LIMIT: Final = 256 * 1024 * 1024
_TIMEOUT: Final = 120
_MARKERS: Final = ("type=1326", "type=SECCOMP")


@dataclass(frozen=True, slots=True)
class AuditText:
    """The text of one source, and its name as the summary shows it."""

    source: str
    text: str


def _command(argv: list[str], what: str, hint: str) -> str:
    """The output of ARGV; AuditSourceError (one sentence) when it is missing or fails."""
    try:
        p = subprocess.run(
            argv,
            capture_output=True,
            timeout=_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError:
        raise AuditSourceError(f"{what}: {argv[0]} is not installed ({hint})") from None
    except subprocess.TimeoutExpired:
        raise AuditSourceError(f"{what}: {argv[0]} did not finish in {_TIMEOUT} s") from None
    except OSError as err:
        raise AuditSourceError(f"{what}: cannot run {argv[0]} ({err.strerror})") from None
    if p.returncode != 0:
        said = p.stderr.decode("utf-8", "replace").strip().splitlines()
        why = said[-1] if said else f"exit status {p.returncode}"
        raise AuditSourceError(f"{what}: {argv[0]} failed: {why} ({hint})")
    return p.stdout.decode("utf-8", "surrogateescape")


def _dmesg() -> str:
    return _command(
        ["dmesg"],
        "cannot read the kernel log",
        "reading it needs root where kernel.dmesg_restrict is 1; or use --from journal|FILE",
    )


def _journal(since: float | None) -> str:
    argv = ["journalctl", "-k", "-q", "--no-pager", "-o", "short-unix"]
    if since is not None:
        argv += ["--since", f"@{math.floor(since)}"]
    return _command(
        argv, "cannot read the journal", "use --from dmesg, or --from FILE for an audit.log"
    )


def _file(path: str) -> str:
    if path == "-":
        raw = sys.stdin.buffer.read(_LIMIT + 1)
        if len(raw) > _LIMIT:
            raise AuditSourceError("standard input holds more than 256 MiB of audit log")
    else:
        raw = files.read_bytes_bounded(path, _LIMIT, "an audit log", AuditSourceError)
    return raw.decode("utf-8", "surrogateescape")


def _one(source: str, since: float | None) -> AuditText:
    if source == "dmesg":
        return AuditText("dmesg", _dmesg())
    if source == "journal":
        return AuditText("the journal", _journal(since))
    return AuditText("standard input" if source == "-" else source, _file(source))


def read(source: str | None, since: float | None = None) -> AuditText:
    """The text of SOURCE (``dmesg``, ``journal``, a file, ``-``), or of the first automatic one.

    Automatically: the first of dmesg, the journal and audit.log that holds a
    seccomp record, else the first that could be read; AuditSourceError naming
    why each failed when none could.
    """
    if source is not None:
        return _one(source, since)
    readable: list[AuditText] = []
    failed: list[str] = []
    for candidate in AUTOMATIC:
        try:
            got = _one(candidate, since)
        except SysphaseError as err:
            failed.append(str(err))
            continue
        if any(m in got.text for m in _MARKERS):
            return got
        readable.append(got)
    if readable:
        return readable[0]
    raise AuditSourceError("no audit log could be read: " + "; ".join(failed))


def build_ids(paths: Iterable[str]) -> dict[str, str]:
    """{path: its executable's build-id} for each of PATHS that is a readable ELF file with one."""
    found: dict[str, str] = {}
    for path in set(paths):
        if not path.startswith("/"):
            continue
        try:
            data = files.read_bytes_bounded(path, files.BINARY_LIMIT, "a program")
        except SysphaseError:
            continue  # gone, replaced or unreadable: known by its path only
        build_id = elf.build_id(data)
        if build_id:
            found[path] = build_id
    return found
