"""A supervisor watches calls live: a WatchCall gRPC client connected while the call is in
progress (purpose live-assist, allowed by retention for a live call) receives the transcript,
the customer's falling sentiment and the alerts as they happen, then the call's end.

English: the escalation call is sent through the whole stack as SIPREC audio with SIPp
(recorder -> transcriber, Whisper base -> analyzer).

French: Whisper base does not transcribe the espeak-ng French voices well enough to find
"conseiller" (measured: "Cofetier", "Pape M W A K O T E A"; tools/make_test_call.py makes that
call), so the French call's CallStarted, FINAL transcript segments and CallEnded are published
by this test with a real producer onto the running stack's topics, as the recorder and the
transcriber would publish them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import psycopg
import pytest

from callscope.v1 import common_pb2, events_pb2, supervisor_pb2, supervisor_pb2_grpc
from callscope_core.devtools import SampleCall, TopicTail, run_sipp
from callscope_core.kafka import EventProducer
from callscope_core.settings import CoreSettings
from callscope_core.topics import CALL_EVENTS, TRANSCRIPTS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ESCALATION_EN = SampleCall(REPO / "tests" / "data" / "calls" / "escalation_en")
CUSTOMER, AGENT = common_pb2.CHANNEL_CUSTOMER, common_pb2.CHANNEL_AGENT
SUPERVISOR = "supervisor-e2e@example"


@dataclass
class Watched:
    """What one WatchCall client received, with when (monotonic seconds)."""

    updates: list[tuple[float, supervisor_pb2.CallUpdate]] = field(default_factory=list)

    def of(self, kind: str) -> list[supervisor_pb2.CallUpdate]:
        return [u for _, u in self.updates if u.WhichOneof("update") == kind]

    def first_at(self, kind: str) -> float | None:
        return next((t for t, u in self.updates if u.WhichOneof("update") == kind), None)

    def timeline(self, since: float) -> str:
        """For failure messages: when each update came, and what it was."""
        lines = []
        for t, u in self.updates:
            kind = u.WhichOneof("update")
            detail = getattr(u, kind)
            text = getattr(detail, "text", "") or getattr(detail, "kind", "")
            lines.append(f"{t - since:6.2f}s {kind} {str(text)[:60]}")
        return "\n".join(lines)

    def customer_scores(self) -> list[float]:
        return [
            a.analysis.sentiment.score
            for a in self.of("analysis")
            if a.analysis.channel == CUSTOMER
        ]


async def watch(stub: supervisor_pb2_grpc.SupervisorStub, call_id: str, out: Watched) -> None:
    """Follow the call until the stream ends (with the call's summary)."""
    request = supervisor_pb2.WatchCallRequest(
        call_id=call_id, requested_by=SUPERVISOR, purpose="live-assist"
    )
    async for update in stub.WatchCall(request, timeout=120):
        out.updates.append((time.monotonic(), update))


async def known_to_analyzer_and_retention(database_url: str, call_id: str) -> None:
    """CallStarted reached both services (each consumes callscope.call.events on its own)."""
    async with asyncio.timeout(30):
        while True:
            async with await psycopg.AsyncConnection.connect(database_url) as conn:
                cur = await conn.execute(
                    "SELECT (SELECT count(*) FROM analyzer.calls WHERE call_id = %s)"
                    " + (SELECT count(*) FROM retention.calls WHERE call_id = %s)",
                    (call_id, call_id),
                )
                if (await cur.fetchone())[0] == 2:
                    return
            await asyncio.sleep(0.1)


def assert_watched_live(watched: Watched, *, to_the_end: bool) -> None:
    kinds = [u.WhichOneof("update") for _, u in watched.updates]
    # Connected while the call was live, before anything was transcribed: all that follows
    # was pushed as it was produced, nothing came from the replay.
    first = watched.updates[0][1]
    assert first.WhichOneof("update") == "call" and first.call.live, kinds
    assert first.call.customer_sentiment.label == "neutral" and kinds[1] == "transcript", kinds
    if to_the_end:  # the call as it ended, then its summary, which closes the stream
        assert kinds[-2:] == ["call", "summary"], kinds
        assert not watched.updates[-2][1].call.live
    # Each alert came right after the final that completed its evidence.
    finals: dict[tuple[int, int], float] = {}  # first seen (a post-call v2 may come later)
    for t, u in watched.updates:
        if u.WhichOneof("update") == "transcript" and u.transcript.kind == 2:
            finals.setdefault((u.transcript.channel, u.transcript.utterance_no), t)
    alerts = [(t, u.alert) for t, u in watched.updates if u.WhichOneof("update") == "alert"]
    assert alerts, watched.timeline(watched.updates[0][0])
    for at, alert in alerts:
        trigger = max(finals[(e.channel, e.utterance_no)] for e in alert.evidence)
        assert 0 <= at - trigger < 3.0, (alert.kind, watched.timeline(trigger))


async def test_supervisor_watches_an_english_escalation_live(stack: dict, tmp_path: Path) -> None:
    endpoints = stack["endpoints"]
    tail = TopicTail(endpoints["kafka_bootstrap"], [CALL_EVENTS.name])
    await tail.start()
    sipp = asyncio.create_task(
        run_sipp(ESCALATION_EN, endpoints["sip_host"], endpoints["sip_port"], tmp_path)
    )
    watched = Watched()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{endpoints['grpc']['analyzer']}") as ch:
        stub = supervisor_pb2_grpc.SupervisorStub(ch)
        try:
            async with asyncio.timeout(20):
                started = None
                while started is None:
                    started = next(
                        (
                            m
                            for _, m in await tail.poll(0.2)
                            if isinstance(m, events_pb2.CallStarted)
                        ),
                        None,
                    )
            call_id = started.call_id
            await known_to_analyzer_and_retention(endpoints["database_url"], call_id)
            # Watched to the end: the summary comes once the transcripts have been quiet for
            # CALLSCOPE_ANALYZER_SUMMARY_QUIET_S after the call (Whisper lags the call).
            watcher = asyncio.create_task(watch(stub, call_id, watched))
            result = await asyncio.wait_for(asyncio.shield(sipp), 60)
            assert result.returncode == 0, result.stdout.decode(errors="replace")[-2000:]
            await asyncio.wait_for(watcher, 90)
        finally:
            sipp.cancel()
            await tail.stop()

    assert_watched_live(watched, to_the_end=True)
    finals = [u.transcript for u in watched.of("transcript") if u.transcript.kind == 2]
    heard = " ".join(f.text.lower() for f in finals if f.channel == CUSTOMER)
    assert "agent" in heard, heard
    scores = watched.customer_scores()
    assert scores and min(scores) < -0.2, scores  # from neutral at the start to negative
    assert "human_request" in {a.alert.kind for a in watched.of("alert")}
    summary = watched.of("summary")[0].summary
    assert summary.customer_sentiment.label == "negative"


FRENCH_CALL = [  # (channel, text, start_s, end_s); the customer gets angrier turn by turn
    (AGENT, "Bonjour, banque Acme, Claire à votre écoute.", 0.3, 2.8),
    (CUSTOMER, "Bonjour ! Merci, j'ai juste une petite question sur ma carte.", 3.4, 6.9),
    (AGENT, "Bien sûr, je regarde votre dossier tout de suite.", 7.4, 9.9),
    (
        CUSTOMER,
        "On m'a débité deux fois et personne ne fait rien, je suis très mécontent.",
        10.5,
        15.0,
    ),
    (AGENT, "Je comprends, un instant s'il vous plaît.", 15.5, 17.6),
    (CUSTOMER, "C'est inadmissible ! Je veux parler à un conseiller !", 18.2, 21.0),
    (CUSTOMER, "Un conseiller, tout de suite ! Sinon je contacte mon avocat !", 21.5, 24.8),
]


async def test_supervisor_watches_a_french_escalation_live(stack: dict, tmp_path: Path) -> None:
    endpoints = stack["endpoints"]
    core = CoreSettings(
        kafka_bootstrap_servers=endpoints["kafka_bootstrap"],
        kafka_idempotence=False,
        database_url=endpoints["database_url"],
        object_store_backend="filesystem",
        object_store_path=tmp_path / "objects",
        log_format="text",
    )
    producer = EventProducer(core, "e2e-fr")
    await producer.start()
    call_id = f"e2e-fr-{uuid.uuid4().hex[:10]}"
    started = events_pb2.CallStarted(
        call_id=call_id,
        source="e2e",
        queue="reclamations",
        language="fr",
        agent_id="agent-2002",
        participants=[
            events_pb2.Participant(aor="tel:+33611223344", channel=CUSTOMER),
            events_pb2.Participant(aor="sip:agent-2002@cc.example", channel=AGENT),
        ],
    )
    started.started_at.GetCurrentTime()
    watched = Watched()
    numbers = {CUSTOMER: 0, AGENT: 0}
    try:
        await producer.publish(CALL_EVENTS, call_id, started)
        await known_to_analyzer_and_retention(endpoints["database_url"], call_id)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{endpoints['grpc']['analyzer']}") as ch:
            stub = supervisor_pb2_grpc.SupervisorStub(ch)
            watcher = asyncio.create_task(watch(stub, call_id, watched))
            async with asyncio.timeout(10):
                while not watched.updates:
                    await asyncio.sleep(0.05)
            for channel, text, start_s, end_s in FRENCH_CALL:
                segment = events_pb2.TranscriptSegment(
                    call_id=call_id,
                    channel=channel,
                    utterance_no=numbers[channel],
                    version=1,
                    language="fr",
                    text=text,
                    start_ms=int(start_s * 1000),
                    end_ms=int(end_s * 1000),
                    confidence=0.9,
                )
                numbers[channel] += 1
                partial = events_pb2.TranscriptSegment()
                partial.CopyFrom(segment)
                partial.kind = events_pb2.TranscriptSegment.KIND_PARTIAL
                partial.text = text.split(",")[0]
                await producer.publish(TRANSCRIPTS, call_id, partial)
                segment.kind = events_pb2.TranscriptSegment.KIND_FINAL
                await producer.publish(TRANSCRIPTS, call_id, segment)
                await asyncio.sleep(0.3)  # turns follow each other, as on a call
            # The alerts reach the watcher while the call is still going on.
            async with asyncio.timeout(20):
                while len({a.alert.kind for a in watched.of("alert")}) < 2:
                    await asyncio.sleep(0.05)
            ended = events_pb2.CallEnded(call_id=call_id, duration_ms=25_500, reason="bye")
            await producer.publish(CALL_EVENTS, call_id, ended)
            await asyncio.wait_for(watcher, 30)
    finally:
        await producer.stop()

    assert_watched_live(watched, to_the_end=True)
    finals = [u.transcript for u in watched.of("transcript") if u.transcript.kind == 2]
    assert [f.text for f in finals] == [text for _, text, _, _ in FRENCH_CALL]
    assert watched.of("transcript")[0].transcript.kind == 1  # partials stream too
    scores = watched.customer_scores()
    # From a calm first question to anger: every later customer utterance is clearly negative.
    assert len(scores) == 4 and scores[0] > -0.2, scores
    assert all(score < -0.3 for score in scores[1:]), scores
    kinds = {a.alert.kind for a in watched.of("alert")}
    assert {"human_request", "legal_threat"} <= kinds, kinds
    human = next(a.alert for a in watched.of("alert") if a.alert.kind == "human_request")
    assert human.queue == "reclamations" and any("conseiller" in e.text for e in human.evidence)
    summary = watched.of("summary")[0].summary
    assert summary.customer_sentiment.label == "negative"
