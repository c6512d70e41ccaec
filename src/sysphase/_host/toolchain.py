"""Compiling C: find the compiler, run it in a cleaned environment, one sentence when it cannot.

Every C build sysphase makes goes through here: ``sysphase patch`` (the guard
library, gcc; and patchelf), the eBPF backend (``counts.bpf.c``, clang), the
benchmark's C programs (gcc, :mod:`sysphase.bench.cbuild`) and the test
fixtures (``tests/fixtures/build.py``).

The compiler runs with :func:`clean_env`: this environment less every
variable that changes what a compiler or linker builds (``CFLAGS``,
``CPATH``, ``LIBRARY_PATH``, ``LD_RUN_PATH``, ``GCC_EXEC_PREFIX``,
``CCC_OVERRIDE_OPTIONS``...), writes beside it (``DEPENDENCIES_OUTPUT``) or
runs inside it (``LD_PRELOAD``, ``LD_LIBRARY_PATH``, a sanitizer build's
``*SAN_OPTIONS``), with ``LC_ALL=C`` for English messages. So a sanitizer
build of the C core, or a developer's ``CFLAGS``, never changes what is built.

A :class:`Build` names who builds what for; its sentences are the same for
every caller::

    the eBPF backend needs clang to build its BPF program (apt-get install clang libbpf-dev)
    patch could not build the guard library: gcc: policy.c:3:1: error: ...
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["PACKAGES", "SCRUBBED_ENV", "Build", "clean_env"]

#: Variables a compiler never sees (besides every ``*SAN_OPTIONS``).
SCRUBBED_ENV: Final = frozenset(
    {
        # flags and libraries a build system would pass on
        "CFLAGS",
        "CPPFLAGS",
        "CXXFLAGS",
        "LDFLAGS",
        "LIBS",
        # where gcc and clang look for headers, libraries and their own parts
        "CPATH",
        "C_INCLUDE_PATH",
        "CPLUS_INCLUDE_PATH",
        "OBJC_INCLUDE_PATH",
        "LIBRARY_PATH",
        "GCC_EXEC_PREFIX",
        "COMPILER_PATH",
        "CCC_OVERRIDE_OPTIONS",
        # what the linker writes into the output, files the compiler writes beside it
        "LD_RUN_PATH",
        "DEPENDENCIES_OUTPUT",
        "SUNPRO_DEPENDENCIES",
        # what runs inside the compiler's processes
        "LD_PRELOAD",
        "LD_AUDIT",
        "LD_LIBRARY_PATH",
    }
)

#: The Debian package of each tool, for the install hint.
PACKAGES: Final[Mapping[str, str]] = {"gcc": "gcc", "clang": "clang", "patchelf": "patchelf"}


def clean_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) without :data:`SCRUBBED_ENV`, ``*SAN_OPTIONS``.

    ``LC_ALL=C``: the compiler's messages, quoted in error sentences, are in English.
    """
    source = os.environ if environ is None else environ
    env = {
        k: v for k, v in source.items() if k not in SCRUBBED_ENV and not k.endswith("SAN_OPTIONS")
    }
    env["LC_ALL"] = "C"
    return env


def _detail(stderr: bytes, returncode: int, lines: int) -> str:
    text = stderr.decode("utf-8", "replace")
    said = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(said[:lines]) if said else f"exit status {returncode}"


@dataclass(frozen=True, slots=True)
class Build:
    """Who compiles, for what, and the error it raises: the words of its sentences.

    ``who`` ("the eBPF backend"), ``purpose`` ("build its BPF program"),
    ``error`` the exception type of the caller's layer, ``hint`` the install
    command for every missing piece (default: ``apt-get install`` the tool's
    package, :data:`PACKAGES`).
    """

    who: str
    purpose: str
    error: Callable[[str], Exception]
    hint: str | None = None

    def missing(
        self, what: str, package: str | None = None, purpose: str | None = None
    ) -> Exception:
        """The one sentence for a missing tool or header: ``WHO needs WHAT to PURPOSE (HINT)``."""
        hint = self.hint or f"apt-get install {package or what}"
        return self.error(f"{self.who} needs {what} to {purpose or self.purpose} ({hint})")

    def tool(self, *names: str, purpose: str | None = None) -> str:
        """The path of the first of ``names`` on PATH (a compiler, patchelf); else the sentence."""
        for name in names:
            path = shutil.which(name)
            if path is not None:
                return path
        packages = " ".join(PACKAGES.get(n, n) for n in names[:1])
        raise self.missing(" or ".join(names), packages, purpose)

    def header(self, path: str, what: str) -> None:
        """The sentence unless the header ``path`` is installed (``what`` names it)."""
        if not os.path.exists(path):
            raise self.missing(f"{what} ({path})")

    def run(self, argv: Sequence[str], *, detail_lines: int = 3) -> bytes:
        """Run a compiler (``argv[0]``, a path from :meth:`tool`) cleaned; its standard output.

        Fails with ``WHO could not PURPOSE: COMPILER: <its first error lines>``.
        """
        proc = subprocess.run(
            list(argv),
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise self.failed(
                os.path.basename(argv[0]), _detail(proc.stderr, proc.returncode, detail_lines)
            )
        return proc.stdout

    def failed(self, tool: str, detail: str) -> Exception:
        """The sentence for a build that failed: ``WHO could not PURPOSE: TOOL: DETAIL``."""
        return self.error(f"{self.who} could not {self.purpose}: {tool}: {detail}")
