"""Fixtures for retention tests: a fresh database per test (copied from a template migrated
once with every service's schema), a clock the test controls, and an in-memory bus that
delivers retention commands to the real purge handlers of recorder, transcriber and analyzer."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from google.protobuf.message import Message
from psycopg_pool import AsyncConnectionPool

from callscope.v1 import common_pb2, events_pb2
from callscope_core.db import apply_migrations, migrations_dir, open_pool
from callscope_core.kafka import ConsumedEvent, stamp_meta
from callscope_core.purge import RetentionCommandHandler
from callscope_core.storage import FilesystemObjectStore, ObjectStore, StoredObject
from callscope_core.topics import CALL_EVENTS, RETENTION_COMMANDS, Topic
from callscope_retention.engine import RetentionEngine
from callscope_retention.settings import RetentionSettings

SERVICES = ("recorder", "transcriber", "analyzer", "retention")
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def template_db(postgres_url: str) -> str:
    name = f"retention_tpl_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(postgres_url, name)
    for service in SERVICES:
        apply_migrations(url, service, migrations_dir(f"callscope_{service}"))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        # yoyo keeps its connection open; a template must have none.
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
    return name


@pytest.fixture
def db_url(postgres_url: str, template_db: str) -> Iterator[str]:
    name = f"retention_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    yield with_database(postgres_url, name)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = await open_pool(db_url, 8)
    yield pool
    await pool.close()


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def at_day(self, days: float) -> datetime:
        self.now = T0 + timedelta(days=days)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass
class Bus:
    """An in-memory Kafka: what is published waits in `outbox` until `pump()` delivers it."""

    outbox: list[tuple[str, str, Message]] = field(default_factory=list)
    delivered: list[tuple[str, str, Message]] = field(default_factory=list)
    fail_publishes: int = 0
    command_handlers: list[RetentionCommandHandler] = field(default_factory=list)
    engine: RetentionEngine | None = None

    async def publish(self, topic: Topic | str, key: str, message: Message) -> None:
        if self.fail_publishes:
            self.fail_publishes -= 1
            raise ConnectionError("broker unreachable (test)")
        name = topic.name if isinstance(topic, Topic) else topic
        stamp_meta(message, "test", "default")
        copy = type(message)()
        copy.CopyFrom(message)
        self.outbox.append((name, key, copy))

    def take(self, kind: type[Message]) -> list[Message]:
        """Remove (lose) every queued message of one type; returns them."""
        taken = [m for _, _, m in self.outbox if isinstance(m, kind)]
        self.outbox = [o for o in self.outbox if not isinstance(o[2], kind)]
        return taken

    async def deliver(self, topic: str, key: str, message: Message) -> None:
        event = ConsumedEvent(topic, 0, 0, key, message, (), 0)
        self.delivered.append((topic, key, message))
        if topic == RETENTION_COMMANDS.name:
            for handler in self.command_handlers:
                await handler(event)
        elif self.engine is not None:
            await self.engine.on_event(event)

    async def pump(
        self, drop: Callable[[str, Message], bool] | None = None, limit: int = 10_000
    ) -> int:
        n = 0
        while self.outbox and n < limit:
            topic, key, message = self.outbox.pop(0)
            n += 1
            if drop is not None and drop(topic, message):
                continue
            await self.deliver(topic, key, message)
        return n


@pytest.fixture
def objects(tmp_path: Path) -> ObjectStore:
    return FilesystemObjectStore(tmp_path / "objects", "callscope-recordings")


def retention_settings(**overrides: Any) -> RetentionSettings:
    values: dict[str, Any] = {"purge_batch_size": 50, "purge_retry_after_s": 60.0}
    values.update(overrides)
    return RetentionSettings(**values)


@pytest.fixture
async def world(
    pool: AsyncConnectionPool, clock: FakeClock, objects: ObjectStore
) -> AsyncIterator[World]:
    from callscope_analyzer.purge import purge_handler as analyzer_handler
    from callscope_core.settings import CoreSettings
    from callscope_recorder.purge import purge_handler as recorder_handler
    from callscope_transcriber.purge import purge_handler as transcriber_handler

    bus = Bus()
    engine = RetentionEngine(pool, bus, retention_settings(), clock)
    await engine.start()
    bus.engine = engine
    core = CoreSettings(object_store_path=objects.root)  # type: ignore[attr-defined]
    bus.command_handlers = [
        recorder_handler(pool, bus, objects, core, clock=clock),
        transcriber_handler(pool, bus, clock=clock),
        analyzer_handler(pool, bus, clock=clock),
    ]
    yield World(pool, clock, bus, engine, objects)


@dataclass
class World:
    pool: AsyncConnectionPool
    clock: FakeClock
    bus: Bus
    engine: RetentionEngine
    objects: ObjectStore

    async def call(
        self,
        call_id: str,
        *,
        customer: str = "sip:+33612345678@pstn.example",
        agent: str = "sip:agent-7@cc.example",
        purposes: tuple[str, ...] = (),
        queue: str = "support",
        at: datetime | None = None,
        stored: bool = True,
    ) -> None:
        """A call as the services would leave it: events to retention, rows and an object in
        the recorder, utterances in the transcriber, analyses and an alert in the analyzer."""
        at = at or self.clock()
        started = call_started(call_id, customer, agent, queue, at)
        await self.bus.deliver(CALL_EVENTS.name, call_id, started)
        if not stored:
            return
        obj = await seed_call(self.pool, self.objects, call_id, queue, at, customer, agent)
        message = recording_stored(call_id, obj, purposes, at, queue)
        await self.bus.deliver(CALL_EVENTS.name, call_id, message)

    async def holdings(self, call_id: str) -> dict[str, int]:
        """What each service still holds of a call."""
        async with self.pool.connection() as conn:
            counts = {}
            for name, query in (
                ("recorder", "SELECT count(*) AS n FROM recorder.calls WHERE call_id = %s"),
                (
                    "transcriber",
                    "SELECT count(*) AS n FROM transcriber.utterances WHERE call_id = %s",
                ),
                ("analyzer", "SELECT count(*) AS n FROM analyzer.utterances WHERE call_id = %s"),
            ):
                cur = await conn.execute(query, (call_id,))
                counts[name] = (await cur.fetchone())["n"]
        key = None
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT object_key FROM retention.recordings WHERE call_id = %s", (call_id,)
            )
            row = await cur.fetchone()
            key = row["object_key"] if row else None
        counts["object"] = int(bool(key) and await self.objects.exists(key))
        return counts

    async def item_states(self, call_id: str) -> dict[str, str]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT data_kind, state FROM retention.data_items WHERE call_id = %s", (call_id,)
            )
            return {r["data_kind"]: r["state"] for r in await cur.fetchall()}


def call_started(
    call_id: str, customer: str, agent: str, queue: str, at: datetime
) -> events_pb2.CallStarted:
    started = events_pb2.CallStarted(
        call_id=call_id,
        source="siprec",
        queue=queue,
        participants=[
            events_pb2.Participant(
                participant_id="p1", aor=customer, channel=common_pb2.CHANNEL_CUSTOMER
            ),
            events_pb2.Participant(
                participant_id="p2", aor=agent, channel=common_pb2.CHANNEL_AGENT
            ),
        ],
    )
    started.started_at.FromDatetime(at)
    started.meta.occurred_at.FromDatetime(at)
    return started


def recording_stored(
    call_id: str,
    obj: StoredObject,
    purposes: tuple[str, ...],
    at: datetime,
    queue: str = "support",
) -> events_pb2.RecordingStored:
    message = events_pb2.RecordingStored(
        call_id=call_id,
        object_key=obj.key,
        bucket=obj.bucket,
        content_type="audio/wav",
        size_bytes=obj.size,
        sha256=obj.sha256,
        queue=queue,
        purposes=list(purposes),
    )
    message.meta.occurred_at.FromDatetime(at)
    return message


async def seed_call(
    pool: AsyncConnectionPool,
    objects: ObjectStore,
    call_id: str,
    queue: str = "support",
    at: datetime = T0,
    customer: str = "sip:+33612345678@pstn.example",
    agent: str = "sip:agent-7@cc.example",
) -> StoredObject:
    """What recorder, transcriber and analyzer store for one call."""
    key = f"recordings/{at:%Y/%m/%d}/{call_id}.wav"
    obj = await objects.put(key, f"RIFF-{call_id}".encode(), "audio/wav")
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO recorder.calls (call_id, external_call_id, source, tenant, queue,"
            " state, started_at, participants, bucket, object_key, sha256, size_bytes)"
            " VALUES (%s, %s, 'siprec', 'default', %s, 'stored', %s, %s, %s, %s, %s, %s)",
            (
                call_id,
                f"ext-{call_id}",
                queue,
                at,
                json.dumps([{"aor": customer}, {"aor": agent}]),
                obj.bucket,
                obj.key,
                obj.sha256,
                obj.size,
            ),
        )
        for n in range(2):
            await conn.execute(
                "INSERT INTO transcriber.utterances (call_id, channel, utterance_no, version,"
                " text, language, confidence, start_ms, end_ms, words) VALUES"
                " (%s, 'customer', %s, 1, 'bonjour', 'fr', 0.9, 0, 1000, '[]')",
                (call_id, n),
            )
            await conn.execute(
                "INSERT INTO analyzer.utterances (call_id, channel, utterance_no, version,"
                " text, language, start_ms, end_ms, sentiment_score, sentiment_label)"
                " VALUES (%s, 'customer', %s, 1, 'bonjour', 'fr', 0, 1000, 0.1, 'neutral')",
                (call_id, n),
            )
        await conn.execute(
            "INSERT INTO analyzer.calls (call_id, queue) VALUES (%s, %s)", (call_id, queue)
        )
        await conn.execute(
            "INSERT INTO analyzer.summaries (call_id, version, summary) VALUES (%s, 1, '{}')",
            (call_id,),
        )
        await conn.execute(
            "INSERT INTO analyzer.alerts (alert_id, call_id, kind, severity, reason,"
            " evidence, at_ms) VALUES (%s, %s, 'human_request', 'warning', 'r', '[]', 0)",
            (f"alert-{call_id}", call_id),
        )
        await conn.commit()
    return obj
