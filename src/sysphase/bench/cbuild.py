"""Compile the benchmark's small C programs once, into a cache folder.

gcc runs with fixed flags and a scrubbed environment (:func:`gcc_env`, which
tests/fixtures/build.py uses too: no ``CFLAGS``, sanitizer runtimes or extra
paths leak in), so a sanitizer build of the C core cannot change what is measured.
A binary is named by a hash of its source and flags, so a change rebuilds
it, and is renamed into place, so concurrent runs can share the folder.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sysphase.bench.errors import BenchError

__all__ = ["CFLAGS", "cache_dir", "compile_cached", "gcc_env"]

CFLAGS = ("-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror")

_SCRUBBED_ENV = (
    "CFLAGS",
    "CPPFLAGS",
    "CXXFLAGS",
    "LDFLAGS",
    "LIBS",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "CPATH",
    "C_INCLUDE_PATH",
    "LIBRARY_PATH",
    "GCC_EXEC_PREFIX",
    "COMPILER_PATH",
    "ASAN_OPTIONS",
    "UBSAN_OPTIONS",
    "LSAN_OPTIONS",
)


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/sysphase/bench``, by default ``~/.cache/sysphase/bench``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sysphase" / "bench"


def gcc_env() -> dict[str, str]:
    """This environment without what could change how gcc builds or runs; messages in English."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["LC_ALL"] = "C"
    return env


def _writable_dir(preferred: Path) -> Path:
    try:
        preferred.mkdir(parents=True, exist_ok=True)
        if os.access(preferred, os.W_OK | os.X_OK):
            return preferred
    except OSError:
        pass
    fallback = Path(tempfile.mkdtemp(prefix="sysphase-bench-"))
    atexit.register(shutil.rmtree, fallback, ignore_errors=True)
    return fallback


def compile_cached(
    stem: str, source: str, what: str, *, gcc: str = "gcc", outdir: Path | None = None
) -> Path:
    """Compile ``source`` (C) to ``OUTDIR/STEM-HASH`` unless already there; return its path.

    ``what`` names the program in errors ("the loop workload"). Raises
    :class:`BenchError` when gcc is missing or the build fails. ``outdir``
    defaults to :func:`cache_dir` (a temporary folder if that is not writable).
    """
    key = hashlib.sha256("\0".join((*CFLAGS, source)).encode()).hexdigest()[:16]
    folder = _writable_dir(outdir if outdir is not None else cache_dir())
    binary = folder / f"{stem}-{key}"
    if os.access(binary, os.X_OK):
        return binary
    gcc_path = shutil.which(gcc)
    if gcc_path is None:
        raise BenchError(f"cannot build {what}: the C compiler {gcc!r} is not on PATH")
    with tempfile.TemporaryDirectory(prefix=f".{stem}-", dir=folder) as tmp:
        c_file = Path(tmp) / f"{stem}.c"
        c_file.write_text(source, encoding="utf-8")
        out = Path(tmp) / stem
        proc = subprocess.run(
            [gcc_path, *CFLAGS, "-o", str(out), str(c_file)],
            env=gcc_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            first = next((ln for ln in proc.stderr.splitlines() if ln.strip()), "no message")
            raise BenchError(f"cannot build {what}: gcc exited {proc.returncode}: {first}")
        os.replace(out, binary)
    return binary
