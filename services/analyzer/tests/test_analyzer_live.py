"""Bounded live buffers: partials may be dropped for a slow watcher, finals and alerts never."""

from __future__ import annotations

import asyncio

import pytest

from callscope_analyzer.live import Topic, WatcherTooSlowError


async def test_a_slow_watcher_loses_oldest_partials_first_never_finals() -> None:
    topic: Topic[str] = Topic(capacity=3, hard_limit=10)
    with topic.subscribe("call-1") as sub:
        topic.publish("call-1", "partial-1", droppable=True)
        topic.publish("call-1", "final-1")
        topic.publish("call-1", "partial-2", droppable=True)
        topic.publish("call-1", "alert-1")  # full: the oldest partial goes
        topic.publish("call-1", "final-2")  # full: the next partial goes
        got = [await sub.get() for _ in range(3)]
    assert got == ["final-1", "alert-1", "final-2"]
    assert sub.dropped == 2


async def test_a_partial_is_not_queued_when_only_undroppable_updates_fill_the_buffer() -> None:
    topic: Topic[str] = Topic(capacity=2, hard_limit=10)
    with topic.subscribe("c") as sub:
        topic.publish("c", "final-1")
        topic.publish("c", "final-2")
        topic.publish("c", "partial", droppable=True)
        topic.publish("c", "final-3")  # over capacity but under the hard limit: kept
        assert [await sub.get() for _ in range(3)] == ["final-1", "final-2", "final-3"]


async def test_a_hopelessly_slow_watcher_is_disconnected_not_unbounded() -> None:
    topic: Topic[int] = Topic(capacity=2, hard_limit=4)
    with topic.subscribe("c") as sub:
        for i in range(10):
            topic.publish("c", i)
        with pytest.raises(WatcherTooSlowError):
            await sub.get()


async def test_watchers_of_other_calls_see_nothing_and_unsubscribe_cleans_up() -> None:
    topic: Topic[str] = Topic()
    with topic.subscribe("a") as a, topic.subscribe("b") as b:
        assert topic.publish("a", "for-a") == 1
        assert await a.get() == "for-a"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(b.get(), 0.05)
    assert topic.watchers("a") == 0 and topic.publish("a", "nobody") == 0


async def test_get_wakes_up_when_an_update_arrives() -> None:
    topic: Topic[str] = Topic()
    with topic.subscribe("c") as sub:
        waiter = asyncio.create_task(sub.get())
        await asyncio.sleep(0)
        topic.publish("c", "hello")
        assert await asyncio.wait_for(waiter, 1) == "hello"
