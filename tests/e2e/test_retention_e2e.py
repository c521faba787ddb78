"""Retention on the running local stack: expired recordings purged end to end, a legal hold
that survives the run, an erasure with its proof report, and an audit chain that verifies.

The retention service must run `callscope_retention.wiring.serve_retention` (skipped while it
still answers UNIMPLEMENTED). Until the services' app.py files mount their purge handlers, this
test starts the recorder/transcriber/analyzer handlers in-process against the stack's Kafka,
PostgreSQL and object store (their own consumer groups), exactly as the services will."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg
import pytest

from callscope.v1 import common_pb2, events_pb2, retention_pb2, retention_pb2_grpc
from callscope_core.db import open_pool
from callscope_core.kafka import EventConsumer, EventProducer
from callscope_core.settings import CoreSettings
from callscope_core.storage import FilesystemObjectStore
from callscope_core.topics import CALL_EVENTS, RETENTION_COMMANDS

pytestmark = pytest.mark.e2e

OLD = datetime.now(UTC) - timedelta(days=400)  # quality and analytics have ended


def _seed(database_url: str, objects: FilesystemObjectStore, call_ids: list[str]) -> None:
    folder = objects.root / objects.bucket / "recordings" / "e2e"
    folder.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(database_url) as conn:
        for call_id in call_ids:
            (folder / f"{call_id}.wav").write_bytes(b"RIFF-e2e")
            conn.execute(
                "INSERT INTO recorder.calls (call_id, external_call_id, source, tenant, state,"
                " started_at, bucket, object_key, sha256, size_bytes) VALUES"
                " (%s, %s, 'siprec', 'default', 'stored', %s, %s, %s, 'x', 8)",
                (call_id, call_id, OLD, objects.bucket, f"recordings/e2e/{call_id}.wav"),
            )
            conn.execute(
                "INSERT INTO transcriber.utterances (call_id, channel, utterance_no, version,"
                " text, language, confidence, start_ms, end_ms, words) VALUES"
                " (%s, 'customer', 0, 1, 'hello', 'en', 0.9, 0, 1000, '[]')",
                (call_id,),
            )


def _events(call_id: str, customer: str) -> list:
    started = events_pb2.CallStarted(
        call_id=call_id,
        source="siprec",
        queue="e2e",
        participants=[
            events_pb2.Participant(
                participant_id="c", aor=customer, channel=common_pb2.CHANNEL_CUSTOMER
            ),
            events_pb2.Participant(
                participant_id="a", aor="sip:agent@cc.example", channel=common_pb2.CHANNEL_AGENT
            ),
        ],
    )
    started.started_at.FromDatetime(OLD)
    stored = events_pb2.RecordingStored(
        call_id=call_id,
        object_key=f"recordings/e2e/{call_id}.wav",
        bucket="callscope-recordings",
        sha256="x",
        size_bytes=8,
        queue="e2e",
    )
    stored.meta.occurred_at.FromDatetime(OLD)
    return [started, stored]


def test_purge_hold_erasure_and_audit_on_the_stack(stack: dict) -> None:
    endpoints = stack["endpoints"]
    target = f"127.0.0.1:{endpoints['grpc']['retention']}"
    with grpc.insecure_channel(target) as channel:
        stub = retention_pb2_grpc.RetentionStub(channel)
        try:
            stub.PlanPurge(retention_pb2.PlanPurgeRequest(), timeout=10)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:  # type: ignore[attr-defined]
                pytest.skip("the stack's retention service is not on serve_retention yet")
            raise
    asyncio.run(_scenario(endpoints, target))


async def _scenario(endpoints: dict, target: str) -> None:
    from callscope_analyzer.purge import purge_handler as analyzer_handler
    from callscope_recorder.purge import purge_handler as recorder_handler
    from callscope_transcriber.purge import purge_handler as transcriber_handler

    core = CoreSettings(
        kafka_bootstrap_servers=endpoints["kafka_bootstrap"],
        kafka_idempotence=False,
        database_url=endpoints["database_url"],
        object_store_backend="filesystem",
        object_store_path=Path(endpoints["object_store"].removeprefix("file://")),
    )
    objects = FilesystemObjectStore(core.object_store_path, core.recordings_bucket)
    tag = uuid.uuid4().hex[:6]
    expired = [f"e2e-{tag}-{n}" for n in range(5)]
    held, erased = f"e2e-{tag}-held", f"e2e-{tag}-erased"
    customer = f"sip:+3369{int(tag, 16) % 10**7:07d}@pstn.example"
    _seed(core.database_url, objects, [*expired, held, erased])
    pool = await open_pool(core.database_url, 3)
    producer = EventProducer(core, "e2e-services")
    await producer.start()
    stop = asyncio.Event()
    consumers = [
        EventConsumer(core, name, f"e2e-{name}-{tag}", [RETENTION_COMMANDS], handler, producer)
        for name, handler in (
            ("recorder", recorder_handler(pool, producer, objects, core)),
            ("transcriber", transcriber_handler(pool, producer)),
            ("analyzer", analyzer_handler(pool, producer)),
        )
    ]
    tasks = []
    for consumer in consumers:
        await consumer.start()
        tasks.append(asyncio.create_task(consumer.run(stop)))
    try:
        await asyncio.wait_for(asyncio.gather(*(c.assigned.wait() for c in consumers)), 90)
        for call_id in [*expired, held]:
            for event in _events(call_id, "sip:+33600000000@pstn.example"):
                await producer.publish(CALL_EVENTS, call_id, event)
        for event in _events(erased, customer):
            await producer.publish(CALL_EVENTS, erased, event)
        async with grpc.aio.insecure_channel(target) as channel:
            stub = retention_pb2_grpc.RetentionStub(channel)
            await _until(lambda: _registered(stub, [*expired, held, erased]), 60)
            hold = await stub.PlaceLegalHold(
                retention_pb2.PlaceLegalHoldRequest(
                    call_id=held, reason="e2e dispute", placed_by="e2e"
                ),
                timeout=10,
            )
            run = await stub.RunPurge(retention_pb2.RunPurgeRequest(requested_by="e2e"), timeout=60)

            async def complete() -> bool:
                status = await stub.GetPurgeRun(
                    retention_pb2.GetPurgeRunRequest(request_id=run.request_id), timeout=10
                )
                return status.status == "complete"

            await _until(complete, 60)
            for call_id in expired:
                info = await stub.GetRecordingRetention(
                    retention_pb2.GetRecordingRetentionRequest(call_id=call_id), timeout=10
                )
                assert info.state == "purged"
            info = await stub.GetRecordingRetention(
                retention_pb2.GetRecordingRetentionRequest(call_id=held), timeout=10
            )
            assert info.state == "live" and info.hold_ids == [hold.hold_id]
            report = await stub.EraseSubject(
                retention_pb2.EraseSubjectRequest(customer=customer, requested_by="e2e-dpo"),
                timeout=10,
            )

            async def proven() -> bool:
                nonlocal report
                report = await stub.GetErasureReport(
                    retention_pb2.GetErasureReportRequest(request_id=report.request_id),
                    timeout=10,
                )
                return report.complete

            await _until(proven, 60)
            assert json.loads(report.report_json)["calls"][0]["call_id"] == erased
            verified = await stub.VerifyAudit(retention_pb2.VerifyAuditRequest(), timeout=30)
            assert verified.ok, verified.problems
        with psycopg.connect(core.database_url) as conn:
            left = conn.execute(
                "SELECT count(*) FROM recorder.calls WHERE call_id = ANY(%s)",
                ([*expired, erased],),
            ).fetchone()
            kept = conn.execute(
                "SELECT count(*) FROM recorder.calls WHERE call_id = %s", (held,)
            ).fetchone()
        assert left == (0,) and kept == (1,)
        assert not (objects.root / objects.bucket / "recordings" / "e2e" / f"{erased}.wav").exists()
        assert (objects.root / objects.bucket / "recordings" / "e2e" / f"{held}.wav").exists()
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for consumer in consumers:
            await consumer.stop()
        await producer.stop()
        await pool.close()


async def _registered(stub: retention_pb2_grpc.RetentionStub, call_ids: list[str]) -> bool:
    for call_id in call_ids:
        try:
            await stub.GetRecordingRetention(
                retention_pb2.GetRecordingRetentionRequest(call_id=call_id), timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise
    return True


async def _until(predicate, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:.0f}s")
        await asyncio.sleep(0.2)
