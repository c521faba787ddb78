"""The Supervisor gRPC API over a real gRPC server and PostgreSQL: replay, live, de-dup, errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from callscope.v1 import events_pb2, supervisor_pb2, supervisor_pb2_grpc
from callscope_analyzer.store import AnalyzerStore, SupervisorQueries
from callscope_analyzer.supervisor import LiveFeeds, SupervisorService
from callscope_core.db import migrate, open_pool

pytestmark = pytest.mark.integration

FINAL = events_pb2.TranscriptSegment.KIND_FINAL


@pytest.fixture
async def api(postgres_url: str) -> AsyncIterator[tuple]:
    await migrate(postgres_url, "analyzer", "callscope_analyzer")
    pool = await open_pool(postgres_url)
    feeds = LiveFeeds()
    server = grpc.aio.server()
    supervisor_pb2_grpc.add_SupervisorServicer_to_server(
        SupervisorService(SupervisorQueries(pool), feeds), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield AnalyzerStore(pool), feeds, supervisor_pb2_grpc.SupervisorStub(channel)
    finally:
        await channel.close()
        await server.stop(0)
        await pool.close()


async def _seed(store: AnalyzerStore, call_id: str) -> str:
    await store.upsert_call(call_id, "billing", "agent-7", "en")
    await store.save_utterance(
        call_id=call_id,
        channel="customer",
        utterance_no=0,
        version=1,
        text="I want to speak to an agent",
        language="en",
        start_ms=1000,
        end_ms=2500,
        sentiment_score=-0.4,
        sentiment_label="negative",
        human_requests=["agent"],
    )
    alert_id = f"alert-{call_id}"
    await store.record_alert(
        alert_id=alert_id,
        call_id=call_id,
        kind="human_request",
        severity="warning",
        reason="Customer asked for a human 2 times",
        at_ms=1000,
        evidence=[{"utterance_key": "customer:0", "at_ms": 1000, "text": "an agent"}],
    )
    return alert_id


def _final(call_id: str, number: int, text: str) -> supervisor_pb2.CallUpdate:
    return supervisor_pb2.CallUpdate(
        transcript=events_pb2.TranscriptSegment(
            call_id=call_id, channel=1, utterance_no=number, version=1, kind=FINAL, text=text
        )
    )


async def test_watch_call_replays_then_streams_live_without_duplicates(api: tuple) -> None:
    store, feeds, stub = api
    call_id = f"c-{uuid.uuid4().hex[:8]}"
    await _seed(store, call_id)
    stream = stub.WatchCall(supervisor_pb2.WatchCallRequest(call_id=call_id), timeout=10)
    replay = [await stream.read() for _ in range(3)]
    assert [u.WhichOneof("update") for u in replay] == ["transcript", "analysis", "alert"]
    assert replay[0].transcript.text == "I want to speak to an agent"
    assert replay[1].analysis.sentiment.label == "negative"
    assert replay[2].alert.queue == "billing" and replay[2].alert.evidence[0].utterance_no == 0

    async with asyncio.timeout(5):  # the server subscribed before replaying
        while feeds.calls.watchers(call_id) == 0:
            await asyncio.sleep(0.01)
    feeds.call_update(call_id, _final(call_id, 0, "I want to speak to an agent"))  # replayed
    feeds.call_update(call_id, _final(call_id, 1, "agent now please"))
    feeds.call_update(call_id, supervisor_pb2.CallUpdate(summary=events_pb2.CallSummary()))
    live = await stream.read()
    assert live.transcript.utterance_no == 1
    assert (await stream.read()).WhichOneof("update") == "summary"
    assert await stream.read() == grpc.aio.EOF


async def test_unknown_call_and_bad_requests_get_clear_status_codes(api: tuple) -> None:
    _, _, stub = api
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.WatchCall(supervisor_pb2.WatchCallRequest(call_id="nope"), timeout=5).read()
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetCallAnalysis(supervisor_pb2.GetCallAnalysisRequest(call_id=""), timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.AckAlert(supervisor_pb2.AckAlertRequest(alert_id="x", acknowledged_by="sup"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_analysis_and_acknowledgement(api: tuple) -> None:
    store, _, stub = api
    call_id = f"c-{uuid.uuid4().hex[:8]}"
    alert_id = await _seed(store, call_id)
    analysis = await stub.GetCallAnalysis(
        supervisor_pb2.GetCallAnalysisRequest(call_id=call_id), timeout=5
    )
    assert len(analysis.utterances) == 1 and analysis.alerts[0].alert_id == alert_id
    reply = await stub.AckAlert(
        supervisor_pb2.AckAlertRequest(alert_id=alert_id, acknowledged_by="sup-1"), timeout=5
    )
    assert reply.acknowledged
    again = await stub.AckAlert(
        supervisor_pb2.AckAlertRequest(alert_id=alert_id, acknowledged_by="sup-2"), timeout=5
    )
    assert again.acknowledged  # idempotent; the first supervisor stays recorded
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.AckAlert(supervisor_pb2.AckAlertRequest(alert_id=alert_id), timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_watch_floor_lists_live_calls_of_the_queue_and_streams_alerts(api: tuple) -> None:
    store, feeds, stub = api
    call_id = f"c-{uuid.uuid4().hex[:8]}"
    await _seed(store, call_id)
    stream = stub.WatchFloor(supervisor_pb2.WatchFloorRequest(queue="billing"), timeout=10)
    seen = set()
    async with asyncio.timeout(5):
        while call_id not in seen:
            update = await stream.read()
            seen.add(update.call_started.call_id)
        while feeds.floor.watchers("billing") == 0:
            await asyncio.sleep(0.01)
    other = events_pb2.SupervisorAlert(alert_id="other", queue="sales")
    mine = events_pb2.SupervisorAlert(alert_id="mine", queue="billing")
    feeds.floor_update("sales", supervisor_pb2.FloorUpdate(alert=other))
    feeds.floor_update("billing", supervisor_pb2.FloorUpdate(alert=mine))
    assert (await stream.read()).alert.alert_id == "mine"  # never the other queue's
    stream.cancel()
