"""A small explicit registry: names map to factories, nothing found by getattr.

Factories import their heavy modules when called, so listing or validating names
never loads torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from genlab.core.errors import GenlabError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, entries: dict[str, Callable[[], T]]):
        self.kind = kind
        self._entries = dict(entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def get(self, name: str) -> T:
        try:
            factory = self._entries[name]
        except KeyError:
            raise GenlabError(
                f"unknown {self.kind} {name!r}; valid: {', '.join(self._entries)}"
            ) from None
        return factory()
