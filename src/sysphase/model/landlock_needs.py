"""A phase's Landlock needs as a profile keeps them: rights per path, ports, bounded.

:class:`LandlockNeeds` is what ``record --paths`` saw one phase of one
process touch, in Landlock's rights (:mod:`sysphase.model.landlock_rights`):
per path the rights it needed, the directories the phase created, the TCP
ports it bound and connected to, whether it connected to an abstract unix
socket. A profile's phase holds one, or None when its runs were recorded
without ``--paths`` (unknown, never "nothing").

The bound: a phase keeps at most :data:`MAX_PATHS` paths. Beyond that, every
path is cut to its first N components, N the largest depth that leaves at
most :data:`MAX_PATHS` paths; the rights of the paths cut to the same
ancestor unite there, created directories deeper than N are dropped (their
rights are on the ancestor now) and ``cut_depth`` says N. Merging unites and
cuts again at the smaller of the inputs' depths (then as deep as the bound
allows), so it stays associative and commutative. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from sysphase.model.frozen import FrozenMap
from sysphase.model.landlock_rights import Needs, canonical

__all__ = ["MAX_PATHS", "LandlockNeeds", "depth", "freeze", "unite"]

#: The most paths one phase of one process keeps (docs/formats/profile.md).
MAX_PATHS: Final = 4096


def _no_paths() -> FrozenMap[tuple[str, ...]]:
    return FrozenMap()


@dataclass(frozen=True, slots=True)
class LandlockNeeds:
    """What one phase touched, in Landlock's terms (module doc).

    ``paths``: absolute path -> the file-system rights it needed, in bit
    order; ``created_dirs``: directories the phase created (sorted);
    ``bind_tcp``, ``connect_tcp``: TCP ports (sorted); ``abstract_unix``:
    it connected to an abstract unix socket; ``cut_depth``: None, or the
    depth the bound cut the paths to.
    """

    paths: FrozenMap[tuple[str, ...]] = field(default_factory=_no_paths)
    created_dirs: tuple[str, ...] = ()
    bind_tcp: tuple[int, ...] = ()
    connect_tcp: tuple[int, ...] = ()
    abstract_unix: bool = False
    cut_depth: int | None = None


def depth(path: str) -> int:
    """The number of components of a normal absolute path ("/" has 0)."""
    return 0 if path == "/" else path.count("/")


def _cut(path: str, d: int) -> str:
    return path if depth(path) <= d else "/" + "/".join(path.split("/")[1 : d + 1])


def _cut_all(paths: Mapping[str, Iterable[str]], d: int) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path, rights in paths.items():
        out.setdefault(_cut(path, d), set()).update(rights)
    return out


def _fit(
    paths: Mapping[str, Iterable[str]], cut: int | None
) -> tuple[dict[str, set[str]], int | None]:
    """The paths cut to ``cut`` (None: not), then as deep as :data:`MAX_PATHS` allows."""
    have = {p: set(r) for p, r in paths.items()} if cut is None else _cut_all(paths, cut)
    if len(have) <= MAX_PATHS:
        return have, cut
    d = max(depth(p) for p in have) - 1
    while d > 0 and len({_cut(p, d) for p in have}) > MAX_PATHS:
        d -= 1
    return _cut_all(have, d), d


def _build(
    paths: Mapping[str, Iterable[str]],
    created: Iterable[str],
    bind: Iterable[int],
    connect: Iterable[int],
    abstract: bool,
    cut: int | None,
) -> LandlockNeeds:
    fitted, cut = _fit(paths, cut)
    kept = sorted({c for c in created if cut is None or depth(c) <= cut})
    return LandlockNeeds(
        FrozenMap((p, canonical(r)) for p, r in fitted.items() if r),
        tuple(kept),
        tuple(sorted(set(bind))),
        tuple(sorted(set(connect))),
        abstract,
        cut,
    )


def freeze(needs: Needs) -> LandlockNeeds:
    """A recorded (node, phase)'s needs, bounded (module doc)."""
    return _build(
        needs.paths,
        needs.created_dirs,
        needs.bind_tcp,
        needs.connect_tcp,
        needs.abstract_unix,
        None,
    )


def unite(items: Iterable[LandlockNeeds | None]) -> LandlockNeeds | None:
    """The union of phases' needs; None (not recorded) adds nothing, and all None is None.

    Paths' rights, created directories and ports unite; the result is cut at
    the smallest input ``cut_depth``, then bounded again. Associative and
    commutative.
    """
    given = [x for x in items if x is not None]
    if not given:
        return None
    paths: dict[str, set[str]] = {}
    for x in given:
        for path, rights in x.paths.items():
            paths.setdefault(path, set()).update(rights)
    cuts = [x.cut_depth for x in given if x.cut_depth is not None]
    return _build(
        paths,
        (c for x in given for c in x.created_dirs),
        (p for x in given for p in x.bind_tcp),
        (p for x in given for p in x.connect_tcp),
        any(x.abstract_unix for x in given),
        min(cuts) if cuts else None,
    )
