"""Small in-process fakes of the Supervisor, Transcripts and Recorder gRPC servicers, served on
a real gRPC server on 127.0.0.1, and the console's HTTP app in front of them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp.test_utils import TestClient, TestServer

from callscope.v1 import (
    common_pb2,
    events_pb2,
    recorder_pb2,
    recorder_pb2_grpc,
    supervisor_pb2,
    supervisor_pb2_grpc,
    transcripts_pb2,
    transcripts_pb2_grpc,
)
from callscope_console.domain.access import UserDirectory
from callscope_console.feeds import CallFeeds, FloorHub
from callscope_console.upstream import Upstream
from callscope_console.web import Console, build_app

TOKENS = {
    "bea": "billing-token-123",  # supervisor of billing
    "sam": "support-token-456",  # supervisor of support
    "ada": "admin-token-789xx",
}
USERS = """
users:
  - {token: billing-token-123, user: bea, role: supervisor, queues: [billing]}
  - {token: support-token-456, user: sam, role: supervisor, queues: [support]}
  - {token: admin-token-789xx, user: ada, role: admin}
"""


def overview(call_id: str, queue: str, live: bool = True) -> supervisor_pb2.CallOverview:
    call = supervisor_pb2.CallOverview(
        call_id=call_id,
        queue=queue,
        agent_id=f"agent-of-{queue}",
        customer_number="sip:+33612345678@pstn.example",
        language="en",
        live=live,
    )
    call.started_at.GetCurrentTime()
    return call


def final(call_id: str, channel: int, no: int, text: str) -> supervisor_pb2.CallUpdate:
    return supervisor_pb2.CallUpdate(
        transcript=events_pb2.TranscriptSegment(
            call_id=call_id,
            channel=channel,
            utterance_no=no,
            version=1,
            kind=events_pb2.TranscriptSegment.KIND_FINAL,
            text=text,
            start_ms=no * 1000,
            end_ms=no * 1000 + 900,
        )
    )


def alert(alert_id: str, call_id: str, queue: str) -> events_pb2.SupervisorAlert:
    return events_pb2.SupervisorAlert(
        alert_id=alert_id,
        call_id=call_id,
        queue=queue,
        kind="human_request",
        severity=events_pb2.SupervisorAlert.SEVERITY_CRITICAL,
        reason="asked for a human twice",
        evidence=[
            events_pb2.AlertEvidence(
                channel=common_pb2.CHANNEL_CUSTOMER, utterance_no=1, text="a real agent now"
            )
        ],
    )


@dataclass
class FakeSupervisor(supervisor_pb2_grpc.SupervisorServicer):
    calls: dict[str, supervisor_pb2.CallOverview] = field(default_factory=dict)
    open_alerts: dict[str, events_pb2.SupervisorAlert] = field(default_factory=dict)
    history: dict[str, list[supervisor_pb2.CallUpdate]] = field(default_factory=dict)
    live: dict[str, asyncio.Queue[supervisor_pb2.CallUpdate | None]] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)
    floor_watchers: list[asyncio.Queue[supervisor_pb2.FloorUpdate | None]] = field(
        default_factory=list
    )
    watch_call_requests: list[supervisor_pb2.WatchCallRequest] = field(default_factory=list)
    acks: list[supervisor_pb2.AckAlertRequest] = field(default_factory=list)

    def publish_floor(self, update: supervisor_pb2.FloorUpdate) -> None:
        for queue in self.floor_watchers:
            queue.put_nowait(update)

    def start_call(self, call: supervisor_pb2.CallOverview) -> None:
        self.calls[call.call_id] = call
        self.history.setdefault(call.call_id, [])
        self.live[call.call_id] = asyncio.Queue()
        self.publish_floor(supervisor_pb2.FloorUpdate(call=call))

    def call_update(self, call_id: str, update: supervisor_pb2.CallUpdate) -> None:
        self.history[call_id].append(update)
        self.live[call_id].put_nowait(update)

    def raise_alert(self, found: events_pb2.SupervisorAlert) -> None:
        self.open_alerts[found.alert_id] = found
        self.call_update(found.call_id, supervisor_pb2.CallUpdate(alert=found))
        self.publish_floor(supervisor_pb2.FloorUpdate(alert=found))

    async def WatchFloor(self, request: Any, context: Any) -> AsyncIterator[Any]:
        queue: asyncio.Queue[supervisor_pb2.FloorUpdate | None] = asyncio.Queue()
        self.floor_watchers.append(queue)
        try:
            for call in self.calls.values():
                if call.live:
                    yield supervisor_pb2.FloorUpdate(call=call)
            for found in self.open_alerts.values():
                yield supervisor_pb2.FloorUpdate(alert=found)
            while True:
                update = await queue.get()
                if update is None:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "analyzer restarting")
                yield update
        finally:
            self.floor_watchers.remove(queue)

    def break_floor_streams(self) -> None:
        """Every open WatchFloor fails as if the analyzer restarted."""
        for queue in self.floor_watchers:
            queue.put_nowait(None)

    async def WatchCall(self, request: Any, context: Any) -> AsyncIterator[Any]:
        self.watch_call_requests.append(request)
        if request.call_id in self.refused:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "purpose not allowed")
        call = self.calls.get(request.call_id)
        if call is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such call")
        yield supervisor_pb2.CallUpdate(call=call)
        for update in list(self.history[request.call_id]):
            yield update
        if not call.live:
            return
        live = self.live[request.call_id]
        while (update := await live.get()) is not None:
            yield update

    async def AckAlert(self, request: Any, context: Any) -> Any:
        self.acks.append(request)
        found = self.open_alerts.pop(request.alert_id, None)
        if found is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no alert")
        ack = events_pb2.AlertAcknowledged(
            alert_id=found.alert_id,
            call_id=found.call_id,
            queue=found.queue,
            acknowledged_by=request.acknowledged_by,
        )
        self.publish_floor(supervisor_pb2.FloorUpdate(acknowledged=ack))
        return supervisor_pb2.AckAlertResponse(
            alert_id=found.alert_id, acknowledged=True, call_id=found.call_id
        )

    async def SearchCalls(self, request: Any, context: Any) -> Any:
        found = [
            call
            for call in self.calls.values()
            if (not request.call_ids or call.call_id in request.call_ids)
            and (not request.queues or call.queue in request.queues)
            and (not request.agent_id or call.agent_id == request.agent_id)
        ]
        return supervisor_pb2.SearchCallsResponse(calls=found)

    async def GetCallAnalysis(self, request: Any, context: Any) -> Any:
        call = self.calls[request.call_id]
        summary = events_pb2.CallSummary(call_id=call.call_id, categories=["billing_dispute"])
        summary.customer_sentiment.label = "negative"
        return supervisor_pb2.CallAnalysis(call_id=call.call_id, call=call, summary=summary)


@dataclass
class FakeTranscripts(transcripts_pb2_grpc.TranscriptsServicer):
    hits: list[transcripts_pb2.TranscriptHit] = field(default_factory=list)
    requests: list[Any] = field(default_factory=list)

    async def GetTranscript(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return transcripts_pb2.Transcript(
            call_id=request.call_id,
            version=2,
            segments=[final(request.call_id, common_pb2.CHANNEL_AGENT, 0, "Hello.").transcript],
        )

    async def SearchTranscripts(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        found = [h for h in self.hits if request.query.lower() in h.text.lower()]
        return transcripts_pb2.SearchTranscriptsResponse(hits=found)


@dataclass
class FakeRecorder(recorder_pb2_grpc.RecorderServicer):
    files: dict[str, Path] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)
    requests: list[Any] = field(default_factory=list)

    async def GetRecording(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        if request.call_id in self.refused:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, "purpose 'quality' expired for this call"
            )
        path = self.files.get(request.call_id)
        if path is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no stored recording")
        return recorder_pb2.GetRecordingResponse(url=f"file://{path}", expires_at_unix=2**33)


@dataclass
class Gateway:
    client: TestClient
    supervisor: FakeSupervisor
    transcripts: FakeTranscripts
    recorder: FakeRecorder
    console: Console

    async def get(self, path: str, user: str | None = None, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if user:
            headers["Authorization"] = f"Bearer {TOKENS[user]}"
        return await self.client.get(path, headers=headers, **kwargs)

    async def post(self, path: str, user: str, json: Any = None) -> Any:
        return await self.client.post(
            path, headers={"Authorization": f"Bearer {TOKENS[user]}"}, json=json or {}
        )


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    supervisor, transcripts, recorder = FakeSupervisor(), FakeTranscripts(), FakeRecorder()
    server = grpc.aio.server()
    supervisor_pb2_grpc.add_SupervisorServicer_to_server(supervisor, server)
    transcripts_pb2_grpc.add_TranscriptsServicer_to_server(transcripts, server)
    recorder_pb2_grpc.add_RecorderServicer_to_server(recorder, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    target = f"127.0.0.1:{port}"
    upstream = Upstream(target, target, target)
    floor = FloorHub(upstream.supervisor, upstream.analyzer_ready)
    console = Console(
        users=UserDirectory.from_yaml(USERS),
        upstream=upstream,
        floor=floor,
        calls=CallFeeds(upstream.supervisor, linger_s=60),
    )
    stop = asyncio.Event()
    floor_task = asyncio.create_task(floor.run(stop))
    await asyncio.wait_for(floor.connected.wait(), 5)
    client = TestClient(TestServer(build_app(console), handler_cancellation=True))
    await client.start_server()
    try:
        yield Gateway(client, supervisor, transcripts, recorder, console)
    finally:
        await client.close()
        stop.set()
        await asyncio.wait_for(floor_task, 5)
        await upstream.close()
        await server.stop(0)
