"""The real wiring over a real Kafka-protocol broker (Tansu): `serve_retention` in a
ServiceRuntime, and the recorder/transcriber/analyzer purge handlers as their own consumer
groups. Expired recordings go from RecordingStored to purged and confirmed, on the scheduler's
own schedule, with no test hook in between."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from callscope.v1 import retention_pb2, retention_pb2_grpc
from callscope_analyzer.purge import purge_handler as analyzer_handler
from callscope_core.db import open_pool
from callscope_core.kafka import EventConsumer, EventProducer, ensure_topics
from callscope_core.purge import utc_now
from callscope_core.runtime import ServiceRuntime
from callscope_core.settings import CoreSettings
from callscope_core.storage import open_object_store
from callscope_core.topics import ALL_TOPICS, CALL_EVENTS, RETENTION_COMMANDS
from callscope_recorder.purge import purge_handler as recorder_handler
from callscope_retention.settings import RetentionSettings
from callscope_retention.wiring import serve_retention
from callscope_transcriber.purge import purge_handler as transcriber_handler

from .conftest import call_started, recording_stored, seed_call

pytestmark = pytest.mark.integration

CALLS = 30


async def test_expired_recordings_are_purged_over_kafka(
    db_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    core = CoreSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_idempotence=False,
        database_url=db_url,
        object_store_backend="filesystem",
        object_store_path=tmp_path / "objects",
        log_format="text",
    )
    await ensure_topics(core, ALL_TOPICS)
    settings = RetentionSettings(
        grpc_port=0, purge_schedule="@every 1s", maintenance_interval_s=0.2
    )
    objects = open_object_store(core)
    pool = await open_pool(db_url, 4)
    stored_at = utc_now() - timedelta(days=400)  # quality and analytics have both ended
    prefix = uuid.uuid4().hex[:6]
    call_ids = [f"{prefix}-{n}" for n in range(CALLS)]
    stored = {c: await seed_call(pool, objects, c, at=stored_at) for c in call_ids}

    # The services' side: each handler is its own consumer group on the commands topic.
    producer = EventProducer(core, "services")
    await producer.start()
    stop = asyncio.Event()
    consumers = [
        EventConsumer(
            core,
            name,
            f"callscope-{name}-retention-{prefix}",
            [RETENTION_COMMANDS],
            handler,
            producer,
        )
        for name, handler in (
            ("recorder", recorder_handler(pool, producer, objects, core)),
            ("transcriber", transcriber_handler(pool, producer)),
            ("analyzer", analyzer_handler(pool, producer)),
        )
    ]
    tasks = []
    root_handlers = logging.getLogger().handlers[:]  # ServiceRuntime installs its own
    for consumer in consumers:
        await consumer.start()
        tasks.append(asyncio.create_task(consumer.run(stop)))
    try:
        async with ServiceRuntime(
            "retention",
            core,
            grpc_port=0,
            grpc_services=["callscope.v1.Retention"],
            migrations_package="callscope_retention",
        ) as rt:
            service = asyncio.create_task(serve_retention(rt, settings, stop))
            await asyncio.wait_for(asyncio.gather(*(c.assigned.wait() for c in consumers)), 60)
            for call_id in call_ids:
                await producer.publish(
                    CALL_EVENTS,
                    call_id,
                    call_started(
                        call_id,
                        "sip:+33600000000@pstn.example",
                        "sip:agent@cc.example",
                        "support",
                        stored_at,
                    ),
                )
                await producer.publish(
                    CALL_EVENTS, call_id, recording_stored(call_id, stored[call_id], (), stored_at)
                )
            deadline = time.monotonic() + 90
            purged = 0
            while time.monotonic() < deadline:
                async with pool.connection() as conn:
                    cur = await conn.execute(
                        "SELECT count(*) AS n FROM retention.recordings"
                        " WHERE call_id = ANY(%s) AND state = 'purged'",
                        (call_ids,),
                    )
                    purged = (await cur.fetchone())["n"]
                if purged == CALLS or service.done():
                    break
                await asyncio.sleep(0.2)
            assert purged == CALLS
            async with pool.connection() as conn:
                for table in ("recorder.calls", "transcriber.utterances", "analyzer.utterances"):
                    cur = await conn.execute(
                        f"SELECT count(*) AS n FROM {table} WHERE call_id = ANY(%s)", (call_ids,)
                    )
                    assert (await cur.fetchone())["n"] == 0, table
            assert not any((tmp_path / "objects").rglob(f"{prefix}-*.wav"))
            assert rt.grpc is not None
            async with grpc.aio.insecure_channel(f"127.0.0.1:{rt.grpc.port}") as channel:
                stub = retention_pb2_grpc.RetentionStub(channel)
                plan = await stub.PlanPurge(retention_pb2.PlanPurgeRequest(), timeout=10)
                verified = await stub.VerifyAudit(retention_pb2.VerifyAuditRequest(), timeout=10)
            assert plan.calls == 0 and verified.ok
            stop.set()
            await service
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for consumer in consumers:
            await consumer.stop()
        await producer.stop()
        await pool.close()
        logging.getLogger().handlers[:] = root_handlers
