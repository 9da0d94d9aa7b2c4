"""The unordered set beanstalkd keeps tubes, watch lists and waiting connections in.

beanstalkd stores these in an array that deletes by moving the last item into the
freed slot, and hands out waiting connections from a rotating cursor. Both leak into
what clients see: the order of ``list-tubes`` and ``list-tubes-watched`` after a tube
goes away, and which of several blocked ``reserve`` calls gets the next job. This
class reproduces those orders exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["SwapSet"]


class SwapSet(Generic[T]):
    """A list with swap-with-last deletion and beanstalkd's rotating ``take``."""

    __slots__ = ("_cursor", "items")

    def __init__(self) -> None:
        self.items: list[T] = []
        self._cursor = 0

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __contains__(self, item: object) -> bool:
        return item in self.items

    def append(self, item: T) -> None:
        self.items.append(item)

    def delete_at(self, index: int) -> T:
        """Remove the item at ``index``; the last item takes its place."""
        items = self.items
        item = items[index]
        last = items.pop()
        if index < len(items):
            items[index] = last
        return item

    def remove(self, item: T) -> bool:
        """Remove ``item`` if present (by identity or equality); report whether it was."""
        try:
            index = self.items.index(item)
        except ValueError:
            return False
        self.delete_at(index)
        return True

    def take(self) -> T | None:
        """Remove and return the item under the rotating cursor, as beanstalkd does.

        This is mostly, but not always, the oldest item: four connections blocked in
        ``reserve`` receive four new jobs in the order 1, 2, 4, 3.
        """
        items = self.items
        if not items:
            return None
        self._cursor %= len(items)
        item = self.delete_at(self._cursor)
        self._cursor += 1
        return item
