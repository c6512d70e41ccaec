"""Compile the benchmark's small C programs once, into a cache folder.

gcc runs with fixed flags through :mod:`sysphase._host.toolchain` (the
environment every C build of sysphase gets: no ``CFLAGS``, sanitizer
runtimes or extra paths leak in), so a sanitizer build of the C core cannot
change what is measured. A binary is named by a hash of its source and
flags, so a change rebuilds it, and is renamed into place, so concurrent
runs can share the folder.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from sysphase._host import toolchain
from sysphase.bench.errors import BenchError

__all__ = ["CFLAGS", "cache_dir", "compile_cached"]

CFLAGS = ("-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror")


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/sysphase/bench``, by default ``~/.cache/sysphase/bench``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sysphase" / "bench"


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
    :class:`BenchError` when gcc is missing ("the benchmark needs gcc to build
    the loop workload (apt-get install gcc)") or the build fails. ``outdir``
    defaults to :func:`cache_dir` (a temporary folder if that is not writable).
    """
    key = hashlib.sha256("\0".join((*CFLAGS, source)).encode()).hexdigest()[:16]
    folder = _writable_dir(outdir if outdir is not None else cache_dir())
    binary = folder / f"{stem}-{key}"
    if os.access(binary, os.X_OK):
        return binary
    build = toolchain.Build("the benchmark", f"build {what}", BenchError)
    gcc_path = build.tool(gcc)
    with tempfile.TemporaryDirectory(prefix=f".{stem}-", dir=folder) as tmp:
        c_file = Path(tmp) / f"{stem}.c"
        c_file.write_text(source, encoding="utf-8")
        out = Path(tmp) / stem
        build.run([gcc_path, *CFLAGS, "-o", str(out), str(c_file)], detail_lines=1)
        os.replace(out, binary)
    return binary
