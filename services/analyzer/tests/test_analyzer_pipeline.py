"""The analyzer's handler (TranscriptAnalyzer) with the real models, PostgreSQL and Tansu:
redelivered transcripts never double-count nor repeat an alert, and bad input (empty text,
unknown language, absurd timings, unknown call or channel) is logged, counted and never
alerted on."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from psycopg_pool import AsyncConnectionPool

from callscope.v1 import common_pb2, events_pb2
from callscope_analyzer.app import TranscriptAnalyzer
from callscope_analyzer.domain.categories import CATEGORIES_DATA, CategoryModel
from callscope_analyzer.domain.sentiment import SentimentModel
from callscope_analyzer.rule_overrides import LiveRules
from callscope_analyzer.store import AnalyzerStore
from callscope_analyzer.supervisor import LiveFeeds
from callscope_core.db import migrate, open_pool
from callscope_core.kafka import (
    ConsumedEvent,
    EventConsumer,
    EventProducer,
    PermanentError,
    ensure_topics,
)
from callscope_core.settings import CoreSettings
from callscope_core.topics import ALERTS, ANALYSIS, CALL_SUMMARIES, DEADLETTER

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
FINAL = events_pb2.TranscriptSegment.KIND_FINAL
CUSTOMER, AGENT = common_pb2.CHANNEL_CUSTOMER, common_pb2.CHANNEL_AGENT


@dataclass(frozen=True)
class Models:
    sentiment: SentimentModel
    categories: CategoryModel


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    cache = REPO / ".callscope" / "cache"  # `make setup` leaves the training embeddings here
    sentiment = SentimentModel.load(cache if cache.is_dir() else tmp_path_factory.mktemp("c"))
    return Models(sentiment, CategoryModel.load(CATEGORIES_DATA, sentiment.embed))


@dataclass
class Rig:
    analyzer: TranscriptAnalyzer
    store: AnalyzerStore
    pool: AsyncConnectionPool
    published_alerts: list[events_pb2.SupervisorAlert]
    reader: InMemoryMetricReader
    call_id: str

    async def final(
        self,
        number: int,
        text: str,
        *,
        channel: int = CUSTOMER,
        start_s: float | None = None,
        duration_s: float = 2.0,
        language: str = "en",
        call_id: str | None = None,
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> events_pb2.TranscriptSegment:
        start = int((start_s if start_s is not None else 4.0 * number) * 1000)
        segment = events_pb2.TranscriptSegment(
            call_id=call_id or self.call_id,
            channel=channel,
            utterance_no=number,
            version=1,
            kind=FINAL,
            text=text,
            language=language,
            start_ms=start if start_ms is None else start_ms,
            end_ms=start + int(duration_s * 1000) if end_ms is None else end_ms,
        )
        await self.deliver(segment)
        return segment

    async def deliver(self, message: object) -> None:
        await self.analyzer.on_event(
            ConsumedEvent("t", 0, 0, self.call_id, message, (), 0)  # type: ignore[arg-type]
        )

    async def start(self, call_id: str | None = None) -> None:
        started = events_pb2.CallStarted(
            call_id=call_id or self.call_id,
            queue="billing",
            agent_id="agent-7",
            language="en",
            participants=[
                events_pb2.Participant(aor="+33611111111", channel=CUSTOMER),
                events_pb2.Participant(aor="sip:agent-7@cc", channel=AGENT),
            ],
        )
        started.started_at.GetCurrentTime()
        await self.deliver(started)

    async def rows(self, table: str, call_id: str | None = None) -> list[dict]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                f"SELECT * FROM analyzer.{table} WHERE call_id = %s",
                (call_id or self.call_id,),
            )
            return list(await cur.fetchall())

    def rejected(self) -> dict[str, int]:
        data = self.reader.get_metrics_data()
        counts: dict[str, int] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == "callscope.analyzer.input.rejected":
                        for point in metric.data.data_points:
                            counts[str(point.attributes["reason"])] = int(point.value)
        return counts

    async def alerts_on_topic(self, settle_s: float = 2.0) -> list[str]:
        await asyncio.sleep(settle_s)  # whatever was published has reached the consumer
        return [a.kind for a in self.published_alerts if a.call_id == self.call_id]


@pytest.fixture
async def rig(models: Models, postgres_url: str, core_settings: CoreSettings) -> AsyncIterator[Rig]:
    await migrate(postgres_url, "analyzer", "callscope_analyzer")
    await ensure_topics(core_settings, [ANALYSIS, ALERTS, CALL_SUMMARIES, DEADLETTER])
    pool = await open_pool(postgres_url, 4)
    producer = EventProducer(core_settings, "analyzer-test")
    await producer.start()
    published: list[events_pb2.SupervisorAlert] = []

    async def collect(event: ConsumedEvent) -> None:
        if isinstance(event.message, events_pb2.SupervisorAlert):
            published.append(event.message)

    group = f"alerts-probe-{uuid.uuid4().hex[:8]}"
    probe = EventConsumer(core_settings, "probe", group, [ALERTS], collect, producer)
    await probe.start()
    stop = asyncio.Event()
    task = asyncio.create_task(probe.run(stop))
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    store = AnalyzerStore(pool)
    analyzer = TranscriptAnalyzer(
        store,
        producer,
        models.sentiment,
        models.categories,
        LiveRules(None, flagged_categories=models.categories.flagged),
        LiveFeeds(),
        meter=provider.get_meter("test"),
        summary_quiet_s=0.0,
    )
    try:
        await asyncio.wait_for(probe.assigned.wait(), 30)
        yield Rig(analyzer, store, pool, published, reader, f"call-{uuid.uuid4().hex[:10]}")
    finally:
        stop.set()
        await task
        await probe.stop()
        await producer.stop()
        await pool.close()
        provider.shutdown()


async def test_a_redelivered_call_never_double_counts_or_repeats_an_alert(rig: Rig) -> None:
    await rig.start()
    script = [
        (AGENT, "Hello, how can I help you today?"),
        (CUSTOMER, "I want to speak to an agent."),
        (AGENT, "I can help you with that."),
        (CUSTOMER, "No. I want a real person, an agent, now."),
        (CUSTOMER, "This is unacceptable, I'm calling my lawyer."),
    ]
    segments = []
    for n, (channel, text) in enumerate(script):
        segments.append(await rig.final(n, text, channel=channel))
    ended = events_pb2.CallEnded(call_id=rig.call_id, duration_ms=22_000)
    await rig.deliver(ended)
    assert await rig.analyzer.summarize_due() >= 1
    first_alerts = sorted(r["alert_id"] for r in await rig.rows("alerts"))
    [first_summary] = await rig.rows("summaries")
    kinds = await rig.alerts_on_topic()
    assert {"human_request", "legal_threat"} <= set(kinds)
    assert len(kinds) == len(set(kinds)) == len(first_alerts)
    assert {a.rule_version for a in rig.published_alerts if a.call_id == rig.call_id} == {"yaml"}

    # The whole call again (a consumer restart before its commit), in another order.
    for segment in reversed(segments):
        await rig.deliver(segment)
    await rig.deliver(ended)
    await rig.analyzer.summarize_due()
    assert len(await rig.rows("utterances")) == len(script)
    assert sorted(r["alert_id"] for r in await rig.rows("alerts")) == first_alerts
    [summary] = await rig.rows("summaries")
    metrics = summary["summary"]["metrics"]
    assert metrics == first_summary["summary"]["metrics"]
    assert metrics["channels"]["customer"]["talk_ms"] == 3 * 2000  # counted once
    assert await rig.alerts_on_topic() == kinds  # nothing published twice
    [call] = await rig.rows("calls")
    assert call["customer_number"] == "+33611111111" and call["duration_ms"] == 22_000
    assert call["customer_sentiment_label"] == "negative"


async def test_bad_input_is_logged_counted_and_never_alerted_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="callscope_analyzer.app")
    await rig.start()
    await rig.final(0, "   ")  # empty text: nothing to analyse
    await rig.final(1, "", channel=AGENT)
    await rig.final(2, "Bonjour, je voudrais payer ma facture.", language="xx-YY")
    # Absurd timings: kept (the words are real) but no silence or metric is made of them.
    await rig.final(3, "Okay.", start_ms=-5000, end_ms=-1000)
    await rig.final(4, "Fine.", start_ms=900_000_000, end_ms=900_002_000)
    await rig.final(5, "Right.", start_ms=50_000, end_ms=10_000)
    with pytest.raises(PermanentError):  # dead-lettered by the consumer, nothing half-done
        await rig.final(
            6, "What channel is this?", channel=common_pb2.Channel.Value("CHANNEL_UNSPECIFIED")
        )
    stray = f"stray-{uuid.uuid4().hex[:8]}"  # never started
    await rig.final(0, "I'm calling my lawyer, I want an agent, an agent!", call_id=stray)
    await rig.final(1, "An agent now!", call_id=stray)

    assert [
        r["utterance_no"]
        for r in sorted(await rig.rows("utterances"), key=lambda r: r["utterance_no"])
    ] == [2, 3, 4, 5]
    assert len(await rig.rows("utterances", stray)) == 2  # analysed, kept
    assert await rig.rows("alerts") == [] and await rig.rows("alerts", stray) == []
    assert await rig.alerts_on_topic() == []
    assert rig.rejected() == {
        "empty_text": 2,
        "unknown_language": 1,
        "negative_time": 1,
        "beyond_max_call": 1,
        "end_before_start": 1,
        "unknown_channel": 1,
        "unknown_call": 2,
    }
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "unknown language 'xx-YY'" in messages and f"unknown call {stray}" in messages
    assert "implausible timing" in messages and "empty_text" in messages

    # The stray call's CallStarted was only late: its held-back rules run when it arrives.
    rig.call_id = stray
    await rig.start(stray)
    kinds = sorted(r["kind"] for r in await rig.rows("alerts", stray))
    assert kinds == ["human_request", "legal_threat"]


async def _summaries_made(rig: Rig, within_s: float = 15.0) -> int:
    """Run the summary loop's step until it makes something (or time is up)."""
    deadline = time.monotonic() + within_s
    while (made := await rig.analyzer.summarize_due()) == 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return made


async def test_the_summary_waits_for_finals_that_lag_the_end_of_the_call(rig: Rig) -> None:
    rig.analyzer._summary_quiet_s = 2.0  # as CALLSCOPE_ANALYZER_SUMMARY_QUIET_S would
    await rig.start()
    await rig.final(0, "Hello, how can I help?", channel=AGENT)
    await rig.deliver(events_pb2.CallEnded(call_id=rig.call_id, duration_ms=12_000))
    assert await rig.analyzer.summarize_due() == 0  # not quiet long enough yet
    await rig.final(0, "My card was charged twice.", start_s=3.0)  # transcribed late
    assert await rig.analyzer.summarize_due() == 0  # the late final restarted the wait
    assert await _summaries_made(rig) == 1
    [summary] = await rig.rows("summaries")
    assert summary["summary"]["customer_utterances"] == 1  # the late final is in it
    # A final after the summary asks for a new one, which replaces it.
    await rig.final(1, "And nobody answers my emails.", start_s=7.0)
    assert await rig.analyzer.summarize_due() == 0
    assert await _summaries_made(rig) == 1
    [summary] = await rig.rows("summaries")
    assert summary["summary"]["customer_utterances"] == 2
    assert await rig.analyzer.summarize_due() == 0


async def test_the_post_call_transcript_does_not_page_supervisors_again(rig: Rig) -> None:
    await rig.start()
    await rig.final(0, "I'm calling my lawyer about this.")
    [live_alert] = [r["alert_id"] for r in await rig.rows("alerts")]
    await rig.deliver(events_pb2.CallEnded(call_id=rig.call_id, duration_ms=8_000))
    v2 = events_pb2.TranscriptSegment(
        call_id=rig.call_id,
        channel=CUSTOMER,
        utterance_no=0,
        version=2,
        kind=FINAL,
        text="I am calling my lawyer about this.",
        language="en",
        start_ms=0,
        end_ms=2000,
    )
    await rig.deliver(v2)  # the post-call pass re-transcribed the call
    assert [r["alert_id"] for r in await rig.rows("alerts")] == [live_alert]
    assert await rig.analyzer.summarize_due() == 1
    [summary] = await rig.rows("summaries")
    assert summary["version"] == 2  # the better transcript is summarised
    assert summary["summary"]["alert_keys"] == ["legal_threat/v1/customer:0"]
