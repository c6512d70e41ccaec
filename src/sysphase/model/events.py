"""One traced system call, as the C core hands it to Python in live mode.

The C core batches these (no Python runs per ptrace stop in counting mode);
in live mode each completed call becomes one SyscallEvent.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Architecture names used everywhere in sysphase (the C core reports the
#: AUDIT_ARCH value; sysphase._host.tracer maps it to one of these).
X86_64 = "x86_64"
I386 = "i386"
X32 = "x32"
AARCH64 = "aarch64"

#: Argument kinds the C core understands when copying tracee memory
#: (see ArgKind table in sysphase.report.decode.arg_kinds).
ARG_PLAIN = 0  # an integer, nothing copied
ARG_CSTRING = 1  # NUL-terminated string read at syscall entry (paths, names)
ARG_BUF_IN = 2  # buffer read at entry; its length is another argument
ARG_BUF_OUT = 3  # buffer read at exit; its length is the return value
ARG_STRV = 4  # NULL-terminated array of strings read at entry (argv/envp)


@dataclass(frozen=True, slots=True)
class SyscallEvent:
    """A system call of one thread, from entry to exit.

    args are the six raw register values as unsigned 64-bit integers.
    retval is the signed return value, or None when the call did not return
    (exit_group, or the thread died inside the call).
    data holds, for each argument the C core copied, the bytes it read
    (at most a small prefix; strings without their NUL), else None.
    For ARG_STRV the bytes are the strings joined by NUL bytes.
    """

    pid: int
    arch: str
    nr: int
    args: tuple[int, int, int, int, int, int]
    retval: int | None
    data: tuple[bytes | None, bytes | None, bytes | None, bytes | None, bytes | None, bytes | None]
    time_ns: int = 0

    @property
    def is_error(self) -> bool:
        """True when the kernel returned -errno (the Linux -4095..-1 range)."""
        return self.retval is not None and -4095 <= self.retval <= -1
