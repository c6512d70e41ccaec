"""Find a program as a shell would: the one place sysphase resolves a command's argv[0]."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping

from sysphase.errors import ProgramNotExecutable, ProgramNotFound

__all__ = ["resolve_program"]


def resolve_program(name: str, env: Mapping[str, str]) -> str:
    """Find NAME like a shell does (PATH search when it has no slash).

    Raises ProgramNotFound (127) or ProgramNotExecutable (126), naming the program.
    """
    if "/" in name:
        candidates = [name]
    else:
        path = env.get("PATH", os.defpath)
        candidates = [os.path.join(d or ".", name) for d in path.split(os.pathsep)]
    found_not_exec = None
    for cand in candidates:
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            found_not_exec = found_not_exec or cand
            continue
        if os.access(cand, os.X_OK):
            return cand
        found_not_exec = found_not_exec or cand
    if found_not_exec is not None:
        raise ProgramNotExecutable(f"{found_not_exec}: permission denied (not an executable file)")
    raise ProgramNotFound(f"{name}: command not found")
