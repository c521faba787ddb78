"""Kafka plumbing: a producer and a consumer that speak protobuf with W3C trace context.

Delivery is at-least-once end to end: the consumer commits an offset only after its handler
has written its output, and handlers are idempotent on each message's natural key.
A record that cannot be decoded (or that a handler rejects as permanently invalid) is parked
on the dead-letter topic with the reason, and the consumer goes on. Any other handler error
is treated as transient (database or broker down) and retried with back-off, never skipped.

Observability lives here once for every service: a PRODUCER span per publish and a CONSUMER
span per record processed (messaging semantic conventions, W3C context in the headers), and
the metrics records published/processed/dead-lettered, publish and process durations, and
consumer lag per partition (highwater - position, refreshed as the consumer fetches).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import DefaultPartitioner, murmur2
from google.protobuf.message import Message
from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode

from callscope.v1 import events_pb2

from . import metrics
from .serialization import CONTENT_TYPE_HEADER, PayloadError, content_type_for, decode
from .settings import CoreSettings
from .topics import DEADLETTER, Topic
from .tracing import extract_context, inject_headers

log = logging.getLogger(__name__)
tracer = trace.get_tracer("callscope.kafka")

RECORDS_PUBLISHED = metrics.counter(metrics.KAFKA_RECORDS_PUBLISHED)
PUBLISH_DURATION = metrics.histogram(metrics.KAFKA_PUBLISH_DURATION)
RECORDS_PROCESSED = metrics.counter(metrics.KAFKA_RECORDS_PROCESSED)
RECORDS_DEAD_LETTERED = metrics.counter(metrics.KAFKA_RECORDS_DEAD_LETTERED)
PROCESS_DURATION = metrics.histogram(metrics.KAFKA_PROCESS_DURATION)
_CONSUMERS: weakref.WeakSet[EventConsumer] = weakref.WeakSet()


def _observe_lag(options: CallbackOptions) -> Iterable[Observation]:
    for consumer in list(_CONSUMERS):
        for (topic, partition), lag in list(consumer.lag.items()):
            yield Observation(
                lag,
                {"consumer_group": consumer.group_id, "topic": topic, "partition": partition},
            )


CONSUMER_LAG = metrics.observable(metrics.KAFKA_CONSUMER_LAG, _observe_lag)


class PermanentError(Exception):
    """The record itself is invalid: retrying cannot help, so it is dead-lettered."""


@dataclass(frozen=True)
class ConsumedEvent:
    topic: str
    partition: int
    offset: int
    key: str
    message: Message
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int


Handler = Callable[[ConsumedEvent], Awaitable[None]]


def client_options(settings: CoreSettings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        # aiokafka refuses TLS without a context; the default one verifies against the system
        # CAs, or against CALLSCOPE_KAFKA_SSL_CAFILE for a private CA (e.g. Strimzi's).
        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password is not None:
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


def stamp_meta(message: Message, producer: str, tenant: str) -> None:
    """Fill EventMeta (event id, time, producer) on messages that carry one and lack it."""
    if "meta" not in message.DESCRIPTOR.fields_by_name:
        return
    meta = message.meta  # type: ignore[attr-defined]
    if not meta.event_id:
        meta.event_id = str(uuid.uuid4())
    if not meta.HasField("occurred_at"):
        # FromNanoseconds, not GetCurrentTime: that one goes through a datetime (5x slower,
        # and every audio segment is stamped).
        meta.occurred_at.FromNanoseconds(time.time_ns())
    if not meta.producer:
        meta.producer = producer
    if not meta.tenant:
        meta.tenant = tenant


@functools.lru_cache(maxsize=65536)
def _key_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def keyed_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's default partitioning (murmur2 of the key, as the Java client), with the
    hash of a key remembered: a service sends many records under one call id, and aiokafka's
    murmur2 is pure Python (~30 us a record)."""
    if key is None:
        return DefaultPartitioner()(key, all_partitions, available)
    return all_partitions[_key_hash(key) % len(all_partitions)]


class EventProducer:
    def __init__(self, settings: CoreSettings, service: str, *, retry_for_s: float = 120.0):
        self._settings = settings
        self._service = service
        self._retry_for_s = retry_for_s
        self._producer = AIOKafkaProducer(
            client_id=f"{settings.kafka_client_id}-{service}",
            acks="all",
            enable_idempotence=settings.kafka_idempotence,
            linger_ms=5,
            max_batch_size=settings.kafka_producer_batch_bytes,
            max_request_size=4 * 1024 * 1024,
            partitioner=keyed_partitioner,
            **client_options(settings),
        )

    async def start(self) -> None:
        await _retry_connect(self._producer.start, "producer")

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, topic: Topic | str, key: str, message: Message) -> None:
        """Send one message and wait for the broker's acknowledgement (acks=all).

        Retries through a broker restart for up to retry_for_s before giving up.
        """
        name = topic.name if isinstance(topic, Topic) else topic
        stamp_meta(message, self._service, self._settings.tenant)
        payload = message.SerializeToString()
        with tracer.start_as_current_span(
            f"publish {name}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "publish",
                "messaging.destination.name": name,
                "messaging.kafka.message.key": key,
                "callscope.message_type": message.DESCRIPTOR.full_name,
            },
        ):
            headers: list[tuple[str, bytes]] = [
                (CONTENT_TYPE_HEADER, content_type_for(message).encode())
            ]
            inject_headers(headers)
            await self._send(name, key.encode(), payload, headers)

    async def publish_raw(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        await self._send(topic, key, value, headers)

    async def _send(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        started = time.monotonic()
        deadline = started + self._retry_for_s
        delay = 0.2
        while True:
            try:
                await self._producer.send_and_wait(topic, value, key=key, headers=headers)
                attributes = {"topic": topic}
                RECORDS_PUBLISHED.add(1, attributes)
                PUBLISH_DURATION.record(time.monotonic() - started, attributes)
                return
            except KafkaError as exc:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("publish to %s failed (%s); retrying in %.1fs", topic, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


class _AssignmentTracker(ConsumerRebalanceListener):
    def __init__(self, lag: dict[tuple[str, int], int]) -> None:
        self.assigned = asyncio.Event()
        self._lag = lag

    async def on_partitions_revoked(self, revoked: Any) -> None:
        for tp in revoked:  # another member reports these now
            self._lag.pop((tp.topic, tp.partition), None)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.assigned.set()


class EventConsumer:
    """Consumes protobuf events from topics and calls `handler` for each, in order per partition."""

    def __init__(
        self,
        settings: CoreSettings,
        service: str,
        group_id: str,
        topics: Sequence[Topic | str],
        handler: Handler,
        dead_letters: EventProducer,
        *,
        auto_offset_reset: str = "earliest",
    ) -> None:
        self._service = service
        self._group_id = group_id
        self._topics = [t.name if isinstance(t, Topic) else t for t in topics]
        self._handler = handler
        self._dead_letters = dead_letters
        # (topic, partition) -> highwater - position, for the lag gauge.
        self.lag: dict[tuple[str, int], int] = {}
        self._lag_refreshed = 0.0
        self._listener = _AssignmentTracker(self.lag)
        self._consumer = AIOKafkaConsumer(
            client_id=f"{settings.kafka_client_id}-{service}",
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset=auto_offset_reset,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **client_options(settings),
        )
        self.processed = 0
        self.dead_lettered = 0
        _CONSUMERS.add(self)

    @property
    def group_id(self) -> str:
        return self._group_id

    @property
    def assigned(self) -> asyncio.Event:
        return self._listener.assigned

    async def start(self) -> None:
        await _retry_connect(self._consumer.start, f"consumer {self._group_id}")
        self._consumer.subscribe(self._topics, listener=self._listener)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                batches = await self._consumer.getmany(timeout_ms=200, max_records=200)
            except KafkaError as exc:
                log.warning("fetch failed for %s: %s; retrying", self._group_id, exc)
                await asyncio.sleep(1.0)
                continue
            for tp, records in batches.items():
                for record in records:
                    await self._process(record, stop)
                    if stop.is_set():
                        break
                if records:
                    await self._commit(tp, records[-1].offset + 1)
            await self._refresh_lag(bool(batches))

    async def _refresh_lag(self, processed: bool) -> None:
        """Lag per assigned partition: the highwater of the last fetch (Tansu's end_offsets
        is not reliable) minus our position. At most once a second unless records came."""
        now = time.monotonic()
        if not processed and now - self._lag_refreshed < 1.0:
            return
        self._lag_refreshed = now
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue  # nothing fetched from it yet
            try:
                position = await self._consumer.position(tp)
            except KafkaError:
                continue
            self.lag[(tp.topic, tp.partition)] = max(highwater - position, 0)

    async def _commit(self, tp: Any, offset: int) -> None:
        try:
            await self._consumer.commit({tp: offset})
        except KafkaError as exc:
            # Output is written and idempotent: a lost commit means a redelivery, not a loss.
            log.warning("commit of %s@%d failed: %s", tp, offset, exc)

    async def _process(self, record: Any, stop: asyncio.Event) -> None:
        headers = tuple(record.headers or ())
        content_type = next(
            (v.decode(errors="replace") for k, v in headers if k.lower() == CONTENT_TYPE_HEADER),
            None,
        )
        try:
            message = decode(content_type, record.value)
        except PayloadError as exc:
            await self._park(record, headers, str(exc))
            return
        event = ConsumedEvent(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=(record.key or b"").decode(errors="replace"),
            message=message,
            headers=headers,
            timestamp_ms=record.timestamp,
        )
        delay = 0.2
        started = time.monotonic()
        attributes = {"consumer_group": self._group_id, "topic": record.topic}
        while True:
            with tracer.start_as_current_span(
                f"process {record.topic}",
                context=extract_context(headers),
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "process",
                    "messaging.destination.name": record.topic,
                    "messaging.consumer.group.name": self._group_id,
                    "messaging.kafka.offset": record.offset,
                    "messaging.kafka.message.key": event.key,
                    "callscope.message_type": message.DESCRIPTOR.full_name,
                },
            ) as span:
                try:
                    await self._handler(event)
                    self.processed += 1
                    RECORDS_PROCESSED.add(1, attributes)
                    PROCESS_DURATION.record(time.monotonic() - started, attributes)
                    return
                except PermanentError as exc:
                    span.set_status(Status(StatusCode.ERROR, str(exc)))
                    await self._park(record, headers, str(exc))
                    return
                except Exception as exc:
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR, str(exc)))
                    log.exception(
                        "handler failed on %s@%d; retrying in %.1fs",
                        record.topic,
                        record.offset,
                        delay,
                    )
            if stop.is_set():
                # Not committed: the record is redelivered after restart.
                raise asyncio.CancelledError("stopping with an unprocessed record")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _park(self, record: Any, headers: tuple[tuple[str, bytes], ...], error: str) -> None:
        log.error(
            "parking record %s[%d]@%d on %s: %s",
            record.topic,
            record.partition,
            record.offset,
            DEADLETTER.name,
            error,
        )
        letter = events_pb2.DeadLetter(
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            consumer_group=self._group_id,
            error=error,
            key=record.key or b"",
            value=record.value or b"",
            headers={k: v.decode(errors="replace") for k, v in headers},
        )
        stamp_meta(letter, self._service, "")
        out_headers = [(CONTENT_TYPE_HEADER, content_type_for(letter).encode())]
        # The parked record stays in the trace of the call it belongs to.
        out_headers += [(k, v) for k, v in headers if k.lower() in ("traceparent", "tracestate")]
        await self._dead_letters.publish_raw(
            DEADLETTER.name, record.key, letter.SerializeToString(), out_headers
        )
        self.dead_lettered += 1
        RECORDS_DEAD_LETTERED.add(1, {"consumer_group": self._group_id, "topic": record.topic})


async def _retry_connect(start: Callable[[], Awaitable[None]], what: str) -> None:
    delay = 0.2
    for attempt in range(30):
        try:
            await start()
            return
        except KafkaError as exc:
            if attempt == 29:
                raise
            log.warning("%s cannot reach Kafka yet (%s); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def ensure_topics(
    settings: CoreSettings, topics: Sequence[Topic], *, replication_factor: int = 1
) -> None:
    """Create every topic with its final partition count (the local broker cannot add any)."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await _retry_connect(admin.start, "admin")
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                name=t.name, num_partitions=t.partitions, replication_factor=replication_factor
            )
            for t in topics
            if t.name not in existing
        ]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
    finally:
        await admin.close()
