"""Live feeds between the analyzer's gRPC streams and the browsers.

FloorHub: ONE upstream WatchFloor (every queue) for the whole gateway, fanned out to every open
floor page with each user's queue filter applied here, on the server. It also knows which queue
each open alert belongs to, so an acknowledgement is checked before it is forwarded.

CallFeeds: one upstream WatchCall per (user, call) — the analyzer audits WatchCall under the
user's name, so two supervisors never share one — kept as an append-only, numbered log. A
browser that reconnects with Last-Event-ID gets exactly the entries after that number, so a
dropped connection resumes without a duplicate line. Updates the upstream repeats after a
reconnect (WatchCall replays what is stored) are dropped by their natural key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import grpc

from callscope.v1 import supervisor_pb2, supervisor_pb2_grpc
from callscope_core.supervision import call_update_key

from .domain.access import ConsoleUser
from .domain.floor import FloorEvent, FloorState
from .domain.views import View, call_update_event
from .telemetry import UPSTREAM_RECONNECTS

log = logging.getLogger(__name__)

RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.CANCELLED,
}
RESET = FloorEvent("reset", "", {})


class FloorHub:
    def __init__(
        self,
        supervisor: supervisor_pb2_grpc.SupervisorStub,
        channel_ready: Callable[[], Awaitable[None]],
        requested_by: str = "callscope-console",
        subscriber_buffer: int = 2000,
    ) -> None:
        self._supervisor = supervisor
        self._channel_ready = channel_ready
        self._requested_by = requested_by
        self._buffer = subscriber_buffer
        self.state = FloorState()
        self._subscribers: set[asyncio.Queue[FloorEvent | None]] = set()
        self.connected = asyncio.Event()

    def _broadcast(self, events: list[FloorEvent]) -> None:
        for queue in list(self._subscribers):
            try:
                for event in events:
                    queue.put_nowait(event)
            except asyncio.QueueFull:
                # A browser that cannot keep up is dropped; it reconnects and gets a snapshot.
                self._subscribers.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[FloorEvent | None]]:
        """The current floor as a snapshot (after a 'reset'), then every change."""
        queue: asyncio.Queue[FloorEvent | None] = asyncio.Queue(self._buffer)
        for event in [RESET, *self.state.snapshot()]:
            queue.put_nowait(event)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    async def run(self, stop: asyncio.Event) -> None:
        """Follow WatchFloor until `stop`, re-opening it (with a fresh snapshot) when it breaks."""
        delay = 0.5
        while not stop.is_set():
            try:
                stream = self._supervisor.WatchFloor(
                    supervisor_pb2.WatchFloorRequest(requested_by=self._requested_by)
                )
                stopper = asyncio.create_task(stop.wait())
                try:
                    # The analyzer sends nothing on an empty floor, so the stream itself gives
                    # no sign of life: connected means the channel is up and the call placed.
                    await asyncio.wait_for(self._channel_ready(), 10)
                    # A new stream starts with a new snapshot: forget the old floor.
                    self.state.clear()
                    self._broadcast([RESET])
                    self.connected.set()
                    delay = 0.5
                    async for update in _until(stream, stopper):
                        self._broadcast(self.state.apply(update))
                finally:
                    stopper.cancel()
                    stream.cancel()
            except grpc.aio.AioRpcError as exc:
                log.warning("WatchFloor broke (%s: %s)", exc.code().name, exc.details())
            except TimeoutError:
                log.warning("the analyzer cannot be reached for WatchFloor")
            self.connected.clear()
            if stop.is_set():
                break
            UPSTREAM_RECONNECTS.add(1, {"stream": "floor"})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 5.0)


async def _until(stream: AsyncIterator, stopper: asyncio.Task) -> AsyncIterator:  # type: ignore[type-arg]
    """Items of `stream` until it ends or `stopper` finishes."""
    iterator = stream.__aiter__()
    while True:
        step = asyncio.ensure_future(iterator.__anext__())
        done, _ = await asyncio.wait({step, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if step not in done:
            step.cancel()
            with contextlib.suppress(BaseException):
                await step
            return
        try:
            yield step.result()
        except StopAsyncIteration:
            return


class FeedError(Exception):
    """The upstream refused the call view: `status` is the HTTP status to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class CallFeed:
    call_id: str
    user: ConsoleUser
    purpose: str
    epoch: str = field(default_factory=lambda: secrets.token_hex(4))
    entries: list[tuple[str, View]] = field(default_factory=list)
    finished: bool = False
    error: FeedError | None = None
    followers: int = 0
    idle_since: float = field(default_factory=time.monotonic)
    _seen: set[tuple[object, ...]] = field(default_factory=set)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    task: asyncio.Task[None] | None = None

    def event_id(self, seq: int) -> str:
        return f"{self.epoch}-{seq}"

    def parse_last_event_id(self, last_event_id: str | None) -> int | None:
        """The number of the last entry the browser has, when it is from this feed."""
        epoch, _, seq = (last_event_id or "").partition("-")
        if epoch != self.epoch or not seq.isdigit():
            return None
        return min(int(seq), len(self.entries))

    async def append(self, update: supervisor_pb2.CallUpdate) -> None:
        key = call_update_key(update)
        if key is not None:
            if key in self._seen:
                return
            self._seen.add(key)
        event = call_update_event(update)
        if event is None:
            return
        async with self._changed:
            self.entries.append(event)
            self._changed.notify_all()

    async def finish(self, error: FeedError | None = None) -> None:
        async with self._changed:
            self.finished = True
            self.error = error
            self._changed.notify_all()

    async def follow(self, after: int) -> AsyncIterator[tuple[int, str, View]]:
        """Entries numbered after `after` (1-based numbers), waiting for new ones until the
        feed is finished."""
        position = after
        while True:
            async with self._changed:
                await self._changed.wait_for(
                    lambda at=position: len(self.entries) > at or self.finished
                )
                batch = self.entries[position:]
                finished = self.finished
            for offset, (name, data) in enumerate(batch, start=position + 1):
                yield offset, name, data
            position += len(batch)
            if finished and position >= len(self.entries):
                return


class CallFeeds:
    """The open call feeds, each following one upstream WatchCall."""

    def __init__(
        self,
        supervisor: supervisor_pb2_grpc.SupervisorStub,
        linger_s: float = 120.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._supervisor = supervisor
        self._linger_s = linger_s
        self._clock = clock
        self._feeds: dict[tuple[str, str], CallFeed] = {}

    def resumable(
        self, user: ConsoleUser, call_id: str, last_event_id: str | None
    ) -> tuple[CallFeed, int] | None:
        """The user's feed of this call and the position after `last_event_id`, when the
        browser reconnects to a feed the gateway still has."""
        self._expire()
        feed = self._feeds.get((user.name, call_id))
        if feed is None or feed.error is not None:
            return None
        after = feed.parse_last_event_id(last_event_id)
        return None if after is None else (feed, after)

    def open(self, user: ConsoleUser, call_id: str, purpose: str) -> CallFeed:
        """A new feed: a fresh visit always asks upstream again (so retention checks and
        audits every visit), while reconnects of the same visit resume from its log."""
        self._expire()
        key = (user.name, call_id)
        feed = CallFeed(call_id, user, purpose)
        feed.task = asyncio.create_task(self._follow_upstream(feed))
        replaced = self._feeds.get(key)
        self._feeds[key] = feed
        if replaced is not None and replaced.followers == 0:
            self._cancel(replaced)
        return feed

    @contextlib.contextmanager
    def attached(self, feed: CallFeed) -> Iterator[CallFeed]:
        feed.followers += 1
        try:
            yield feed
        finally:
            feed.followers -= 1
            feed.idle_since = self._clock()
            key = (feed.user.name, feed.call_id)
            if feed.followers == 0 and self._feeds.get(key) is not feed:
                self._cancel(feed)  # replaced by a newer visit and now unused

    @staticmethod
    def _cancel(feed: CallFeed) -> None:
        if feed.task is not None:
            feed.task.cancel()

    def _expire(self) -> None:
        now = self._clock()
        for key, feed in list(self._feeds.items()):
            if feed.followers == 0 and now - feed.idle_since > self._linger_s:
                self._cancel(feed)
                del self._feeds[key]

    async def close(self) -> None:
        for feed in self._feeds.values():
            if feed.task is not None:
                feed.task.cancel()
        self._feeds.clear()

    async def _follow_upstream(self, feed: CallFeed) -> None:
        delay = 0.5
        while True:
            request = supervisor_pb2.WatchCallRequest(
                call_id=feed.call_id, requested_by=feed.user.name, purpose=feed.purpose
            )
            try:
                async for update in self._supervisor.WatchCall(request):
                    if update.WhichOneof("update") == "call" and not feed.user.sees_queue(
                        update.call.queue
                    ):
                        # Checked before the feed was opened; re-checked on what upstream says.
                        await feed.finish(FeedError(404, "call not found"))
                        return
                    await feed.append(update)
                    delay = 0.5
                await feed.finish()
                return
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.NOT_FOUND:
                    await feed.finish(FeedError(404, exc.details() or "call not found"))
                    return
                if code == grpc.StatusCode.PERMISSION_DENIED:
                    await feed.finish(FeedError(403, exc.details() or "access refused"))
                    return
                if code not in RETRYABLE:
                    await feed.finish(FeedError(502, f"{code.name}: {exc.details()}"))
                    return
                log.warning("WatchCall %s broke (%s); resuming", feed.call_id, code.name)
            UPSTREAM_RECONNECTS.add(1, {"stream": "call"})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
