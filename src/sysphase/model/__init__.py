"""Pure data model: syscall tables, events, the process tree and statistics.

Nothing in this package touches the operating system (no os, subprocess,
ctypes or sysphase._core imports); tests/unit/test_layering.py enforces it.
"""
