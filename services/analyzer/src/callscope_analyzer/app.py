"""Wiring of the analyzer: per-utterance sentiment and the supervisor alert rules."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
import uuid
from datetime import UTC

from opentelemetry import metrics as otel_metrics

from callscope.v1 import common_pb2, events_pb2, supervisor_pb2, supervisor_pb2_grpc
from callscope_core import metrics
from callscope_core.access import AccessGate
from callscope_core.channels import channel_name, channel_value
from callscope_core.kafka import ConsumedEvent, EventConsumer, EventProducer, PermanentError
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

from .domain.categories import CATEGORIES_DATA, CategoryMatch, CategoryModel
from .domain.escalation import find_human_requests
from .domain.keywords import default_keywords
from .domain.rules import AlertDecision, CallState, UtteranceRecord, evaluate
from .domain.sentiment import Sentiment, SentimentModel
from .domain.summary import default_scorecard, live_sentiment, summarize
from .purge import purge_handler
from .rule_overrides import LiveRules, RuleOverrideStore
from .settings import AnalyzerSettings
from .store import AnalyzerStore, SupervisorQueries
from .supervisor import (
    LiveFeeds,
    SupervisorService,
    alert_id_for,
    call_agent,
    overview_from_row,
    participant_aor,
)

log = logging.getLogger(__name__)

ALERT_LATENCY = metrics.histogram(metrics.ANALYZER_ALERT_LATENCY)
ALERTS_RAISED = metrics.counter(metrics.ANALYZER_ALERTS_RAISED)
ANALYZER_INPUT_REJECTED = metrics.declare(
    "callscope.analyzer.input.rejected",
    metrics.Kind.COUNTER,
    "{segment}",
    "Transcript segments the analyzer could not use as they came (empty text, unknown call,"
    " unknown language, absurd timings), by reason; logged, never alerted on.",
    ("reason",),
    service="analyzer",
)


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


KNOWN_LANGUAGES = frozenset({"fr", "en", "ru", "zh"})
MAX_CALL_MS = 24 * 3600 * 1000
MAX_UTTERANCE_MS = 10 * 60 * 1000


def known_language(language: str) -> str | None:
    """The language hint if the analyzer has word lists for it ("fr-FR" -> "fr"), else None."""
    base = language.strip().lower().replace("_", "-").split("-")[0]
    return base if base in KNOWN_LANGUAGES else None


def implausible_timing(segment: events_pb2.TranscriptSegment) -> str | None:
    if segment.start_ms < 0 or segment.end_ms < 0:
        return "negative_time"
    if segment.end_ms < segment.start_ms:
        return "end_before_start"
    if segment.end_ms - segment.start_ms > MAX_UTTERANCE_MS:
        return "too_long"
    if segment.end_ms > MAX_CALL_MS:
        return "beyond_max_call"
    return None


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
        rules: LiveRules,
        feeds: LiveFeeds,
        *,
        meter: otel_metrics.Meter | None = None,
        summary_quiet_s: float = 15.0,
        summary_max_wait_s: float = 120.0,
    ) -> None:
        self._store = store
        self._producer = producer
        self._sentiment = sentiment
        self._categories = categories
        self._keywords = default_keywords()
        self._scorecard = default_scorecard()
        self._rules = rules
        self._feeds = feeds
        self._rejected = metrics.counter(ANALYZER_INPUT_REJECTED, meter)
        self._summary_quiet_s = summary_quiet_s
        self._summary_max_wait_s = summary_max_wait_s

    async def on_event(self, event: ConsumedEvent) -> None:
        message = event.message
        if isinstance(message, events_pb2.TranscriptSegment):
            if message.kind == events_pb2.TranscriptSegment.KIND_FINAL:
                await self.on_final(message, published_s=event.timestamp_ms / 1000 or None)
            else:
                update = supervisor_pb2.CallUpdate(transcript=message)
                self._feeds.call_update(message.call_id, update)
                if message.call_id:  # more is being transcribed: the summary waits
                    await self._store.postpone_summary(
                        message.call_id, self._summary_quiet_s, self._summary_max_wait_s
                    )
        elif isinstance(message, events_pb2.CallStarted):
            await self.on_call_started(message)
        elif isinstance(message, events_pb2.CallEnded):
            await self.on_call_ended(message)

    async def on_call_started(self, message: events_pb2.CallStarted) -> None:
        started_at = (
            message.started_at.ToDatetime(tzinfo=UTC) if message.HasField("started_at") else None
        )
        await self._store.upsert_call(
            message.call_id,
            message.queue,
            call_agent(message),
            message.language,
            customer_number=participant_aor(message, common_pb2.CHANNEL_CUSTOMER),
            started_at=started_at,
        )
        self._feeds.floor_update(
            message.queue, message.call_id, supervisor_pb2.FloorUpdate(call_started=message)
        )
        # Transcripts may outrun CallStarted (another topic): their rules were held back until
        # the call was known; evaluate them now over what is stored.
        version = (await self.call_state(message.call_id)).latest_version()
        if version is not None:
            await self.evaluate_rules(message.call_id, version)

    async def on_final(
        self, segment: events_pb2.TranscriptSegment, published_s: float | None = None
    ) -> None:
        """`published_s`: when the FINAL was published (epoch s), for the alert latency."""
        try:
            channel = channel_name(segment.channel)
        except ValueError as exc:
            self._rejected.add(1, {"reason": "unknown_channel"})
            raise PermanentError(f"transcript of call {segment.call_id}: {exc}") from None
        text = segment.text.strip()
        if not segment.call_id or not text:
            reason = "no_call_id" if not segment.call_id else "empty_text"
            self._rejected.add(1, {"reason": reason})
            log.warning("ignoring transcript segment of call %r: %s", segment.call_id, reason)
            return
        language = known_language(segment.language)
        if language is None:
            # Still analysed: the sentiment model is multilingual and phrase lists are tried in
            # every language; only the language hint is dropped.
            self._rejected.add(1, {"reason": "unknown_language"})
            log.warning(
                "call %s: unknown language %r, analysed without a language hint",
                segment.call_id,
                segment.language,
            )
        timing = implausible_timing(segment)
        if timing:
            # Kept (what was said is real) but the metrics and timing rules skip it.
            self._rejected.add(1, {"reason": timing})
            log.warning(
                "call %s: %s utterance %d has implausible timing (%s: %d..%d ms)",
                segment.call_id,
                channel,
                segment.utterance_no,
                timing,
                segment.start_ms,
                segment.end_ms,
            )
        # Transcription lags the call: if it already ended, its summary waits for this final.
        call_known = await self._store.touch_call(
            segment.call_id, self._summary_quiet_s, self._summary_max_wait_s
        )
        if not call_known:
            self._rejected.add(1, {"reason": "unknown_call"})
            log.warning(
                "transcript for unknown call %s: analysed and stored, alerts held back until"
                " its CallStarted arrives",
                segment.call_id,
            )
        # One hop to a worker thread for all the CPU work (the text is embedded once: the
        # sentiment model keeps its last embedding for the category model).
        sentiment, matches, found, phrases = await asyncio.to_thread(
            self._analyse_text, text, language, channel
        )
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
        publishing = asyncio.ensure_future(
            self._producer.publish(ANALYSIS, segment.call_id, analysis)
        )
        self._feeds.call_update(segment.call_id, supervisor_pb2.CallUpdate(transcript=segment))
        self._feeds.call_update(segment.call_id, supervisor_pb2.CallUpdate(analysis=analysis))
        try:
            if call_known:  # the alert does not wait for the analysis' acknowledgement
                await self.evaluate_rules(segment.call_id, segment.version, published_s)
        finally:
            await publishing  # both are out before the offset is committed

    def _analyse_text(
        self, text: str, language: str | None, channel: str
    ) -> tuple[Sentiment, list[CategoryMatch], dict[str, list[str]], list[str]]:
        [sentiment] = self._sentiment.score([text])
        matches = self._categories.classify(text, language)
        found = self._keywords.match(text, language)
        phrases = find_human_requests(text, language) if channel == "customer" else []
        return sentiment, matches, found, phrases

    async def call_state(self, call_id: str) -> CallState:
        state = CallState(call_id)
        utterances, alerts = await self._store.call_rows(call_id)
        for row in utterances:
            state.add_utterance(utterance_record(row))
        for row in alerts:
            state.restore_alert(row["alert_key"], row["kind"], row["at_ms"])
        return state

    async def evaluate_rules(
        self, call_id: str, version: int, trigger_published_s: float | None = None
    ) -> None:
        state = await self.call_state(call_id)
        rules = await self._rules.current()
        # A later transcript version (the post-call pass) of a call that had a live one
        # improves the record but does not page supervisors again about the same words.
        judged_live = any(v < version for v in state.versions())
        if not judged_live:
            for decision in evaluate(state, state.last_end_ms(version), rules, version=version):
                await self._raise(state, call_id, decision, trigger_published_s)
        live = live_sentiment(state, version)
        changed = await self._store.update_live_sentiment(
            call_id, live.score, live.label, list(live.categories)
        )
        if changed:
            row = await self._store.queries.call(call_id)
            if row is not None and row["ended_at"] is None:
                self._feeds.floor_update(
                    row["queue"], call_id, supervisor_pb2.FloorUpdate(call=overview_from_row(row))
                )

    async def _raise(
        self,
        state: CallState,
        call_id: str,
        decision: AlertDecision,
        trigger_published_s: float | None,
    ) -> None:
        # The id derives from the rule's stable key: a redelivery raises nothing new.
        alert_id = alert_id_for(call_id, decision.alert_key)
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
        alert.rule_version = self._rules.version
        await self._producer.publish(ALERTS, call_id, alert)
        ALERTS_RAISED.add(1, {"rule": decision.rule, "severity": decision.severity})
        if trigger_published_s is not None:
            latency = max(time.time() - trigger_published_s, 0.0)
            ALERT_LATENCY.record(latency, {"rule": decision.rule})
        await self._store.mark_published(alert_id)
        self._feeds.alert(alert)
        log.info("alert %s (%s) on call %s: %s", alert_id, decision.rule, call_id, decision.reason)

    async def on_call_ended(self, ended: events_pb2.CallEnded) -> None:
        """The call is over for the floor now; its summary waits until its transcripts have
        caught up (a live transcriber lags the call), see summarize_due()."""
        await self._store.end_call(ended.call_id, ended.duration_ms or None)
        await self._store.schedule_summary(ended.call_id, self._summary_quiet_s)
        row = await self._store.queries.call(ended.call_id)
        queue = str(row["queue"]) if row else ""
        self._feeds.floor_update(queue, ended.call_id, supervisor_pb2.FloorUpdate(call_ended=ended))

    async def summarize_due(self) -> int:
        """Summarise every ended call whose transcripts have been quiet long enough."""
        done = 0
        for call_id, duration_ms, lease in await self._store.claim_due_summaries(
            lease_s=max(30.0, self._summary_quiet_s)
        ):
            await self.summarize_call(call_id, duration_ms)
            done += await self._store.mark_summarized(call_id, lease)
        return done

    async def summaries_loop(self, stop: asyncio.Event, interval_s: float = 0.25) -> None:
        while not stop.is_set():
            try:
                await self.summarize_due()
            except Exception:  # the next round retries: the summary is still due
                log.exception("call summaries failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval_s)

    async def summarize_call(self, call_id: str, duration_ms: int | None) -> None:
        """Summarise what was analysed; published with the call's key, so a new summary after
        a late final replaces the previous one."""
        state = await self.call_state(call_id)
        version = state.latest_version() or 1
        data = summarize(state, duration_ms, scorecard=self._scorecard, version=version)
        summary = events_pb2.CallSummary(
            call_id=call_id,
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
            alert_ids=[alert_id_for(call_id, key) for key in data.alert_keys],
        )
        await self._store.save_summary(call_id, version, dataclasses.asdict(data), data.qa_score)
        await self._producer.publish(CALL_SUMMARIES, call_id, summary)
        row = await self._store.queries.call(call_id)
        if row is not None:  # the call as it ended, then the summary (which ends WatchCall)
            overview = overview_from_row(row)
            self._feeds.call_update(call_id, supervisor_pb2.CallUpdate(call=overview))
        self._feeds.call_update(call_id, supervisor_pb2.CallUpdate(summary=summary))


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
        rules = LiveRules(
            RuleOverrideStore(rt.db),
            settings_overrides={
                "human_request": {
                    "params": {
                        "threshold": settings.human_request_threshold,
                        "window_ms": window * 1000 if window else None,
                    }
                }
            },
            flagged_categories=categories.flagged,
            ttl_s=settings.rules_reload_s,
        )
        feeds = LiveFeeds(queue_of=SupervisorQueries(rt.db).queue_of)
        analyzer = TranscriptAnalyzer(
            AnalyzerStore(rt.db),
            rt.producer,
            sentiment,
            categories,
            rules,
            feeds,
            summary_quiet_s=settings.summary_quiet_s,
            summary_max_wait_s=settings.summary_max_wait_s,
        )
        rt.add_background(analyzer.summaries_loop)
        access = AccessGate(settings.retention_target)
        assert rt.grpc is not None
        supervisor_pb2_grpc.add_SupervisorServicer_to_server(
            SupervisorService(SupervisorQueries(rt.db), feeds, access, rt.producer),
            rt.grpc.server,
        )
        rt.add_consumer("callscope-analyzer", [TRANSCRIPTS, CALL_EVENTS], analyzer.on_event)
        rt.add_consumer(
            "callscope-analyzer-retention", [RETENTION_COMMANDS], purge_handler(rt.db, rt.producer)
        )
        # Every replica hears every acknowledgement, and the alerts, starts and ends of calls
        # other replicas analyse: a group of its own, from the latest offset, so each one
        # tells its own watchers.
        rt.consumers.append(
            EventConsumer(
                core,
                rt.name,
                f"callscope-analyzer-feed-{uuid.uuid4().hex[:12]}",
                [ALERTS, CALL_EVENTS],
                feeds.on_broadcast_event,
                dead_letters=rt.producer,
                auto_offset_reset="latest",
            )
        )
        try:
            await rt.serve(stop)
        finally:
            await access.close()
