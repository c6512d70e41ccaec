"""A small ctypes binding of libbpf (``libbpf.so.1``): load, attach, map access; permissions.

:class:`Programs` opens a BPF object from memory (the bytes
:func:`sysphase._host.ebpf_object.read_object` read from the checked file,
never the path again), loads it (field offsets relocated against the
kernel's BTF), attaches every program and gives the maps by name. libbpf's
own warnings are kept (the last 20) to explain a failure in one sentence.

Loading tracing programs needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN):
:func:`missing_caps` names what this process lacks, :func:`denied` is the
:class:`~sysphase.errors.BackendUnavailable` sentence for it.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Final, TypeVar

from sysphase.errors import BackendUnavailable, TracerError

from .ebpf_object import read_object

__all__ = ["LIBRARY", "Programs", "denied", "libbpf", "libc", "missing_caps"]

LIBRARY: Final = "libbpf.so.1"

# <linux/capability.h>
CAP_SYS_ADMIN: Final = 21
CAP_PERFMON: Final = 38
CAP_BPF: Final = 39

#: A map key: an integer or a structure.
_Key = TypeVar("_Key", bound="ctypes._SimpleCData[int] | ctypes.Structure")


# --- permissions ----------------------------------------------------------------------------


def _effective_caps() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def missing_caps() -> list[str]:
    """Names of the capabilities this process lacks to load tracing programs.

    The kernel's bpf_capable() and perfmon_capable() accept CAP_SYS_ADMIN for either.
    """
    caps = _effective_caps()
    if caps >> CAP_SYS_ADMIN & 1:
        return []
    return [
        name
        for cap, name in ((CAP_BPF, "CAP_BPF"), (CAP_PERFMON, "CAP_PERFMON"))
        if not caps >> cap & 1
    ]


def denied(detail: str = "") -> BackendUnavailable:
    """The sentence for a backend the kernel does not permit here (naming what is missing)."""
    missing = missing_caps() or ["CAP_BPF", "CAP_PERFMON"]
    return BackendUnavailable(
        "the eBPF backend is not permitted here: it needs root or the "
        + " and ".join(missing)
        + " capabilit"
        + ("ies" if len(missing) > 1 else "y")
        + (f" ({detail})" if detail else "")
    )


# --- the library ----------------------------------------------------------------------------

_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_messages: list[str] = []


@cache
def libc() -> ctypes.CDLL:
    """The C library (vsnprintf for libbpf's messages, prctl for the run)."""
    return ctypes.CDLL(None, use_errno=True)


def _on_print(level: int, fmt: bytes | None, args: int | None) -> int:
    buf = ctypes.create_string_buffer(1024)
    libc().vsnprintf(buf, len(buf), fmt, ctypes.c_void_p(args))
    text = buf.value.decode(errors="replace").strip()
    if text and level <= 1:  # LIBBPF_WARN, LIBBPF_INFO
        _messages.append(text)
        del _messages[:-20]
    return 0


_print_callback = _PRINT_FN(_on_print)


@cache
def libbpf() -> ctypes.CDLL:
    """libbpf with the prototypes used here; BackendUnavailable if it is not installed."""
    try:
        lib = ctypes.CDLL(LIBRARY, use_errno=True)
    except OSError as err:
        raise BackendUnavailable(
            f"the eBPF backend needs libbpf ({LIBRARY}: {err}; apt-get install libbpf1)"
        ) from None
    vp, cp, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    for name, res, args in (
        ("libbpf_set_print", vp, [vp]),
        ("bpf_object__open_mem", vp, [vp, ctypes.c_size_t, vp]),
        ("bpf_object__load", i, [vp]),
        ("bpf_object__close", None, [vp]),
        ("bpf_object__next_program", vp, [vp, vp]),
        ("bpf_object__find_map_fd_by_name", i, [vp, cp]),
        ("bpf_program__name", cp, [vp]),
        ("bpf_program__attach", vp, [vp]),
        ("bpf_link__destroy", i, [vp]),
        ("bpf_map_update_elem", i, [i, vp, vp, ctypes.c_uint64]),
        ("bpf_map_lookup_elem", i, [i, vp, vp]),
        ("bpf_map_get_next_key", i, [i, vp, vp]),
    ):
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    lib.libbpf_set_print(ctypes.cast(_print_callback, ctypes.c_void_p))
    return lib


def _libbpf_says() -> str:
    """The last relevant libbpf message, for an error sentence."""
    for text in reversed(_messages):
        if "failed" in text or "error" in text.lower():
            return text.removeprefix("libbpf: ")
    return _messages[-1].removeprefix("libbpf: ") if _messages else ""


class _OpenOpts(ctypes.Structure):
    """The start of libbpf's ``struct bpf_object_open_opts`` (``sz`` says how much is given)."""

    _fields_ = (("sz", ctypes.c_size_t), ("object_name", ctypes.c_char_p))


# --- a loaded object ------------------------------------------------------------------------


class Programs:
    """The loaded and attached BPF object; map access by name.

    The object is loaded from memory (``bpf_object__open_mem``): the bytes
    :func:`read_object` read from the checked file, never the path again.
    """

    def __init__(self, path: Path, maps: tuple[str, ...]) -> None:
        self.lib = libbpf()
        self.links: list[int] = []
        data = read_object(path)
        # libbpf reads the image until the object is loaded: it lives as long as the object
        self.image = (ctypes.c_char * len(data)).from_buffer_copy(data)
        self.opts = _OpenOpts(ctypes.sizeof(_OpenOpts), b"counts")
        _messages.clear()
        obj = self.lib.bpf_object__open_mem(
            ctypes.addressof(self.image), len(data), ctypes.byref(self.opts)
        )
        if not obj:
            err = ctypes.get_errno()
            raise TracerError(f"libbpf could not open {path}: {os.strerror(err)}")
        self.obj: int = obj
        try:
            self._load_and_attach()
            self.fds = {
                name: int(self.lib.bpf_object__find_map_fd_by_name(obj, name.encode()))
                for name in maps
            }
        except BaseException:
            self.close()
            raise

    def _load_and_attach(self) -> None:
        rc = self.lib.bpf_object__load(self.obj)
        if rc < 0:
            self._fail("load the BPF program", -rc)
        prog = self.lib.bpf_object__next_program(self.obj, None)
        while prog:
            link = self.lib.bpf_program__attach(prog)
            if not link:
                name = os.fsdecode(self.lib.bpf_program__name(prog) or b"?")
                self._fail(f"attach {name}", ctypes.get_errno())
            self.links.append(link)
            prog = self.lib.bpf_object__next_program(self.obj, prog)

    def _fail(self, what: str, err: int) -> None:
        said = _libbpf_says()
        if err in (errno.EPERM, errno.EACCES):
            raise denied(f"the kernel refused to {what}: {os.strerror(err)}")
        raise TracerError(
            f"the eBPF backend could not {what}: {os.strerror(err)}"
            + (f" ({said})" if said else "")
        )

    def close(self) -> None:
        """Detach every program and close the object (its maps go with it)."""
        for link in self.links:
            self.lib.bpf_link__destroy(link)
        self.links = []
        if self.obj:
            self.lib.bpf_object__close(self.obj)
            self.obj = 0

    def update(self, name: str, key: ctypes._CData, value: ctypes._CData) -> None:
        """Set ``key`` to ``value`` in map ``name``; TracerError if the kernel refuses."""
        rc = self.lib.bpf_map_update_elem(self.fds[name], ctypes.byref(key), ctypes.byref(value), 0)
        if rc < 0:
            raise TracerError(f"bpf map update of {name} failed: {os.strerror(-rc)}")

    def lookup(self, name: str, key: ctypes._CData, value: ctypes._CData) -> bool:
        """Read ``key`` of map ``name`` into ``value``; whether it was there."""
        rc = self.lib.bpf_map_lookup_elem(self.fds[name], ctypes.byref(key), ctypes.byref(value))
        return bool(rc == 0)

    def keys(self, name: str, key_type: type[_Key]) -> Iterator[_Key]:
        """Every key of a hash map (a snapshot walk; entries may come and go meanwhile)."""
        prev: _Key | None = None
        while True:
            nxt = key_type()
            rc = self.lib.bpf_map_get_next_key(
                self.fds[name], None if prev is None else ctypes.byref(prev), ctypes.byref(nxt)
            )
            if rc < 0:
                return
            yield nxt
            prev = nxt

    def stat(self, index: int) -> int:
        """Entry ``index`` of the ``stats`` array map (0 when it cannot be read)."""
        value = ctypes.c_uint64()
        return value.value if self.lookup("stats", ctypes.c_uint32(index), value) else 0
