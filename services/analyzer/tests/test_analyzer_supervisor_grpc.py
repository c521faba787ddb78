"""The Supervisor gRPC API over real gRPC servers, PostgreSQL, Tansu and retention's real
CheckAccess: replay + live without duplicates, use limitation (live-assist on a live call,
expired and wrong purposes refused, fail closed), the floor snapshot and its changes, the
acknowledgement broadcast across replicas over callscope.alerts, and SearchCalls."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from callscope.v1 import (
    common_pb2,
    events_pb2,
    retention_pb2_grpc,
    supervisor_pb2,
    supervisor_pb2_grpc,
)
from callscope_analyzer.domain.teams import define_team
from callscope_analyzer.store import AnalyzerStore, SupervisorQueries
from callscope_analyzer.supervisor import LiveFeeds, SupervisorService
from callscope_core.access import AccessGate
from callscope_core.db import migrate, open_pool
from callscope_core.kafka import ConsumedEvent, EventConsumer, EventProducer, ensure_topics
from callscope_core.settings import CoreSettings
from callscope_core.topics import ALERTS, CALL_EVENTS, DEADLETTER
from callscope_retention.engine import RetentionEngine
from callscope_retention.grpc_api import RetentionServicer
from callscope_retention.settings import RetentionSettings

pytestmark = pytest.mark.integration

FINAL = events_pb2.TranscriptSegment.KIND_FINAL
SUPERVISOR = "sup-1@example"


class Clock:
    """Retention's clock, which the test moves forward to expire a purpose."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Replica:
    """One analyzer replica's Supervisor API: its feeds, its server, its alerts consumer."""

    feeds: LiveFeeds
    stub: supervisor_pb2_grpc.SupervisorStub
    consumer: EventConsumer


@dataclass
class World:
    store: AnalyzerStore
    producer: EventProducer
    engine: RetentionEngine
    clock: Clock
    replicas: list[Replica]
    retention_target: str
    make_service: Callable[[str], SupervisorService]
    prefix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    @property
    def a(self) -> Replica:
        return self.replicas[0]

    def cid(self, name: str) -> str:
        return f"{name}-{self.prefix}"

    async def start_call(
        self,
        call_id: str,
        queue: str = "billing",
        *,
        customer: str = "+33612345678",
        agent: str = "agent-7",
    ) -> None:
        """CallStarted as both retention and the analyzer learn it."""
        started = events_pb2.CallStarted(
            call_id=call_id,
            source="siprec",
            queue=queue,
            agent_id=agent,
            language="en",
            participants=[
                events_pb2.Participant(aor=customer, channel=common_pb2.CHANNEL_CUSTOMER),
                events_pb2.Participant(aor=f"sip:{agent}@cc", channel=common_pb2.CHANNEL_AGENT),
            ],
        )
        started.started_at.FromDatetime(self.clock())
        await self.engine.on_event(ConsumedEvent(CALL_EVENTS.name, 0, 0, call_id, started, (), 0))
        await self.store.upsert_call(
            call_id,
            queue,
            agent,
            "en",
            customer_number=customer,
            started_at=self.clock(),
        )

    async def store_recording(self, call_id: str, purposes: tuple[str, ...]) -> None:
        stored = events_pb2.RecordingStored(
            call_id=call_id,
            object_key=f"recordings/{call_id}.wav",
            bucket="callscope-recordings",
            content_type="audio/wav",
            size_bytes=44,
            sha256="0" * 64,
            queue="billing",
            purposes=list(purposes),
        )
        stored.meta.occurred_at.FromDatetime(self.clock())
        await self.engine.on_event(ConsumedEvent(CALL_EVENTS.name, 0, 0, call_id, stored, (), 0))

    async def utterance(
        self, call_id: str, number: int, text: str, score: float, label: str
    ) -> None:
        await self.store.save_utterance(
            call_id=call_id,
            channel="customer",
            utterance_no=number,
            version=1,
            text=text,
            language="en",
            start_ms=1000 * (number + 1),
            end_ms=1000 * (number + 1) + 800,
            sentiment_score=score,
            sentiment_label=label,
            human_requests=["agent"] if "agent" in text else [],
            categories=["complaint"],
        )

    async def alert(self, call_id: str, name: str) -> str:
        alert_id = f"{name}-{call_id}"
        await self.store.record_alert(
            alert_id=alert_id,
            call_id=call_id,
            kind="human_request",
            severity="warning",
            reason="Customer asked for a human 2 times",
            at_ms=1000,
            evidence=[{"utterance_key": "customer:0", "at_ms": 1000, "text": "an agent"}],
        )
        await self.store.mark_published(alert_id)
        return alert_id


async def _serve(add: Callable[..., None], servicer: object) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    add(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def _wait_listening(consumer: EventConsumer) -> None:
    """A consumer from the latest offset hears what is published once it has fetched each
    partition (its position is then fixed); the lag gauge is filled at that point."""
    async with asyncio.timeout(30):
        await consumer.assigned.wait()
        while len(consumer.lag) < ALERTS.partitions + CALL_EVENTS.partitions:
            await asyncio.sleep(0.1)


@pytest.fixture
async def world(postgres_url: str, core_settings: CoreSettings) -> AsyncIterator[World]:
    await migrate(postgres_url, "analyzer", "callscope_analyzer")
    await migrate(postgres_url, "retention", "callscope_retention")
    await ensure_topics(core_settings, [ALERTS, CALL_EVENTS, DEADLETTER])
    pool = await open_pool(postgres_url, 8)
    producer = EventProducer(core_settings, "analyzer-test")
    await producer.start()
    clock = Clock()
    engine = RetentionEngine(
        pool, producer, RetentionSettings(purge_batch_size=50, purge_retry_after_s=60.0), clock
    )
    await engine.start()
    retention_server, retention_target = await _serve(
        retention_pb2_grpc.add_RetentionServicer_to_server, RetentionServicer(engine)
    )
    gates: list[AccessGate] = []

    def make_service(target: str, feeds: LiveFeeds | None = None) -> SupervisorService:
        gate = AccessGate(target, timeout_s=2.0)
        gates.append(gate)
        return SupervisorService(SupervisorQueries(pool), feeds or LiveFeeds(), gate, producer)

    stop = asyncio.Event()
    servers, channels, tasks, replicas = [], [], [], []
    for n in range(2):  # two analyzer replicas behind the same topic
        feeds = LiveFeeds(queue_of=SupervisorQueries(pool).queue_of)
        server, target = await _serve(
            supervisor_pb2_grpc.add_SupervisorServicer_to_server,
            make_service(retention_target, feeds),
        )
        consumer = EventConsumer(
            core_settings,
            f"analyzer-{n}",
            f"callscope-analyzer-feed-test-{uuid.uuid4().hex[:8]}",
            [ALERTS, CALL_EVENTS],
            feeds.on_broadcast_event,
            producer,
            auto_offset_reset="latest",
        )
        await consumer.start()
        tasks.append(asyncio.create_task(consumer.run(stop)))
        channel = grpc.aio.insecure_channel(target)
        servers.append(server)
        channels.append(channel)
        replicas.append(Replica(feeds, supervisor_pb2_grpc.SupervisorStub(channel), consumer))
    try:
        for replica in replicas:
            await _wait_listening(replica.consumer)
        yield World(
            AnalyzerStore(pool), producer, engine, clock, replicas, retention_target, make_service
        )
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for replica in replicas:
            await replica.consumer.stop()
        for channel in channels:
            await channel.close()
        for server in [*servers, retention_server]:
            await server.stop(0)
        for gate in gates:
            await gate.close()
        await producer.stop()
        await pool.close()


def watch(call_id: str, purpose: str = "live-assist", by: str = SUPERVISOR):
    return supervisor_pb2.WatchCallRequest(call_id=call_id, requested_by=by, purpose=purpose)


def _final(call_id: str, number: int, text: str) -> supervisor_pb2.CallUpdate:
    return supervisor_pb2.CallUpdate(
        transcript=events_pb2.TranscriptSegment(
            call_id=call_id, channel=1, utterance_no=number, version=1, kind=FINAL, text=text
        )
    )


async def _until_watching(topic, key: str) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(5):
        while topic.watchers(key) == 0:
            await asyncio.sleep(0.01)


async def test_watch_live_call_for_live_assist_overview_replay_live_then_end(world: World) -> None:
    call_id = world.cid("live")
    await world.start_call(call_id)
    await world.utterance(call_id, 0, "I want to speak to an agent", -0.4, "negative")
    await world.store.update_live_sentiment(call_id, -0.4, "negative", ["complaint"])
    alert_id = await world.alert(call_id, "a1")

    stream = world.a.stub.WatchCall(watch(call_id), timeout=20)
    first = await stream.read()
    assert first.WhichOneof("update") == "call"
    assert first.call.live and first.call.customer_number == "+33612345678"
    assert first.call.customer_sentiment.label == "negative"
    assert list(first.call.categories) == ["complaint"] and first.call.open_alerts == 1
    replay = [await stream.read() for _ in range(3)]
    assert [u.WhichOneof("update") for u in replay] == ["transcript", "analysis", "alert"]
    assert replay[2].alert.alert_id == alert_id and replay[2].alert.queue == "billing"

    await _until_watching(world.a.feeds.calls, call_id)
    feeds = world.a.feeds
    feeds.call_update(call_id, _final(call_id, 0, "I want to speak to an agent"))  # replayed
    feeds.call_update(call_id, _final(call_id, 1, "agent now please"))
    ended = supervisor_pb2.CallOverview(call_id=call_id, live=False)
    feeds.call_update(call_id, supervisor_pb2.CallUpdate(call=ended))
    feeds.call_update(call_id, supervisor_pb2.CallUpdate(summary=events_pb2.CallSummary()))
    assert (await stream.read()).transcript.utterance_no == 1
    again = await stream.read()
    assert again.WhichOneof("update") == "call" and not again.call.live
    assert (await stream.read()).WhichOneof("update") == "summary"
    assert await stream.read() == grpc.aio.EOF

    # Retention audited the view under the caller's name and purpose.
    entries = await world.engine.audit.entries(subject=f"call:{call_id}", limit=10)
    assert [(e.actor, e.action) for e in entries] == [(SUPERVISOR, "access.transcript.view")]
    assert json.loads(entries[0].details) == {"allowed": True, "purpose": "live-assist"}


async def test_access_refusals_expired_purpose_and_fail_closed(world: World) -> None:
    call_id = world.cid("refused")
    await world.start_call(call_id)
    stub = world.a.stub

    async def code_of(request) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.WatchCall(request, timeout=10).read()
        return err.value.code(), err.value.details() or ""

    code, reason = await code_of(watch(call_id, purpose="quality"))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "is live" in reason
    code, reason = await code_of(watch(call_id, by=""))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "requested_by" in reason
    code, reason = await code_of(watch(call_id, purpose=""))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "purpose" in reason
    code, reason = await code_of(watch(world.cid("never-started")))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "known to retention" in reason

    world.clock.now += timedelta(days=2)  # live_assist lasts one day
    code, reason = await code_of(watch(call_id))
    assert code == grpc.StatusCode.PERMISSION_DENIED and "expired" in reason
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetCallAnalysis(
            supervisor_pb2.GetCallAnalysisRequest(
                call_id=call_id, requested_by=SUPERVISOR, purpose="live-assist"
            ),
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED and "expired" in (
        err.value.details() or ""
    )

    # Retention unreachable: nothing is served.
    service = world.make_service("127.0.0.1:9")
    server, target = await _serve(supervisor_pb2_grpc.add_SupervisorServicer_to_server, service)
    try:
        async with grpc.aio.insecure_channel(target) as channel:
            blind = supervisor_pb2_grpc.SupervisorStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await blind.WatchCall(watch(call_id), timeout=10).read()
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await blind.GetCallAnalysis(
                    supervisor_pb2.GetCallAnalysisRequest(
                        call_id=call_id, requested_by=SUPERVISOR, purpose="quality"
                    ),
                    timeout=10,
                )
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(0)


async def test_bad_requests_and_a_call_retention_knows_but_the_analyzer_does_not(
    world: World,
) -> None:
    stub = world.a.stub
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetCallAnalysis(supervisor_pb2.GetCallAnalysisRequest(call_id=""), timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    call_id = world.cid("retention-only")
    started = events_pb2.CallStarted(call_id=call_id, queue="billing")
    started.started_at.FromDatetime(world.clock())
    await world.engine.on_event(ConsumedEvent(CALL_EVENTS.name, 0, 0, call_id, started, (), 0))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.WatchCall(watch(call_id), timeout=5).read()
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.AckAlert(supervisor_pb2.AckAlertRequest(alert_id="x", acknowledged_by="sup"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.AckAlert(supervisor_pb2.AckAlertRequest(alert_id="x"), timeout=5)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.WatchFloor(supervisor_pb2.WatchFloorRequest(team="no-such"), timeout=5).read()
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert "no-such" in (err.value.details() or "")


async def test_call_analysis_of_an_ended_call_for_quality(world: World) -> None:
    call_id = world.cid("ended")
    await world.start_call(call_id)
    await world.utterance(call_id, 0, "I want to speak to an agent", -0.4, "negative")
    alert_id = await world.alert(call_id, "a1")
    await world.store.end_call(call_id, 61_000)
    await world.store.save_summary(
        call_id,
        1,
        {
            "customer_sentiment": -0.4,
            "customer_sentiment_label": "negative",
            "sentiment_by_quarter": [-0.4, None, None, None],
            "categories": ["complaint"],
            "metrics": {"channels": {"customer": {"talk_ms": 800}}, "silence_ms": 100},
            "qa_score": 50.0,
            "alert_keys": ["human_request/v1"],
        },
        50.0,
    )
    await world.store_recording(call_id, ("quality",))
    await world.a.stub.AckAlert(
        supervisor_pb2.AckAlertRequest(alert_id=alert_id, acknowledged_by="sup-2"), timeout=10
    )

    request = supervisor_pb2.GetCallAnalysisRequest(
        call_id=call_id, requested_by="qa@example", purpose="quality"
    )
    analysis = await world.a.stub.GetCallAnalysis(request, timeout=10)
    assert [u.text for u in analysis.utterances] == ["I want to speak to an agent"]
    assert [a.alert_id for a in analysis.alerts] == [alert_id]
    assert list(analysis.acknowledged_alert_ids) == [alert_id]
    assert not analysis.call.live and analysis.call.duration_ms == 61_000
    assert analysis.call.open_alerts == 0
    assert analysis.summary.customer_sentiment.label == "negative"
    assert analysis.summary.customer_talk_ms == 800 and analysis.summary.qa_score == 50.0

    # WatchCall of an ended call: overview, replay with the acknowledgement, summary, end.
    stream = world.a.stub.WatchCall(watch(call_id, purpose="quality"), timeout=10)
    kinds = [u.WhichOneof("update") async for u in stream]
    assert kinds == ["call", "transcript", "analysis", "alert", "acknowledged", "summary"]
    # The call is no longer live: live-assist does not cover it any more.
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await world.a.stub.GetCallAnalysis(
            supervisor_pb2.GetCallAnalysisRequest(
                call_id=call_id, requested_by=SUPERVISOR, purpose="live-assist"
            ),
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_ack_is_broadcast_to_every_replica_and_idempotent(world: World) -> None:
    call_id = world.cid("ack")
    await world.start_call(call_id, queue="claims")
    alert_id = await world.alert(call_id, "a1")
    a, b = world.replicas

    watcher = a.stub.WatchCall(watch(call_id), timeout=30)  # a console on replica A
    floor = b.stub.WatchFloor(  # another console on replica B
        supervisor_pb2.WatchFloorRequest(queues=["claims"], requested_by="floor@example"),
        timeout=30,
    )
    assert [(await watcher.read()).WhichOneof("update") for _ in range(2)] == ["call", "alert"]
    snapshot = [await floor.read() for _ in range(2)]
    assert snapshot[0].call.call_id == call_id and snapshot[0].call.open_alerts == 1
    assert snapshot[1].alert.alert_id == alert_id
    await _until_watching(a.feeds.calls, call_id)
    await _until_watching(b.feeds.floor, "*")

    reply = await a.stub.AckAlert(
        supervisor_pb2.AckAlertRequest(alert_id=alert_id, acknowledged_by="sup-1"), timeout=10
    )
    assert reply.acknowledged and reply.call_id == call_id
    async with asyncio.timeout(15):
        on_a = await watcher.read()
        on_b = await floor.read()
    assert on_a.acknowledged.alert_id == alert_id and on_a.acknowledged.acknowledged_by == "sup-1"
    assert on_b.acknowledged.alert_id == alert_id and on_b.acknowledged.queue == "claims"

    again = await b.stub.AckAlert(
        supervisor_pb2.AckAlertRequest(alert_id=alert_id, acknowledged_by="sup-2"), timeout=10
    )
    assert again.acknowledged  # harmless; the first supervisor stays recorded
    row = await world.store.queries.acknowledge(alert_id, "sup-3")
    assert row is not None and row["acknowledged_by"] == "sup-1"
    # Consoles already showing it acknowledged are not told twice.
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(2):
            await watcher.read()
    watcher.cancel()
    floor.cancel()


async def test_floor_snapshot_in_scope_then_filtered_changes(world: World) -> None:
    queue_a, queue_b, other = (world.cid(q) for q in ("sales", "retention", "other"))
    live_a, live_b, live_other, ended = (world.cid(c) for c in ("la", "lb", "lo", "le"))
    await world.start_call(live_a, queue_a)
    await world.start_call(live_b, queue_b)
    await world.start_call(live_other, other)
    await world.start_call(ended, queue_a)
    await world.store.end_call(ended, 1000)
    open_alert = await world.alert(live_b, "open")
    acked = await world.alert(live_b, "acked")
    await world.store.queries.acknowledge(acked, "sup-1")

    floor = world.a.stub.WatchFloor(
        supervisor_pb2.WatchFloorRequest(queue=queue_a, queues=[queue_b]), timeout=30
    )
    snapshot = [await floor.read() for _ in range(3)]
    assert [u.call.call_id for u in snapshot[:2]] == [live_a, live_b]
    assert snapshot[1].call.open_alerts == 1 and snapshot[0].call.live
    assert snapshot[2].alert.alert_id == open_alert  # open ones only

    await _until_watching(world.a.feeds.floor, "*")
    feeds = world.a.feeds
    started = events_pb2.CallStarted(call_id=world.cid("new"), queue=other)
    feeds.floor_update(other, started.call_id, supervisor_pb2.FloorUpdate(call_started=started))
    mine = events_pb2.SupervisorAlert(alert_id="mine", call_id=live_a, queue=queue_a)
    feeds.alert(mine)
    feeds.alert(mine)  # the same alert back from callscope.alerts: once
    overview = supervisor_pb2.CallOverview(call_id=live_b, queue=queue_b)
    feeds.floor_update(queue_b, live_b, supervisor_pb2.FloorUpdate(call=overview))
    ended_msg = events_pb2.CallEnded(call_id=live_a)
    feeds.floor_update(queue_a, live_a, supervisor_pb2.FloorUpdate(call_ended=ended_msg))
    # Once ended, a late live update of the call (its last FINAL's sentiment, a redelivered
    # CallStarted) does not put it back on the floor.
    late = supervisor_pb2.CallOverview(call_id=live_a, queue=queue_a, live=True)
    feeds.floor_update(queue_a, live_a, supervisor_pb2.FloorUpdate(call=late))
    again = events_pb2.CallStarted(call_id=live_a, queue=queue_a)
    feeds.floor_update(queue_a, live_a, supervisor_pb2.FloorUpdate(call_started=again))
    feeds.floor_update(queue_b, live_b, supervisor_pb2.FloorUpdate(call=overview))
    got = [await floor.read() for _ in range(4)]
    assert [u.WhichOneof("update") for u in got] == ["alert", "call", "call_ended", "call"]
    assert got[0].alert.alert_id == "mine" and got[2].call_ended.call_id == live_a
    assert got[3].call.call_id == live_b
    floor.cancel()


async def test_floor_of_a_team_follows_its_agents_calls_in_any_queue(world: World) -> None:
    team_queue, other, third = (world.cid(q) for q in ("team-q", "other-q", "third-q"))
    member, stranger = world.cid("member"), world.cid("stranger")
    in_queue, by_member, unrelated = (world.cid(c) for c in ("in-queue", "by-member", "unrel"))
    await world.start_call(in_queue, team_queue, agent=stranger)
    await world.start_call(by_member, other, agent=member)
    await world.start_call(unrelated, other, agent=stranger)
    team = define_team(world.cid("team"), [team_queue], [member])
    await world.store.queries.teams.put(team, "ops")

    floor = world.a.stub.WatchFloor(supervisor_pb2.WatchFloorRequest(team=team.name), timeout=30)
    snapshot = [await floor.read() for _ in range(2)]
    assert sorted(u.call.call_id for u in snapshot) == sorted([in_queue, by_member])

    await _until_watching(world.a.feeds.floor, "*")
    feeds = world.a.feeds
    new = events_pb2.CallStarted(call_id=world.cid("new"), queue=third, agent_id=member)
    feeds.floor_update(third, new.call_id, supervisor_pb2.FloorUpdate(call_started=new))
    strange = events_pb2.CallStarted(call_id=world.cid("strange"), queue=other, agent_id=stranger)
    feeds.floor_update(other, strange.call_id, supervisor_pb2.FloorUpdate(call_started=strange))
    feeds.alert(
        events_pb2.SupervisorAlert(alert_id=world.cid("a0"), call_id=unrelated, agent=stranger)
    )
    # Neither an acknowledgement nor a call's end names the agent: they follow the call.
    ack = events_pb2.AlertAcknowledged(alert_id=world.cid("a1"), call_id=new.call_id, queue=third)
    feeds.acknowledged(ack)
    ended = events_pb2.CallEnded(call_id=by_member)
    feeds.floor_update(other, by_member, supervisor_pb2.FloorUpdate(call_ended=ended))
    unrelated_end = supervisor_pb2.FloorUpdate(call_ended=events_pb2.CallEnded(call_id=unrelated))
    feeds.floor_update(other, unrelated, unrelated_end)
    last = events_pb2.CallEnded(call_id=in_queue)
    feeds.floor_update(team_queue, in_queue, supervisor_pb2.FloorUpdate(call_ended=last))
    got = [await floor.read() for _ in range(4)]
    assert [u.WhichOneof("update") for u in got] == [
        "call_started",
        "acknowledged",
        "call_ended",
        "call_ended",
    ]
    assert got[0].call_started.call_id == new.call_id
    assert [got[2].call_ended.call_id, got[3].call_ended.call_id] == [by_member, in_queue]
    floor.cancel()


async def test_search_calls_filters_newest_first(world: World) -> None:
    q = world.cid("q")
    names = ("old", "mid", "new")
    for n, name in enumerate(names):
        world.clock.now = datetime(2026, 3, 1 + n, 9, tzinfo=UTC)
        await world.start_call(world.cid(name), q)
    await world.store.update_live_sentiment(world.cid("mid"), -0.6, "negative", ["cancel"])
    await world.store.update_live_sentiment(world.cid("new"), 0.5, "positive", ["compliment"])
    stub = world.a.stub

    async def search(**kw: object) -> list[str]:
        reply = await stub.SearchCalls(supervisor_pb2.SearchCallsRequest(**kw), timeout=10)
        return [c.call_id for c in reply.calls]

    every = [world.cid(n) for n in reversed(names)]
    assert await search(queues=[q]) == every
    assert await search(queues=[q], limit=2) == every[:2]
    assert await search(queues=[q], sentiment_label="negative") == [world.cid("mid")]
    assert await search(queues=[q], category="compliment") == [world.cid("new")]
    assert await search(call_ids=[world.cid("old"), "nope"]) == [world.cid("old")]
    assert await search(queues=[q], agent_id="someone-else") == []
    start, end = Timestamp(), Timestamp()
    start.FromDatetime(datetime(2026, 3, 2, tzinfo=UTC))
    end.FromDatetime(datetime(2026, 3, 3, tzinfo=UTC))
    assert await search(queues=[q], started_from=start, started_to=end) == [world.cid("mid")]
    reply = await stub.SearchCalls(supervisor_pb2.SearchCallsRequest(queues=[q], limit=1))
    assert reply.calls[0].customer_number == "+33612345678"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SearchCalls(supervisor_pb2.SearchCallsRequest(sentiment_label="angry"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        backwards = supervisor_pb2.SearchCallsRequest(started_from=end, started_to=start)
        await stub.SearchCalls(backwards)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_every_replica_floor_hears_calls_another_replica_analyses(world: World) -> None:
    """A call's CallStarted/CallEnded reach one analyzer replica's handler; the floors of the
    others learn of them from callscope.call.events all the same."""
    queue = world.cid("q")
    call_id = world.cid("elsewhere")
    floor = world.replicas[1].stub.WatchFloor(
        supervisor_pb2.WatchFloorRequest(queues=[queue]), timeout=30
    )
    await _until_watching(world.replicas[1].feeds.floor, "*")
    started = events_pb2.CallStarted(call_id=call_id, queue=queue)
    await world.producer.publish(CALL_EVENTS, call_id, started)
    await world.store.upsert_call(call_id, queue, "agent-7", "en")  # as replica A would
    async with asyncio.timeout(15):
        first = await floor.read()
    assert first.call_started.call_id == call_id
    ended = events_pb2.CallEnded(call_id=call_id, duration_ms=5000)
    await world.producer.publish(CALL_EVENTS, call_id, ended)
    async with asyncio.timeout(15):
        second = await floor.read()
    assert second.call_ended.call_id == call_id  # filtered in: its queue was looked up
    floor.cancel()
