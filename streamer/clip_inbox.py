"""A queue bounded in bytes whose producers never wait: what does not fit is refused at once."""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Inbox(Generic[T]):
    """Many producers, one consumer. ``offer`` counts an item's bytes against the bound and is refused
    when they do not fit; ``post`` (for the few small control items) always gets in."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._closed = False
        self._cond = threading.Condition()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def offer(self, item: T, nbytes: int) -> bool:
        with self._cond:
            if self._closed or self._bytes + nbytes > self.max_bytes:
                return False
            self._put(item, nbytes)
            return True

    def post(self, item: T) -> None:
        with self._cond:
            if not self._closed:
                self._put(item, 0)

    def close(self) -> None:
        """No more items; the consumer gets what is queued, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self) -> T | None:
        """The next item, waiting for one; None once closed and empty."""
        with self._cond:
            while not self._items and not self._closed:
                self._cond.wait()
            if not self._items:
                return None
            item, nbytes = self._items.popleft()
            self._bytes -= nbytes
            return item

    def _put(self, item: T, nbytes: int) -> None:
        self._items.append((item, nbytes))
        self._bytes += nbytes
        self._cond.notify()
