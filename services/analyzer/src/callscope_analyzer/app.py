"""Wiring of the analyzer: per-utterance sentiment and the supervisor alert rules."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from callscope.v1 import common_pb2, events_pb2, supervisor_pb2, supervisor_pb2_grpc
from callscope_core import metrics
from callscope_core.channels import channel_name, channel_value
from callscope_core.kafka import ConsumedEvent, EventProducer, PermanentError
from callscope_core.runtime import ServiceRuntime
from callscope_core.settings import CoreSettings
from callscope_core.topics import ALERTS, ANALYSIS, CALL_EVENTS, TRANSCRIPTS

from .domain.escalation import decide_escalation, find_human_requests
from .domain.sentiment import SentimentModel
from .settings import AnalyzerSettings
from .store import AnalyzerStore

log = logging.getLogger(__name__)

ALERT_NAMESPACE = uuid.UUID("5b0c2a52-7d0e-4a7e-9a51-3f7d1f7c2a10")

ALERT_LATENCY = metrics.histogram(metrics.ANALYZER_ALERT_LATENCY)
ALERTS_RAISED = metrics.counter(metrics.ANALYZER_ALERTS_RAISED)


class TranscriptAnalyzer:
    """Handles one final transcript segment: analyse, store, publish, evaluate alert rules."""

    def __init__(
        self,
        store: AnalyzerStore,
        producer: EventProducer,
        sentiment: SentimentModel,
        settings: AnalyzerSettings,
    ) -> None:
        self._store = store
        self._producer = producer
        self._sentiment = sentiment
        self._settings = settings

    async def on_event(self, event: ConsumedEvent) -> None:
        message = event.message
        if isinstance(message, events_pb2.TranscriptSegment):
            if message.kind == events_pb2.TranscriptSegment.KIND_FINAL:
                await self.on_final(message, published_s=event.timestamp_ms / 1000 or None)
        elif isinstance(message, events_pb2.CallStarted):
            agent = next(
                (p.aor for p in message.participants if p.channel == common_pb2.CHANNEL_AGENT),
                message.agent_id,
            )
            await self._store.upsert_call(
                message.call_id, message.queue, message.agent_id or agent, message.language
            )
        elif isinstance(message, events_pb2.CallEnded):
            await self._store.end_call(message.call_id)

    async def on_final(
        self, segment: events_pb2.TranscriptSegment, published_s: float | None = None
    ) -> None:
        """`published_s`: when the FINAL was published (epoch s), for the alert latency."""
        try:
            channel = channel_name(segment.channel)
        except ValueError as exc:
            raise PermanentError(f"transcript of call {segment.call_id}: {exc}") from None
        text = segment.text.strip()
        if not segment.call_id or not text:
            log.warning("ignoring empty transcript segment for call %r", segment.call_id)
            return
        [sentiment] = await asyncio.to_thread(self._sentiment.score, [text])
        phrases = (
            find_human_requests(text, segment.language or None) if channel == "customer" else []
        )
        await self._store.save_utterance(
            call_id=segment.call_id,
            channel=channel,
            utterance_no=segment.utterance_no,
            version=segment.version,
            text=text,
            language=segment.language,
            start_ms=segment.start_ms,
            end_ms=segment.end_ms,
            sentiment_score=sentiment.score,
            sentiment_label=sentiment.label,
            human_requests=list(phrases),
        )
        analysis = events_pb2.UtteranceAnalysis(
            call_id=segment.call_id,
            channel=segment.channel,
            utterance_no=segment.utterance_no,
            version=segment.version,
            sentiment=events_pb2.Sentiment(
                score=sentiment.score, label=sentiment.label, confidence=sentiment.confidence
            ),
            keywords=list(phrases),
            text=text,
            start_ms=segment.start_ms,
            end_ms=segment.end_ms,
            language=segment.language,
        )
        await self._producer.publish(ANALYSIS, segment.call_id, analysis)
        if phrases:
            await self.evaluate_human_requests(segment.call_id, segment.version, published_s)

    async def evaluate_human_requests(
        self, call_id: str, version: int, trigger_published_s: float | None = None
    ) -> None:
        requests = await self._store.human_requests(call_id, version)
        window = self._settings.human_request_window_s
        decision = decide_escalation(
            requests,
            threshold=self._settings.human_request_threshold,
            window_ms=window * 1000 if window else None,
        )
        if decision is None:
            return
        # One alert per call and rule: a redelivery or a third request never repeats it.
        alert_id = str(uuid.uuid5(ALERT_NAMESPACE, f"{call_id}/human_request/v{version}"))
        evidence = [
            {"utterance_key": r.utterance_key, "at_ms": r.at_ms, "text": r.text}
            for r in decision.evidence
        ]
        stored = await self._store.record_alert(
            alert_id=alert_id,
            call_id=call_id,
            kind="human_request",
            severity="warning",
            reason=decision.reason,
            evidence=evidence,
            at_ms=decision.at_ms,
        )
        if stored.published:
            return
        context = await self._store.call_context(call_id)
        alert = events_pb2.SupervisorAlert(
            alert_id=alert_id,
            call_id=call_id,
            kind="human_request",
            severity=events_pb2.SupervisorAlert.SEVERITY_WARNING,
            agent=context.agent_id,
            queue=context.queue,
            reason=decision.reason,
            at_ms=decision.at_ms,
            evidence=[
                events_pb2.AlertEvidence(
                    channel=channel_value(r.utterance_key.split(":")[0]),
                    utterance_no=int(r.utterance_key.split(":")[1]),
                    text=r.text,
                    at_ms=r.at_ms,
                )
                for r in decision.evidence
            ],
        )
        alert.raised_at.GetCurrentTime()
        await self._producer.publish(ALERTS, call_id, alert)
        ALERTS_RAISED.add(1, {"rule": "human_request", "severity": "warning"})
        if trigger_published_s is not None:
            latency = max(time.time() - trigger_published_s, 0.0)
            ALERT_LATENCY.record(latency, {"rule": "human_request"})
        await self._store.mark_published(alert_id)
        log.info("alert %s on call %s: %s", alert_id, call_id, decision.reason)


async def run(core: CoreSettings, settings: AnalyzerSettings, stop: asyncio.Event) -> None:
    async with ServiceRuntime(
        "analyzer",
        core,
        grpc_port=settings.grpc_port,
        grpc_services=[supervisor_pb2.DESCRIPTOR.services_by_name["Supervisor"].full_name],
        migrations_package="callscope_analyzer",
    ) as rt:
        sentiment = await asyncio.to_thread(SentimentModel.load, settings.cache_dir)
        analyzer = TranscriptAnalyzer(AnalyzerStore(rt.db), rt.producer, sentiment, settings)
        assert rt.grpc is not None
        # WatchCall/WatchFloor come with the analyzer's own issue; until then UNIMPLEMENTED.
        supervisor_pb2_grpc.add_SupervisorServicer_to_server(
            supervisor_pb2_grpc.SupervisorServicer(), rt.grpc.server
        )
        rt.add_consumer("callscope-analyzer", [TRANSCRIPTS, CALL_EVENTS], analyzer.on_event)
        await rt.serve(stop)
