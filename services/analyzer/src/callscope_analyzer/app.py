"""Wiring of the analyzer: per-utterance sentiment and the supervisor alert rules."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
import uuid

from callscope.v1 import common_pb2, events_pb2, supervisor_pb2, supervisor_pb2_grpc
from callscope_core import metrics
from callscope_core.channels import channel_name, channel_value
from callscope_core.kafka import ConsumedEvent, EventProducer, PermanentError
from callscope_core.runtime import ServiceRuntime
from callscope_core.settings import CoreSettings
from callscope_core.topics import (
    ALERTS,
    ANALYSIS,
    CALL_EVENTS,
    CALL_SUMMARIES,
    RETENTION_COMMANDS,
    TRANSCRIPTS,
)

from .domain.categories import CATEGORIES_DATA, CategoryModel
from .domain.escalation import find_human_requests
from .domain.keywords import default_keywords
from .domain.rules import AlertDecision, CallState, RuleSet, UtteranceRecord, evaluate
from .domain.sentiment import SentimentModel
from .domain.summary import default_scorecard, summarize
from .purge import purge_handler
from .settings import AnalyzerSettings
from .store import AnalyzerStore, SupervisorQueries
from .supervisor import LiveFeeds, SupervisorService

log = logging.getLogger(__name__)

ALERT_NAMESPACE = uuid.UUID("5b0c2a52-7d0e-4a7e-9a51-3f7d1f7c2a10")

ALERT_LATENCY = metrics.histogram(metrics.ANALYZER_ALERT_LATENCY)
ALERTS_RAISED = metrics.counter(metrics.ANALYZER_ALERTS_RAISED)


SEVERITIES = {
    "info": events_pb2.SupervisorAlert.SEVERITY_INFO,
    "warning": events_pb2.SupervisorAlert.SEVERITY_WARNING,
    "critical": events_pb2.SupervisorAlert.SEVERITY_CRITICAL,
}


def utterance_record(row: dict) -> UtteranceRecord:
    keywords = row.get("keywords") or {}
    return UtteranceRecord(
        channel=row["channel"],
        utterance_no=row["utterance_no"],
        version=row["version"],
        start_ms=row["start_ms"],
        end_ms=row["end_ms"],
        text=row["text"],
        language=row["language"],
        word_count=row.get("word_count"),
        rms_dbfs=row.get("rms_dbfs"),
        sentiment_score=row["sentiment_score"],
        sentiment_label=row["sentiment_label"],
        keywords={kind: tuple(words) for kind, words in keywords.items()},
        categories=tuple(row.get("categories") or ()),
        human_requests=tuple(row.get("human_requests") or ()),
    )


def nan_if_none(value: float | None) -> float:
    return math.nan if value is None else value


class TranscriptAnalyzer:
    """Handles transcripts and call events: analyse each final utterance, store it, publish
    it, evaluate the alert rules over the call, and summarise the call when it ends.

    The per-call state is rebuilt from the analyzer's own tables for each utterance, so a
    redelivery or a restart never double-counts and the rules' cool-downs hold across both.
    """

    def __init__(
        self,
        store: AnalyzerStore,
        producer: EventProducer,
        sentiment: SentimentModel,
        categories: CategoryModel,
        rules: RuleSet,
        feeds: LiveFeeds,
    ) -> None:
        self._store = store
        self._producer = producer
        self._sentiment = sentiment
        self._categories = categories
        self._keywords = default_keywords()
        self._scorecard = default_scorecard()
        self._rules = rules
        self._feeds = feeds

    async def on_event(self, event: ConsumedEvent) -> None:
        message = event.message
        if isinstance(message, events_pb2.TranscriptSegment):
            if message.kind == events_pb2.TranscriptSegment.KIND_FINAL:
                await self.on_final(message, published_s=event.timestamp_ms / 1000 or None)
            else:
                update = supervisor_pb2.CallUpdate(transcript=message)
                self._feeds.call_update(message.call_id, update)
        elif isinstance(message, events_pb2.CallStarted):
            agent = next(
                (p.aor for p in message.participants if p.channel == common_pb2.CHANNEL_AGENT),
                message.agent_id,
            )
            await self._store.upsert_call(
                message.call_id, message.queue, message.agent_id or agent, message.language
            )
            self._feeds.floor_update(
                message.queue, supervisor_pb2.FloorUpdate(call_started=message)
            )
        elif isinstance(message, events_pb2.CallEnded):
            await self.on_call_ended(message)

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
        language = segment.language or None
        [sentiment] = await asyncio.to_thread(self._sentiment.score, [text])
        matches = await asyncio.to_thread(self._categories.classify, text, language)
        found = self._keywords.match(text, language)
        phrases = find_human_requests(text, language) if channel == "customer" else []
        categories = [m.name for m in matches]
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
            sentiment_confidence=sentiment.confidence,
            word_count=len(segment.words) or None,
            rms_dbfs=segment.rms_dbfs or None,
            keywords=found,
            categories=categories,
        )
        analysis = events_pb2.UtteranceAnalysis(
            call_id=segment.call_id,
            channel=segment.channel,
            utterance_no=segment.utterance_no,
            version=segment.version,
            sentiment=events_pb2.Sentiment(
                score=sentiment.score, label=sentiment.label, confidence=sentiment.confidence
            ),
            categories=categories,
            keywords=[*phrases, *(w for words in found.values() for w in words)],
            text=text,
            start_ms=segment.start_ms,
            end_ms=segment.end_ms,
            language=segment.language,
        )
        await self._producer.publish(ANALYSIS, segment.call_id, analysis)
        self._feeds.call_update(segment.call_id, supervisor_pb2.CallUpdate(transcript=segment))
        self._feeds.call_update(segment.call_id, supervisor_pb2.CallUpdate(analysis=analysis))
        await self.evaluate_rules(segment.call_id, segment.version, published_s)

    async def call_state(self, call_id: str) -> CallState:
        state = CallState(call_id)
        for row in await self._store.utterance_rows(call_id):
            state.add_utterance(utterance_record(row))
        for row in await self._store.published_alert_keys(call_id):
            state.restore_alert(row["alert_key"], row["kind"], row["at_ms"])
        return state

    async def evaluate_rules(
        self, call_id: str, version: int, trigger_published_s: float | None = None
    ) -> None:
        state = await self.call_state(call_id)
        for decision in evaluate(state, state.last_end_ms(version), self._rules, version=version):
            await self._raise(state, call_id, decision, trigger_published_s)

    async def _raise(
        self,
        state: CallState,
        call_id: str,
        decision: AlertDecision,
        trigger_published_s: float | None,
    ) -> None:
        # The id derives from the rule's stable key: a redelivery raises nothing new.
        alert_id = str(uuid.uuid5(ALERT_NAMESPACE, f"{call_id}/{decision.alert_key}"))
        evidence = [u for key in decision.evidence if (u := state.utterance(key, decision.version))]
        stored = await self._store.record_alert(
            alert_id=alert_id,
            call_id=call_id,
            kind=decision.rule,
            severity=decision.severity,
            reason=decision.reason,
            evidence=[{"utterance_key": u.key, "at_ms": u.at_ms, "text": u.text} for u in evidence],
            at_ms=decision.at_ms,
            alert_key=decision.alert_key,
        )
        state.record_alert(decision)
        if stored.published:
            return
        context = await self._store.call_context(call_id)
        alert = events_pb2.SupervisorAlert(
            alert_id=alert_id,
            call_id=call_id,
            kind=decision.rule,
            severity=SEVERITIES.get(decision.severity, 0),
            agent=context.agent_id,
            queue=context.queue,
            reason=decision.reason,
            at_ms=decision.at_ms,
            evidence=[
                events_pb2.AlertEvidence(
                    channel=channel_value(u.channel),
                    utterance_no=u.utterance_no,
                    text=u.text,
                    at_ms=u.at_ms,
                )
                for u in evidence
            ],
        )
        alert.raised_at.GetCurrentTime()
        await self._producer.publish(ALERTS, call_id, alert)
        ALERTS_RAISED.add(1, {"rule": decision.rule, "severity": decision.severity})
        if trigger_published_s is not None:
            latency = max(time.time() - trigger_published_s, 0.0)
            ALERT_LATENCY.record(latency, {"rule": decision.rule})
        await self._store.mark_published(alert_id)
        self._feeds.call_update(call_id, supervisor_pb2.CallUpdate(alert=alert))
        self._feeds.floor_update(context.queue, supervisor_pb2.FloorUpdate(alert=alert))
        log.info("alert %s (%s) on call %s: %s", alert_id, decision.rule, call_id, decision.reason)

    async def on_call_ended(self, ended: events_pb2.CallEnded) -> None:
        """Summarise what was analysed so far. Finals that arrive later (transcription lag)
        are analysed as usual; the summary is re-published with the same key if asked again."""
        await self._store.end_call(ended.call_id)
        state = await self.call_state(ended.call_id)
        version = state.latest_version() or 1
        data = summarize(state, ended.duration_ms, scorecard=self._scorecard, version=version)
        summary = events_pb2.CallSummary(
            call_id=ended.call_id,
            customer_sentiment=events_pb2.Sentiment(
                score=data.customer_sentiment or 0.0, label=data.customer_sentiment_label
            ),
            sentiment_by_quarter=[nan_if_none(q) for q in data.sentiment_by_quarter],
            categories=list(data.categories),
            agent_talk_ms=data.metrics.agent_talk_ms,
            customer_talk_ms=data.metrics.customer_talk_ms,
            silence_ms=data.metrics.silence_ms,
            overtalk_ms=data.metrics.overtalk_ms,
            qa_score=nan_if_none(data.qa_score),
            alert_ids=[
                str(uuid.uuid5(ALERT_NAMESPACE, f"{ended.call_id}/{key}"))
                for key in data.alert_keys
            ],
        )
        await self._store.save_summary(
            ended.call_id, version, dataclasses.asdict(data), data.qa_score
        )
        await self._producer.publish(CALL_SUMMARIES, ended.call_id, summary)
        self._feeds.call_update(ended.call_id, supervisor_pb2.CallUpdate(summary=summary))
        context = await self._store.call_context(ended.call_id)
        self._feeds.floor_update(context.queue, supervisor_pb2.FloorUpdate(call_ended=ended))


async def run(core: CoreSettings, settings: AnalyzerSettings, stop: asyncio.Event) -> None:
    async with ServiceRuntime(
        "analyzer",
        core,
        grpc_port=settings.grpc_port,
        grpc_services=[supervisor_pb2.DESCRIPTOR.services_by_name["Supervisor"].full_name],
        migrations_package="callscope_analyzer",
    ) as rt:
        sentiment = await asyncio.to_thread(SentimentModel.load, settings.cache_dir)
        categories = await asyncio.to_thread(CategoryModel.load, CATEGORIES_DATA, sentiment.embed)
        window = settings.human_request_window_s
        rules = RuleSet.load(
            overrides={
                "human_request": {
                    "params": {
                        "threshold": settings.human_request_threshold,
                        "window_ms": window * 1000 if window else None,
                    }
                }
            },
            flagged_categories=categories.flagged,
        )
        feeds = LiveFeeds()
        analyzer = TranscriptAnalyzer(
            AnalyzerStore(rt.db), rt.producer, sentiment, categories, rules, feeds
        )
        assert rt.grpc is not None
        supervisor_pb2_grpc.add_SupervisorServicer_to_server(
            SupervisorService(SupervisorQueries(rt.db), feeds), rt.grpc.server
        )
        rt.add_consumer("callscope-analyzer", [TRANSCRIPTS, CALL_EVENTS], analyzer.on_event)
        rt.add_consumer(
            "callscope-analyzer-retention", [RETENTION_COMMANDS], purge_handler(rt.db, rt.producer)
        )
        await rt.serve(stop)
