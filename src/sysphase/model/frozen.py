"""FrozenMap: the immutable, hashable, key-ordered mapping the profile and policy models use.

Profiles and policies are frozen dataclasses compared with ``==`` (merge is
exactly associative and commutative, a decoded file equals what was
encoded); their maps must therefore be immutable, hashable and independent of
insertion order, which a plain dict is not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar

__all__ = ["FrozenMap"]

V = TypeVar("V", covariant=True)


class FrozenMap(Mapping[str, V]):
    """An immutable, hashable mapping with str keys that iterates in key order.

    Equal to any mapping with the same items; hashable when its values are.
    """

    __slots__ = ("_data",)

    def __init__(self, items: Mapping[str, V] | Iterable[tuple[str, V]] = ()) -> None:
        pairs = dict(items)
        self._data: dict[str, V] = {k: pairs[k] for k in sorted(pairs)}

    def __getitem__(self, key: str) -> V:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"
