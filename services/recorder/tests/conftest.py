"""Recorder integration fixtures: a CallRecorder wired to the real local components (embedded
PostgreSQL with the recorder's migrations, the Tansu Kafka broker, a filesystem or moto S3
object store) and a tail of the topics it publishes to."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from google.protobuf.message import Message
from psycopg_pool import AsyncConnectionPool

from callscope_core.db import migrate, open_pool
from callscope_core.devtools import TopicTail
from callscope_core.kafka import EventProducer, ensure_topics
from callscope_core.settings import CoreSettings
from callscope_core.storage import FilesystemObjectStore, ObjectStore
from callscope_core.topics import AUDIO_SEGMENTS, CALL_EVENTS
from callscope_recorder.calls import CallRecorder
from callscope_recorder.domain.policy import RecordingPolicy
from callscope_recorder.ingest.rtp_server import RtpPortPool
from callscope_recorder.policy_store import PolicyStore
from callscope_recorder.settings import RecorderSettings
from callscope_recorder.spool import Spool
from callscope_recorder.storage import RecordingStore


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
async def recorder_db_url(postgres_url: str) -> str:
    """One database for the recorder tests, migrated once (call ids never collide)."""
    name = f"recorder_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(postgres_url, name)
    await migrate(url, "recorder", "callscope_recorder")
    return url


@dataclass
class RecorderHarness:
    core: CoreSettings
    settings: RecorderSettings
    pool: AsyncConnectionPool
    producer: EventProducer
    objects: ObjectStore
    proof_objects: ObjectStore
    store: RecordingStore
    policies: PolicyStore
    recorder: CallRecorder
    tail: TopicTail
    spool: Spool
    seen: list[tuple[str, Message]] = field(default_factory=list)

    async def events_of(
        self,
        call_id: str,
        until: Callable[[list[Message]], bool],
        timeout: float = 30.0,
    ) -> list[Message]:
        """Every message about `call_id` on the call-events and audio-segment topics, read
        until `until(messages)` holds (or the timeout)."""

        def mine() -> list[Message]:
            return [m for _, m in self.seen if getattr(m, "call_id", None) == call_id]

        async with asyncio.timeout(timeout):
            while not until(mine()):
                self.seen += await self.tail.poll(0.2)
        return mine()

    async def call_row(self, call_id: str) -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute("SELECT * FROM recorder.calls WHERE call_id = %s", (call_id,))
            return await cur.fetchone()

    @staticmethod
    def kinds(messages: list[Message]) -> list[str]:
        return [type(m).__name__ for m in messages]

    @staticmethod
    def policies_model(
        tenant: str, queue: str, mode: str, percentage: float = 100.0, **fields: Any
    ) -> RecordingPolicy:
        return RecordingPolicy(tenant, queue, mode, percentage, **fields)

    @staticmethod
    def stored(messages: list[Message]) -> bool:
        return "RecordingStored" in RecorderHarness.kinds(messages)

    @staticmethod
    def ended(messages: list[Message]) -> bool:
        return "CallEnded" in RecorderHarness.kinds(messages)

    async def events_after_end(self, call_id: str) -> list[Message]:
        """Events of a call whose end() has returned (so all of them are published): read
        until CallEnded, then a little longer for anything that follows it."""
        await self.events_of(call_id, self.ended)
        self.seen += await self.tail.poll(0.5)
        return await self.events_of(call_id, lambda _: True)


async def build_harness(
    core: CoreSettings,
    db_url: str,
    tmp_path: Path,
    *,
    objects: ObjectStore | None = None,
    proof_objects: ObjectStore | None = None,
    spool: Any = None,
    **recorder_settings: Any,
) -> RecorderHarness:
    core = core.model_copy(update={"database_url": db_url})
    settings = RecorderSettings(
        **{
            "rtp_port_min": 30000 + (uuid.uuid4().int % 2000) * 8,
            "rtp_port_max": 65000,
            "spool_dir": tmp_path / "spool",
            "segment_ms": 500,
            "jitter_ms": 100,
            **recorder_settings,
        }
    )
    await ensure_topics(core, [CALL_EVENTS, AUDIO_SEGMENTS])
    pool = await open_pool(db_url, 8)
    producer = EventProducer(core, "recorder")
    await producer.start()
    objects = objects or FilesystemObjectStore(tmp_path / "objects", "recordings")
    proof_objects = proof_objects or FilesystemObjectStore(tmp_path / "objects", "proof")
    store = RecordingStore(pool, objects, core.tenant, proof_objects)
    policies = PolicyStore(pool, cache_s=0.0)
    rtp = RtpPortPool(
        "127.0.0.1",
        settings.rtp_port_min,
        settings.rtp_port_max,
        1 << 20,
        receiver=settings.rtp_receiver,
        drain_ms=settings.rtp_drain_ms,
    )
    if spool is None:
        spool = Spool(settings.spool_dir, fsync=False)
    recorder = CallRecorder(
        settings, store, producer, rtp, policies=policies, spool=spool, tenant=core.tenant
    )
    tail = TopicTail(core.kafka_bootstrap_servers, [CALL_EVENTS.name, AUDIO_SEGMENTS.name])
    await tail.start()
    return RecorderHarness(
        core,
        settings,
        pool,
        producer,
        objects,
        proof_objects,
        store,
        policies,
        recorder,
        tail,
        spool,
    )


async def close_harness(harness: RecorderHarness) -> None:
    await harness.recorder.rtp_ports.aclose()
    await harness.tail.stop()
    await harness.producer.stop()
    await harness.pool.close()


@pytest.fixture
async def make_harness(
    core_settings: CoreSettings, recorder_db_url: str, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """build(objects=..., proof_objects=..., spool=..., **RecorderSettings) -> harness."""
    built: list[RecorderHarness] = []

    async def build(**options: Any) -> RecorderHarness:
        harness = await build_harness(core_settings, recorder_db_url, tmp_path, **options)
        built.append(harness)
        return harness

    yield build
    for harness in built:
        await close_harness(harness)


@pytest.fixture
async def harness(make_harness: Callable[..., Any]) -> RecorderHarness:
    return await make_harness()
