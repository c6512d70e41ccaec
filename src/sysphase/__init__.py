"""sysphase: trace a Linux program's system calls per phase, turn them into seccomp sandboxes.

The public API is small and grows with the project; see ARCHITECTURE.md.
"""

from sysphase.errors import SysphaseError

__all__ = ["SysphaseError", "__version__"]
__version__ = "0.1.0"
