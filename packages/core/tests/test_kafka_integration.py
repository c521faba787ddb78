"""The Kafka plumbing against a real Kafka-protocol broker (Tansu), not a mock."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from callscope.v1 import events_pb2
from callscope_core.kafka import (
    ConsumedEvent,
    EventConsumer,
    EventProducer,
    PermanentError,
    ensure_topics,
)
from callscope_core.settings import CoreSettings
from callscope_core.topics import DEADLETTER, Topic

pytestmark = pytest.mark.integration

_exporter = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def tracer_provider() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    trace.set_tracer_provider(provider)


def _topic() -> Topic:
    return Topic(f"test.{uuid.uuid4().hex[:8]}", "call_id", 3, ("CallStarted",), "test")


async def _wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_roundtrip_with_trace_context_and_content_type(kafka_bootstrap: str) -> None:
    settings = CoreSettings(kafka_bootstrap_servers=kafka_bootstrap, kafka_idempotence=False)
    topic = _topic()
    await ensure_topics(settings, [topic, DEADLETTER])
    producer = EventProducer(settings, "test")
    await producer.start()
    received: list[ConsumedEvent] = []

    async def handler(event: ConsumedEvent) -> None:
        received.append(event)

    consumer = EventConsumer(settings, "test", f"g-{topic.name}", [topic], handler, producer)
    await consumer.start()
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.wait_for(consumer.assigned.wait(), 30)
        tracer = trace.get_tracer("test")
        with tracer.start_as_current_span("call") as root:
            for i in range(5):
                await producer.publish(
                    topic, "call-1", events_pb2.CallStarted(call_id="call-1", queue=f"q{i}")
                )
        await _wait_for(lambda: len(received) == 5)
    finally:
        stop.set()
        await task
        await consumer.stop()
        await producer.stop()

    assert [e.message.queue for e in received] == [f"q{i}" for i in range(5)]  # keyed order
    first = received[0]
    assert isinstance(first.message, events_pb2.CallStarted)
    assert first.message.meta.event_id and first.message.meta.producer == "test"
    headers = dict(first.headers)
    assert headers["content-type"] == b"application/x-protobuf; type=callscope.v1.CallStarted"
    trace_id = f"{root.get_span_context().trace_id:032x}"
    assert headers["traceparent"].decode().split("-")[1] == trace_id
    consumer_spans = [s for s in _exporter.get_finished_spans() if s.name.startswith("process")]
    assert consumer_spans and all(
        s.context.trace_id == root.get_span_context().trace_id for s in consumer_spans
    )


async def test_undecodable_and_rejected_records_are_parked_and_consumer_goes_on(
    kafka_bootstrap: str,
) -> None:
    settings = CoreSettings(kafka_bootstrap_servers=kafka_bootstrap, kafka_idempotence=False)
    topic = _topic()
    await ensure_topics(settings, [topic, DEADLETTER])
    producer = EventProducer(settings, "test")
    await producer.start()
    raw = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await raw.start()
    handled: list[str] = []

    async def handler(event: ConsumedEvent) -> None:
        if event.message.queue == "reject":
            raise PermanentError("queue 'reject' is invalid")
        handled.append(event.message.queue)

    consumer = EventConsumer(settings, "test", f"g-{topic.name}", [topic], handler, producer)
    dead = AIOKafkaConsumer(
        DEADLETTER.name, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await dead.start()
    await consumer.start()
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.wait_for(consumer.assigned.wait(), 30)
        await raw.send_and_wait(topic.name, b"\xff\x00garbage", key=b"k")  # no content-type
        await raw.send_and_wait(
            topic.name,
            b"\xff\xff\xff",
            key=b"k",
            headers=[("content-type", b"application/x-protobuf; type=callscope.v1.CallStarted")],
        )
        await producer.publish(topic, "k", events_pb2.CallStarted(call_id="c", queue="reject"))
        await producer.publish(topic, "k", events_pb2.CallStarted(call_id="c", queue="good"))
        await _wait_for(lambda: handled == ["good"])
        parked = []
        parked_headers: list[dict[str, bytes]] = []
        async with asyncio.timeout(20):
            while len(parked) < 3:
                batch = await dead.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        letter = events_pb2.DeadLetter.FromString(record.value)
                        if letter.source_topic == topic.name:
                            parked.append(letter)
                            parked_headers.append(dict(record.headers or ()))
    finally:
        stop.set()
        await task
        await consumer.stop()
        await dead.stop()
        await raw.stop()
        await producer.stop()
    assert consumer.dead_lettered == 3
    errors = [p.error for p in parked]
    assert "content-type" in errors[0]
    assert "cannot decode" in errors[1]
    assert "invalid" in errors[2]
    assert parked[1].value == b"\xff\xff\xff"  # the original bytes are kept for replay
    # A parked record stays in its call's trace; raw records without context have none.
    assert "traceparent" in parked_headers[2] and "traceparent" not in parked_headers[0]


async def test_transient_handler_errors_are_retried_not_skipped(kafka_bootstrap: str) -> None:
    settings = CoreSettings(kafka_bootstrap_servers=kafka_bootstrap, kafka_idempotence=False)
    topic = _topic()
    await ensure_topics(settings, [topic, DEADLETTER])
    producer = EventProducer(settings, "test")
    await producer.start()
    attempts: list[str] = []

    async def flaky(event: ConsumedEvent) -> None:
        attempts.append(event.message.queue)
        if len(attempts) < 3:
            raise ConnectionError("database restarting")

    consumer = EventConsumer(settings, "test", f"g-{topic.name}", [topic], flaky, producer)
    await consumer.start()
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.wait_for(consumer.assigned.wait(), 30)
        await producer.publish(topic, "k", events_pb2.CallStarted(call_id="c", queue="one"))
        await producer.publish(topic, "k", events_pb2.CallStarted(call_id="c", queue="two"))
        await _wait_for(lambda: attempts[-1:] == ["two"])
    finally:
        stop.set()
        await task
        await consumer.stop()
        await producer.stop()
    assert attempts == ["one", "one", "one", "two"]
    assert consumer.dead_lettered == 0


def test_keyed_partitioner_partitions_as_aiokafka_and_the_java_client_do() -> None:
    import random

    from aiokafka.partitioner import DefaultPartitioner

    from callscope_core.kafka import keyed_partitioner

    rng = random.Random(5)
    for _ in range(2000):
        key = rng.randbytes(rng.randrange(0, 40))
        partitions = list(range(rng.randrange(1, 13)))
        for _repeat in range(2):  # the second time from the remembered hash
            assert keyed_partitioner(key, partitions, partitions) == DefaultPartitioner()(
                key, partitions, partitions
            )
    assert keyed_partitioner(None, [0, 1, 2], [2]) == 2
    assert keyed_partitioner(None, [0, 1, 2], []) in (0, 1, 2)
