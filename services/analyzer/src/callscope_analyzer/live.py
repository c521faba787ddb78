"""Live fan-out of call updates to gRPC watchers, with bounded buffers per watcher.

A slow client must not slow the analyzer nor grow memory without bound: when its buffer is
full, the oldest *droppable* update (a partial transcript) is dropped; finals, analyses and
alerts are never dropped. A client so slow that its buffer is full of updates that cannot be
dropped is disconnected (it can reconnect and replay from the database).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


class WatcherTooSlowError(Exception):
    pass


@dataclass
class _Item(Generic[T]):
    update: T
    droppable: bool


@dataclass(eq=False)  # identity semantics: subscriptions live in sets
class Subscription(Generic[T]):
    """One watcher's buffer. `get()` waits for the next update."""

    capacity: int
    hard_limit: int
    _items: deque[_Item[T]] = field(default_factory=deque)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0
    too_slow: bool = False

    def put(self, update: T, droppable: bool) -> None:
        if self.too_slow:
            return
        if len(self._items) >= self.capacity:
            victim = next((i for i in self._items if i.droppable), None)
            if victim is not None:
                self._items.remove(victim)
                self.dropped += 1
            elif droppable:
                self.dropped += 1
                return
            elif len(self._items) >= self.hard_limit:
                self.too_slow = True
                self._items.clear()
        if not self.too_slow:
            self._items.append(_Item(update, droppable))
        self._ready.set()

    async def get(self) -> T:
        while not self._items:
            if self.too_slow:
                raise WatcherTooSlowError("watcher too slow: buffer of undroppable updates full")
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft().update


class Topic(Generic[T]):
    """Subscribers per key (a call id, a queue)."""

    def __init__(self, capacity: int = 256, hard_limit: int = 4096) -> None:
        self._subscribers: dict[str, set[Subscription[T]]] = {}
        self._capacity = capacity
        self._hard_limit = hard_limit

    @contextmanager
    def subscribe(self, key: str) -> Iterator[Subscription[T]]:
        subscription: Subscription[T] = Subscription(self._capacity, self._hard_limit)
        self._subscribers.setdefault(key, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(key)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[key]

    def publish(self, key: str, update: T, *, droppable: bool = False) -> int:
        subscribers = self._subscribers.get(key, ())
        for subscription in subscribers:
            subscription.put(update, droppable)
        return len(subscribers)

    def watchers(self, key: str) -> int:
        return len(self._subscribers.get(key, ()))
