"""Proof recordings under S3 Object Lock (COMPLIANCE retention, legal-hold flag), against a real
S3 endpoint (moto server): held data and locked proof survive a purge run, a wrong purge
command and an erasure request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from callscope.v1 import events_pb2
from callscope_core.purge import REFUSED_LOCKED
from callscope_core.settings import CoreSettings
from callscope_core.storage import S3ObjectStore
from callscope_core.topics import RETENTION_COMMANDS
from callscope_recorder.purge import S3RecordingLocks
from callscope_recorder.purge import purge_handler as recorder_handler
from callscope_retention.engine import RetentionEngine
from callscope_retention.holds import HoldRequest

from .conftest import T0, Bus, World, retention_settings

pytestmark = pytest.mark.integration

CUSTOMER = "sip:+33655555555@pstn.example"


@pytest.fixture
async def locked_world(pool, clock, s3_endpoint) -> AsyncIterator[tuple[World, Any]]:  # type: ignore[no-untyped-def]
    from minio import Minio

    from callscope_analyzer.purge import purge_handler as analyzer_handler
    from callscope_transcriber.purge import purge_handler as transcriber_handler

    store = S3ObjectStore(
        s3_endpoint,
        "testing",
        "testing",
        "proof",
        secure=False,
        region="us-east-1",
        object_lock=True,
    )
    await store.ensure_bucket()
    client = Minio(s3_endpoint, "testing", "testing", secure=False, region="us-east-1")
    bus = Bus()
    engine = RetentionEngine(pool, bus, retention_settings(), clock)
    await engine.start()
    bus.engine = engine
    core = CoreSettings(object_store_backend="s3")
    bus.command_handlers = [
        recorder_handler(pool, bus, store, core, locks=S3RecordingLocks(client), clock=clock),
        transcriber_handler(pool, bus, clock=clock),
        analyzer_handler(pool, bus, clock=clock),
    ]
    yield World(pool, clock, bus, engine, store), client


def retention_of(client, key: str) -> datetime | None:  # type: ignore[no-untyped-def]
    return S3RecordingLocks(client).lock_state("proof", key)[1]


async def test_locked_proof_and_held_data_survive_purge_and_erasure(locked_world) -> None:  # type: ignore[no-untyped-def]
    world, client = locked_world
    engine = world.engine
    await world.call("P", customer=CUSTOMER, purposes=("proof", "quality"))
    await world.call("Q", customer=CUSTOMER, purposes=("quality",))
    key_p = (await engine.access.retention_of("P")).object_key
    key_q = (await engine.access.retention_of("Q")).object_key

    # Proof retention becomes an Object Lock on the stored version, confirmed back.
    await engine.maintain()
    await world.bus.pump()
    proof_until = T0 + timedelta(days=1825)
    assert retention_of(client, key_p) == proof_until
    assert (await engine.access.retention_of("P")).lock_until == proof_until
    assert retention_of(client, key_q) is None

    # A legal hold on the customer sets the legal-hold flag on both recordings.
    hold = await engine.place_hold(
        HoldRequest(reason="litigation 2026-17", placed_by="legal", customer="+33655555555")
    )
    await world.bus.pump()
    assert client.is_object_legal_hold_enabled("proof", key_p)
    assert client.is_object_legal_hold_enabled("proof", key_q)

    # Day 200: Q's quality period is over but it is held: the purge run leaves it.
    world.clock.at_day(200)
    await engine.purge.run()
    await world.bus.pump()
    assert await world.holdings("Q") == {
        "recorder": 1,
        "transcriber": 2,
        "analyzer": 2,
        "object": 1,
    }
    # Even a purge command sent by mistake (bypassing retention) cannot delete locked objects.
    wrong = events_pb2.PurgeCalls(
        request_id="mistake",
        batch_id="mistake",
        targets=[events_pb2.PurgeTarget(call_id=c, data_kinds=["recording"]) for c in "PQ"],
    )
    await world.bus.deliver(RETENTION_COMMANDS.name, "mistake", wrong)
    [reply] = world.bus.take(events_pb2.CallsPurged)
    assert [r.status for r in reply.results] == [REFUSED_LOCKED, REFUSED_LOCKED]
    assert "AccessDenied" in reply.results[0].detail
    assert await world.holdings("P") == {
        "recorder": 1,
        "transcriber": 2,
        "analyzer": 2,
        "object": 1,
    }
    assert await world.holdings("Q") == {
        "recorder": 1,
        "transcriber": 2,
        "analyzer": 2,
        "object": 1,
    }

    # An erasure request while held keeps everything, and says why.
    report = await engine.erasure.erase(CUSTOMER, "dpo", "request 1")
    assert report.report_sha256  # nothing to wait for: complete at once
    for call in report.calls:
        assert call["erased_kinds"] == []
        assert all(
            "legal hold" in k["reason"] and "17(3)(e)" in k["legal_basis"] for k in call["kept"]
        )
    await world.bus.pump()
    assert await world.holdings("Q") == {
        "recorder": 1,
        "transcriber": 2,
        "analyzer": 2,
        "object": 1,
    }

    # Released: the flag comes off; a second erasure erases Q but keeps P's proof.
    await engine.release_hold(hold.hold_id, "legal", "settled")
    await world.bus.pump()
    assert not client.is_object_legal_hold_enabled("proof", key_q)
    report = await engine.erasure.erase(CUSTOMER, "dpo", "request 2")
    await world.bus.pump()
    report = await engine.erasure.report(report.request_id)
    assert report.report_sha256
    by_call = {c["call_id"]: c for c in report.calls}
    assert by_call["Q"]["erased_kinds"] == ["analysis", "recording", "transcript"]
    assert {k["data_kind"] for k in by_call["P"]["kept"]} == {"recording", "transcript"}
    assert await world.holdings("Q") == {
        "recorder": 0,
        "transcriber": 0,
        "analyzer": 0,
        "object": 0,
    }
    assert not list(client.list_objects("proof", prefix=key_q, include_version=True))

    # A new policy shortens proof to 30 days: reported, and the lock still wins.
    change, _ = await engine.policies.apply(
        "rules: [{tenant: '*', queue: '*', periods_days: {proof: 30, quality: 183,"
        " analytics: 365}, default_purposes: [quality]}]",
        by="dpo",
        comment="test",
        now=world.clock(),
        dry_run=False,
    )
    assert any("Object Lock" in w for w in change.warnings)
    plan = await engine.purge.plan()
    assert plan.locked_items == 1 and "recording" not in plan.items_by_kind
    await engine.purge.run()
    await world.bus.pump()
    assert await world.holdings("P") == {
        "recorder": 1,
        "transcriber": 0,
        "analyzer": 0,
        "object": 1,
    }
    assert await world.objects.get(key_p) == b"RIFF-P"
