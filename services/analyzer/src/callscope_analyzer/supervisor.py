"""gRPC `callscope.v1.Supervisor`: live views of calls and of the floor for supervisors.

WatchCall replays what the analyzer already stored for the call, then streams live updates
(de-duplicated against the replay), so a client that connects late or reconnects after a
drop misses nothing and sees nothing twice.

Call content (WatchCall's transcript, GetCallAnalysis) is served only after retention's
CheckAccess allowed the caller's purpose; retention audits every decision. When retention
cannot answer, nothing is served (UNAVAILABLE).

Acknowledgements travel over `callscope.alerts` (AlertAcknowledged): every analyzer replica
consumes that topic with a group of its own and tells its watchers, so an alert acknowledged
on one console clears on every console, whichever replica it is connected to.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import grpc
from google.protobuf.message import Message

from callscope.v1 import events_pb2, supervisor_pb2, supervisor_pb2_grpc
from callscope.v1.common_pb2 import CHANNEL_AGENT
from callscope_core.access import AccessGate, AccessRequest
from callscope_core.channels import channel_value
from callscope_core.kafka import ConsumedEvent
from callscope_core.supervision import call_update_key
from callscope_core.topics import ALERTS
from callscope_core.topics import Topic as KafkaTopic

from .domain.teams import FloorScope
from .live import Topic, WatcherTooSlowError
from .store import SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX, CallSearch, SupervisorQueries

log = logging.getLogger(__name__)

ALERT_NAMESPACE = uuid.UUID("5b0c2a52-7d0e-4a7e-9a51-3f7d1f7c2a10")
SENTIMENT_LABELS = ("negative", "neutral", "positive")
_SEVERITY = {
    "info": events_pb2.SupervisorAlert.SEVERITY_INFO,
    "warning": events_pb2.SupervisorAlert.SEVERITY_WARNING,
    "critical": events_pb2.SupervisorAlert.SEVERITY_CRITICAL,
}


def alert_id_for(call_id: str, alert_key: str) -> str:
    """Alert ids derive from the rule's stable key, so a redelivery raises nothing new."""
    return str(uuid.uuid5(ALERT_NAMESPACE, f"{call_id}/{alert_key}"))


class Publisher(Protocol):
    async def publish(self, topic: KafkaTopic | str, key: str, message: Message) -> None: ...


@dataclass(frozen=True)
class FloorItem:
    """A floor update with the queue it belongs to, so each watcher filters its queues."""

    queue: str
    call_id: str
    update: supervisor_pb2.FloorUpdate


class LiveFeeds:
    """Where the analyzer publishes what it produces, for watchers of a call or of the floor."""

    def __init__(
        self,
        remembered_alerts: int = 10_000,
        queue_of: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        self.calls: Topic[supervisor_pb2.CallUpdate] = Topic()
        self._queue_of = queue_of  # a call's queue, for CallEnded (which does not carry it)
        self.floor: Topic[FloorItem] = Topic()
        # Alerts this replica already pushed to its watchers: the copy that comes back from
        # callscope.alerts is not pushed twice (bounded, oldest forgotten first).
        self._pushed_alerts: OrderedDict[str, None] = OrderedDict()
        self._remembered = remembered_alerts

    def call_update(self, call_id: str, update: supervisor_pb2.CallUpdate) -> None:
        partial = (
            update.WhichOneof("update") == "transcript"
            and update.transcript.kind == events_pb2.TranscriptSegment.KIND_PARTIAL
        )
        self.calls.publish(call_id, update, droppable=partial)

    def floor_update(self, queue: str, call_id: str, update: supervisor_pb2.FloorUpdate) -> None:
        self.floor.publish(ALL_QUEUES, FloorItem(queue, call_id, update))

    def alert(self, alert: events_pb2.SupervisorAlert) -> None:
        """Push an alert to the call's and the floor's watchers, once per replica."""
        if alert.alert_id in self._pushed_alerts:
            return
        self._pushed_alerts[alert.alert_id] = None
        while len(self._pushed_alerts) > self._remembered:
            self._pushed_alerts.popitem(last=False)
        self.call_update(alert.call_id, supervisor_pb2.CallUpdate(alert=alert))
        self.floor_update(alert.queue, alert.call_id, supervisor_pb2.FloorUpdate(alert=alert))

    def acknowledged(self, ack: events_pb2.AlertAcknowledged) -> None:
        self.call_update(ack.call_id, supervisor_pb2.CallUpdate(acknowledged=ack))
        self.floor_update(ack.queue, ack.call_id, supervisor_pb2.FloorUpdate(acknowledged=ack))

    async def on_broadcast_event(self, event: ConsumedEvent) -> None:
        """Handler for this replica's own consumer of callscope.alerts and
        callscope.call.events: whichever replica analyses a call, every replica's floor and
        call watchers hear of its start, end, alerts and acknowledgements (a watcher drops
        what it already got from this replica's own work)."""
        message = event.message
        if isinstance(message, events_pb2.AlertAcknowledged):
            self.acknowledged(message)
        elif isinstance(message, events_pb2.SupervisorAlert):
            self.alert(message)  # raised by another replica (ours are already pushed)
        elif isinstance(message, events_pb2.CallStarted):
            update = supervisor_pb2.FloorUpdate(call_started=message)
            self.floor_update(message.queue, message.call_id, update)
        elif isinstance(message, events_pb2.CallEnded):
            queue = await self._queue_of(message.call_id) if self._queue_of else ""
            self.floor_update(
                queue, message.call_id, supervisor_pb2.FloorUpdate(call_ended=message)
            )


ALL_QUEUES = "*"


def floor_key(item: FloorItem) -> tuple[object, ...] | None:
    kind = item.update.WhichOneof("update")
    if kind == "alert":
        return ("alert", item.update.alert.alert_id)
    if kind == "acknowledged":
        return ("acknowledged", item.update.acknowledged.alert_id)
    if kind in ("call_started", "call_ended"):
        return (kind, item.call_id)
    return None


def participant_aor(started: events_pb2.CallStarted, channel: int) -> str:
    """The address of the participant on `channel` (customer or agent), "" when unknown."""
    return next((p.aor for p in started.participants if p.channel == channel), "")


def call_agent(started: events_pb2.CallStarted) -> str:
    """The call's agent as the analyzer keeps it: the agent id, else the agent's address."""
    return started.agent_id or participant_aor(started, CHANNEL_AGENT)


def agent_of(update: supervisor_pb2.FloorUpdate) -> str:
    """The agent a floor update names, if any (a call's end and acknowledgements do not)."""
    kind = update.WhichOneof("update")
    if kind == "call_started":
        return call_agent(update.call_started)
    if kind == "call":
        return update.call.agent_id
    if kind == "alert":
        return update.alert.agent
    return ""


def _after_its_end(item: FloorItem, sent: set[tuple[object, ...]]) -> bool:
    """A live update of a call this watcher was told has ended: a late FINAL's sentiment (the
    live transcriber lags the call) or the CallEnded heard from Kafka before the store had the
    end would otherwise put the call back on the floor, where nothing would take it off."""
    kind = item.update.WhichOneof("update")
    return kind in ("call", "call_started") and ("call_ended", item.call_id) in sent


def analysis_from_row(row: Mapping[str, Any]) -> events_pb2.UtteranceAnalysis:
    keywords = row.get("keywords") or {}
    return events_pb2.UtteranceAnalysis(
        call_id=row["call_id"],
        channel=channel_value(row["channel"]),
        utterance_no=row["utterance_no"],
        version=row["version"],
        sentiment=events_pb2.Sentiment(
            score=row["sentiment_score"],
            label=row["sentiment_label"],
            confidence=row.get("sentiment_confidence") or 0.0,
        ),
        categories=list(row.get("categories") or ()),
        keywords=[*row["human_requests"], *(w for words in keywords.values() for w in words)],
        text=row["text"],
        start_ms=row["start_ms"],
        end_ms=row["end_ms"],
        language=row["language"],
    )


def final_from_row(row: Mapping[str, Any]) -> events_pb2.TranscriptSegment:
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


def alert_from_row(row: Mapping[str, Any]) -> events_pb2.SupervisorAlert:
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


def acknowledged_from_row(row: Mapping[str, Any]) -> events_pb2.AlertAcknowledged:
    ack = events_pb2.AlertAcknowledged(
        alert_id=row["alert_id"],
        call_id=row["call_id"],
        queue=row.get("queue") or "",
        acknowledged_by=row.get("acknowledged_by") or "",
    )
    if row.get("acknowledged_at"):
        ack.acknowledged_at.FromDatetime(row["acknowledged_at"])
    return ack


def overview_from_row(row: Mapping[str, Any]) -> supervisor_pb2.CallOverview:
    overview = supervisor_pb2.CallOverview(
        call_id=row["call_id"],
        queue=row["queue"],
        agent_id=row["agent_id"],
        customer_number=row.get("customer_number") or "",
        language=row["language"],
        duration_ms=row.get("duration_ms") or 0,
        customer_sentiment=events_pb2.Sentiment(
            score=row.get("customer_sentiment_score") or 0.0,
            label=row.get("customer_sentiment_label") or "neutral",
        ),
        categories=list(row.get("categories") or ()),
        open_alerts=int(row.get("open_alerts") or 0),
        live=row.get("ended_at") is None,
    )
    if row.get("started_at"):
        overview.started_at.FromDatetime(row["started_at"])
    if row.get("ended_at"):
        overview.ended_at.FromDatetime(row["ended_at"])
    return overview


def summary_message(call_id: str, data: Mapping[str, Any]) -> events_pb2.CallSummary:
    """The CallSummary event from a summary as stored (dataclasses.asdict(CallSummaryData))."""
    metrics = data.get("metrics") or {}
    channels = metrics.get("channels") or {}

    def talk(channel: str) -> int:
        return int((channels.get(channel) or {}).get("talk_ms") or 0)

    def number(value: object) -> float:
        return math.nan if value is None else float(value)  # type: ignore[arg-type]

    return events_pb2.CallSummary(
        call_id=call_id,
        customer_sentiment=events_pb2.Sentiment(
            score=data.get("customer_sentiment") or 0.0,
            label=data.get("customer_sentiment_label") or "neutral",
        ),
        sentiment_by_quarter=[number(q) for q in data.get("sentiment_by_quarter") or ()],
        categories=list(data.get("categories") or ()),
        agent_talk_ms=talk("agent"),
        customer_talk_ms=talk("customer"),
        silence_ms=int(metrics.get("silence_ms") or 0),
        overtalk_ms=int(metrics.get("overtalk_ms") or 0),
        qa_score=number(data.get("qa_score")),
        alert_ids=[alert_id_for(call_id, key) for key in data.get("alert_keys") or ()],
    )


def _timestamp(message: Message, field: str) -> datetime | None:
    return getattr(message, field).ToDatetime(tzinfo=UTC) if message.HasField(field) else None  # type: ignore[attr-defined]


class SupervisorService(supervisor_pb2_grpc.SupervisorServicer):
    def __init__(
        self,
        queries: SupervisorQueries,
        feeds: LiveFeeds,
        access: AccessGate,
        publisher: Publisher,
    ) -> None:
        self._queries = queries
        self._feeds = feeds
        self._access = access
        self._publisher = publisher

    async def _replay(self, call_id: str) -> list[supervisor_pb2.CallUpdate]:
        updates = []
        for row in await self._queries.utterances(call_id):
            updates.append(supervisor_pb2.CallUpdate(transcript=final_from_row(row)))
            updates.append(supervisor_pb2.CallUpdate(analysis=analysis_from_row(row)))
        alerts = await self._queries.alerts(call_id)
        for row in alerts:
            updates.append(supervisor_pb2.CallUpdate(alert=alert_from_row(row)))
        for row in alerts:
            if row["acknowledged_at"] is not None:
                ack = acknowledged_from_row(row)
                updates.append(supervisor_pb2.CallUpdate(acknowledged=ack))
        return updates

    async def _check(
        self, context: grpc.aio.ServicerContext, call_id: str, request: Any, resource: str
    ) -> None:
        await self._access.abort_unless_allowed(
            context,
            AccessRequest(
                call_id=call_id,
                purpose=request.purpose.strip(),
                actor=request.requested_by.strip(),
                resource=resource,
                action="view",
            ),
        )

    async def WatchCall(
        self, request: supervisor_pb2.WatchCallRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[supervisor_pb2.CallUpdate]:
        call_id = request.call_id.strip()
        if not call_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "call_id is required")
        await self._check(context, call_id, request, "transcript")
        # Subscribe before replaying, so nothing produced in between is missed.
        with self._feeds.calls.subscribe(call_id) as subscription:
            call = await self._queries.call(call_id)
            if call is None:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"no call {call_id!r}")
            assert call is not None
            yield supervisor_pb2.CallUpdate(call=overview_from_row(call))
            sent: set[tuple[object, ...]] = set()
            for update in await self._replay(call_id):
                key = call_update_key(update)
                if key is not None:
                    sent.add(key)
                yield update
            if call["ended_at"] is not None:
                summary = await self._queries.summary(call_id)
                if summary is not None:
                    yield supervisor_pb2.CallUpdate(summary=summary_message(call_id, summary))
                    return
                # Ended but not summarised yet: the summary is on its way to `subscription`.
            while True:
                try:
                    update = await subscription.get()
                except WatcherTooSlowError as exc:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
                key = call_update_key(update)
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
        queues = frozenset(q.strip() for q in [request.queue, *request.queues] if q.strip())
        agents: frozenset[str] = frozenset()
        team_name = request.team.strip()
        if team_name:
            team = await self._queries.teams.get(team_name)
            if team is None:
                await context.abort(
                    grpc.StatusCode.NOT_FOUND,
                    f"no team {team_name!r} in the team directory (callscope teams list)",
                )
            assert team is not None
            queues, agents = queues | team.queues, team.agents
        scope = FloorScope(queues, agents)
        with self._feeds.floor.subscribe(ALL_QUEUES) as subscription:
            calls = await self._queries.live_calls(queues, agents)
            sent: set[tuple[object, ...]] = set()
            for row in calls:
                scope.follow(str(row["call_id"]))
                sent.add(("call_started", row["call_id"]))
                yield supervisor_pb2.FloorUpdate(call=overview_from_row(row))
            for row in await self._queries.open_alerts([str(r["call_id"]) for r in calls]):
                sent.add(("alert", row["alert_id"]))
                yield supervisor_pb2.FloorUpdate(alert=alert_from_row(row))
            while True:
                try:
                    item = await subscription.get()
                except WatcherTooSlowError as exc:
                    await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
                if not scope.admits(item.queue, item.call_id, agent_of(item.update)):
                    continue
                if _after_its_end(item, sent):
                    continue
                key = floor_key(item)
                if key is not None:
                    if key in sent:
                        continue
                    sent.add(key)
                yield item.update

    async def GetCallAnalysis(
        self, request: supervisor_pb2.GetCallAnalysisRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.CallAnalysis:
        call_id = request.call_id.strip()
        if not call_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "call_id is required")
        await self._check(context, call_id, request, "analysis")
        call = await self._queries.call(call_id)
        if call is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no call {call_id!r}")
        assert call is not None
        alerts = await self._queries.alerts(call_id)
        analysis = supervisor_pb2.CallAnalysis(
            call_id=call_id,
            utterances=[analysis_from_row(r) for r in await self._queries.utterances(call_id)],
            alerts=[alert_from_row(r) for r in alerts],
            call=overview_from_row(call),
            acknowledged_alert_ids=[r["alert_id"] for r in alerts if r["acknowledged_at"]],
        )
        summary = await self._queries.summary(call_id)
        if summary is not None:
            analysis.summary.CopyFrom(summary_message(call_id, summary))
        return analysis

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
        assert row is not None
        # Broadcast every time (the first acknowledgement's who/when): a console that missed
        # it, or an earlier publish that failed, is put right by acknowledging again.
        ack = acknowledged_from_row(row)
        try:
            await self._publisher.publish(ALERTS, ack.call_id, ack)
        except Exception as exc:  # the ack is stored; say so, and that retrying is safe
            log.warning("acknowledgement of %s stored but not broadcast: %s", ack.alert_id, exc)
            await context.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"acknowledgement stored but not broadcast to other consoles ({exc});"
                " acknowledging again is safe",
            )
        return supervisor_pb2.AckAlertResponse(
            alert_id=request.alert_id, acknowledged=True, call_id=ack.call_id
        )

    async def SearchCalls(
        self, request: supervisor_pb2.SearchCallsRequest, context: grpc.aio.ServicerContext
    ) -> supervisor_pb2.SearchCallsResponse:
        label = request.sentiment_label.strip().lower()
        if label and label not in SENTIMENT_LABELS:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"sentiment_label must be one of {', '.join(SENTIMENT_LABELS)}, got {label!r}",
            )
        if request.limit < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "limit must not be negative")
        started_from = _timestamp(request, "started_from")
        started_to = _timestamp(request, "started_to")
        if started_from and started_to and started_from > started_to:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "started_from is after started_to"
            )
        search = CallSearch(
            call_ids=[c.strip() for c in request.call_ids if c.strip()],
            agent_id=request.agent_id.strip(),
            queues=[q.strip() for q in request.queues if q.strip()],
            started_from=started_from,
            started_to=started_to,
            category=request.category.strip(),
            sentiment_label=label,
            limit=min(request.limit or SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX),
        )
        rows = await self._queries.search(search)
        return supervisor_pb2.SearchCallsResponse(calls=[overview_from_row(r) for r in rows])
