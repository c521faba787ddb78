"""gRPC `callscope.v1.Supervisor`: live views of calls and of the floor for supervisors.

WatchCall replays what the analyzer already stored for the call, then streams live updates
(de-duplicated against the replay), so a client that connects late or reconnects after a
drop misses nothing and sees nothing twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime

import grpc

from callscope.v1 import events_pb2, supervisor_pb2, supervisor_pb2_grpc
from callscope_core.channels import channel_value

from .live import Topic, WatcherTooSlowError
from .store import SupervisorQueries

log = logging.getLogger(__name__)

ALL_QUEUES = "*"
_SEVERITY = {
    "info": events_pb2.SupervisorAlert.SEVERITY_INFO,
    "warning": events_pb2.SupervisorAlert.SEVERITY_WARNING,
    "critical": events_pb2.SupervisorAlert.SEVERITY_CRITICAL,
}


class LiveFeeds:
    """Where the analyzer publishes what it produces, for watchers of a call or a queue."""

    def __init__(self) -> None:
        self.calls: Topic[supervisor_pb2.CallUpdate] = Topic()
        self.floor: Topic[supervisor_pb2.FloorUpdate] = Topic()

    def call_update(self, call_id: str, update: supervisor_pb2.CallUpdate) -> None:
        partial = (
            update.WhichOneof("update") == "transcript"
            and update.transcript.kind == events_pb2.TranscriptSegment.KIND_PARTIAL
        )
        self.calls.publish(call_id, update, droppable=partial)

    def floor_update(self, queue: str, update: supervisor_pb2.FloorUpdate) -> None:
        self.floor.publish(queue, update)
        self.floor.publish(ALL_QUEUES, update)


def update_key(update: supervisor_pb2.CallUpdate) -> tuple[object, ...] | None:
    """The natural key of an update, for de-duplicating replay against live (None: no key)."""
    kind = update.WhichOneof("update")
    if kind == "transcript" and update.transcript.kind == events_pb2.TranscriptSegment.KIND_FINAL:
        t = update.transcript
        return ("transcript", t.channel, t.utterance_no, t.version)
    if kind == "analysis":
        a = update.analysis
        return ("analysis", a.channel, a.utterance_no, a.version)
    if kind == "alert":
        return ("alert", update.alert.alert_id)
    return None


def analysis_from_row(row: dict) -> events_pb2.UtteranceAnalysis:
    return events_pb2.UtteranceAnalysis(
        call_id=row["call_id"],
        channel=channel_value(row["channel"]),
        utterance_no=row["utterance_no"],
        version=row["version"],
        sentiment=events_pb2.Sentiment(score=row["sentiment_score"], label=row["sentiment_label"]),
        keywords=list(row["human_requests"]),
        text=row["text"],
        start_ms=row["start_ms"],
        end_ms=row["end_ms"],
        language=row["language"],
    )


def final_from_row(row: dict) -> events_pb2.TranscriptSegment:
    return events_pb2.TranscriptSegment(
        call_id=row["call_id"],
        channel=channel_value(row["channel"]),
        utterance_no=row["utterance_no"],
        version=row["version"],
        kind=events_pb2.TranscriptSegment.KIND_FINAL,
        text=row["text"],
        language=row["language"],
        start_ms=row["start_ms"],
        end_ms=row["end_ms"],
    )


def alert_from_row(row: dict) -> events_pb2.SupervisorAlert:
    evidence = row["evidence"] if isinstance(row["evidence"], list) else json.loads(row["evidence"])
    alert = events_pb2.SupervisorAlert(
        alert_id=row["alert_id"],
        call_id=row["call_id"],
        kind=row["kind"],
        severity=_SEVERITY.get(row["severity"], events_pb2.SupervisorAlert.SEVERITY_UNSPECIFIED),
        agent=row.get("agent_id") or "",
        queue=row.get("queue") or "",
        reason=row["reason"],
        at_ms=row["at_ms"],
        evidence=[
            events_pb2.AlertEvidence(
                channel=channel_value(e["utterance_key"].split(":")[0]),
                utterance_no=int(e["utterance_key"].split(":")[1]),
                text=e["text"],
                at_ms=e["at_ms"],
            )
            for e in evidence
        ],
    )
    raised: datetime = row["raised_at"]
    alert.raised_at.FromDatetime(raised)
    return alert


def call_started_from_row(row: dict) -> events_pb2.CallStarted:
    started = events_pb2.CallStarted(
        call_id=row["call_id"],
        queue=row["queue"],
        agent_id=row["agent_id"],
        language=row["language"],
    )
    if row.get("started_at"):
        started.started_at.FromDatetime(row["started_at"])
    return started


class SupervisorService(supervisor_pb2_grpc.SupervisorServicer):
    def __init__(self, queries: SupervisorQueries, feeds: LiveFeeds) -> None:
        self._queries = queries
        self._feeds = feeds

    async def _replay(self, call_id: str) -> list[supervisor_pb2.CallUpdate]:
        updates = []
        for row in await self._queries.utterances(call_id):
            updates.append(supervisor_pb2.CallUpdate(transcript=final_from_row(row)))
            updates.append(supervisor_pb2.CallUpdate(analysis=analysis_from_row(row)))
        for row in await self._queries.alerts(call_id):
            updates.append(supervisor_pb2.CallUpdate(alert=alert_from_row(row)))
        return updates

    async def WatchCall(
        self, request: supervisor_pb2.WatchCallRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[supervisor_pb2.CallUpdate]:
        call_id = request.call_id.strip()
        if not call_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "call_id is required")
        # Subscribe before replaying, so nothing produced in between is missed.
        with self._feeds.calls.subscribe(call_id) as subscription:
            call = await self._queries.call(call_id)
            if call is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"no call {call_id!r}")
            sent: set[tuple[object, ...]] = set()
            for update in await self._replay(call_id):
                key = update_key(update)
                if key is not None:
                    sent.add(key)
                yield update
            assert call is not None
            if call["ended_at"] is not None:
                return
            while True:
                try:
                    update = await subscription.get()
                except WatcherTooSlowError as exc:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
                key = update_key(update)
                if key is not None:
                    if key in sent:
                        continue
                    sent.add(key)
                yield update
                if update.WhichOneof("update") == "summary":
                    return  # the call is over

    async def WatchFloor(
        self, request: supervisor_pb2.WatchFloorRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[supervisor_pb2.FloorUpdate]:
        queue = request.queue.strip() or None
        with self._feeds.floor.subscribe(queue or ALL_QUEUES) as subscription:
            for row in await self._queries.live_calls(queue):
                yield supervisor_pb2.FloorUpdate(call_started=call_started_from_row(row))
            while True:
                try:
                    yield await subscription.get()
                except WatcherTooSlowError as exc:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))

    async def GetCallAnalysis(
        self, request: supervisor_pb2.GetCallAnalysisRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.CallAnalysis:
        call_id = request.call_id.strip()
        if not call_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "call_id is required")
        if await self._queries.call(call_id) is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no call {call_id!r}")
        return supervisor_pb2.CallAnalysis(
            call_id=call_id,
            utterances=[analysis_from_row(r) for r in await self._queries.utterances(call_id)],
            alerts=[alert_from_row(r) for r in await self._queries.alerts(call_id)],
        )

    async def AckAlert(
        self, request: supervisor_pb2.AckAlertRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.AckAlertResponse:
        if not request.alert_id.strip() or not request.acknowledged_by.strip():
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "alert_id and acknowledged_by are required"
            )
        row = await self._queries.acknowledge(request.alert_id, request.acknowledged_by)
        if row is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no alert {request.alert_id!r}")
        return supervisor_pb2.AckAlertResponse(alert_id=request.alert_id, acknowledged=True)
