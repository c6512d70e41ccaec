"""The output formats of `sysphase policy --format`: one module per format.

Every module has ``render(policy, bpf=None)``. ``bpf`` is the compiled filter
of each phase of the root program (libseccomp's output, made by the caller:
rendering stays pure); only the formats :func:`needs_bpf` names use it.
``bpf`` returns bytes, every other format text.
docs/formats/policy-formats.md describes each format.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final, Protocol

from sysphase.errors import UsageError
from sysphase.policy.formats import bpf, c, c_bpf, k8s, native, oci, systemd
from sysphase.policy.ir import Policy

__all__ = ["FORMATS", "SUFFIXES", "Renderer", "is_binary", "needs_bpf", "render"]


class Renderer(Protocol):
    def __call__(self, policy: Policy, bpf: Sequence[bytes] | None = None) -> str | bytes: ...


#: Format name (as `--format` takes it) -> its render function.
FORMATS: Final[Mapping[str, Renderer]] = {
    "sysphase": native.render,
    "oci": oci.render,
    "k8s": k8s.render,
    "systemd": systemd.render,
    "c": c.render,
    "c-bpf": c_bpf.render,
    "bpf": bpf.render,
}

#: A usual file name suffix per format.
SUFFIXES: Final[Mapping[str, str]] = {
    "sysphase": ".json",
    "oci": ".json",
    "k8s": ".yaml",
    "systemd": ".conf",
    "c": ".c",
    "c-bpf": ".c",
    "bpf": ".bpf",
}

_NEEDS_BPF: Final = frozenset({"c-bpf", "bpf"})


def _check(name: str) -> None:
    if name not in FORMATS:
        raise UsageError(f"unknown policy format {name!r} (known: {', '.join(FORMATS)})")


def needs_bpf(name: str) -> bool:
    """Whether the format renders compiled filters (the caller compiles every phase first)."""
    _check(name)
    return name in _NEEDS_BPF


def is_binary(name: str) -> bool:
    """Whether the format's output is bytes rather than text."""
    _check(name)
    return name == "bpf"


def render(name: str, policy: Policy, bpf: Sequence[bytes] | None = None) -> str | bytes:
    """Render ``policy`` in format ``name``; UsageError for an unknown format."""
    _check(name)
    return FORMATS[name](policy, bpf)
