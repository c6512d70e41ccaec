"""File I/O for profiles: atomic writes and reads that name the file in their errors."""

from __future__ import annotations

import os
import sys
import tempfile

from sysphase.errors import PolicyInvalid, ProfileInvalid, UsageError
from sysphase.model import profile as prof
from sysphase.policy import codec
from sysphase.policy.ir import Policy


def write_atomic(path: str, text: str) -> None:
    """Write text to path through a temporary file and a rename: never half-written."""
    if path == "-":
        print(text, end="" if text.endswith("\n") else "\n")
        return
    write_bytes_atomic(path, (text if text.endswith("\n") else text + "\n").encode())


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write bytes to path (or stdout for '-') through a temporary file and a rename."""
    if path == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".sysphase-", dir=directory)
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror}") from err
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_profile(path: str) -> prof.Profile:
    """Decode a profile file; a missing or unreadable file is one sentence naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ProfileInvalid(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ProfileInvalid(f"{path}: not a text file (expected a JSON profile)") from None
    except OSError as err:
        raise ProfileInvalid(f"{path}: {err.strerror}") from err
    return prof.decode(text, path)


def read_policy(path: str) -> tuple[Policy, bytes]:
    """Decode a policy file, and its raw bytes; a bad file is one sentence naming it."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise PolicyInvalid(f"{path}: no such file") from None
    except OSError as err:
        raise PolicyInvalid(f"{path}: cannot read it ({err.strerror})") from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyInvalid(f"{path}: not a text file (expected a JSON policy)") from None
    return codec.decode(text, path), raw
