"""The recording service layer: a call's life from offer to stored recording and events.

Each call is one trace: the span opened at the SIP INVITE is the parent of every event the
call publishes, so transcriber and analyzer spans join it through the Kafka headers.

Metrics measured here: calls active and ended, RTP packets lost per channel (reported from the
jitter buffer's counts as segments go out), and bytes of recordings stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.trace import Span

from callscope.v1 import events_pb2
from callscope_core import metrics
from callscope_core.channels import channel_value
from callscope_core.kafka import EventProducer
from callscope_core.topics import AUDIO_SEGMENTS, CALL_EVENTS

from .domain.call import SAMPLE_RATE, CallSession, SegmentOut
from .ingest.rtp import RtpPacket
from .ingest.rtp_server import RtpPortPool
from .settings import RecorderSettings
from .storage import RecordingStore

log = logging.getLogger(__name__)
tracer = trace.get_tracer("callscope.recorder")

CALLS_ACTIVE = metrics.up_down_counter(metrics.RECORDER_CALLS_ACTIVE)
CALLS_ENDED = metrics.counter(metrics.RECORDER_CALLS_ENDED)
RTP_LOST = metrics.counter(metrics.RECORDER_RTP_PACKETS_LOST)
RECORDINGS_STORED = metrics.counter(metrics.RECORDER_RECORDINGS_STORED)


@dataclass
class ActiveCall:
    session: CallSession
    span: Span
    participants: list[dict[str, str]]
    rs_metadata: str | None
    transports: list[asyncio.DatagramTransport] = field(default_factory=list)
    pump: asyncio.Task[None] | None = None
    last_media: float = field(default_factory=time.monotonic)
    ending: asyncio.Task[None] | None = None
    lost_reported: dict[str, int] = field(default_factory=dict)

    def report_loss(self) -> None:
        """Add what the jitter buffers counted as lost since the last report (a reordered
        packet can lower the count; the metric only ever goes up)."""
        for channel, audio in self.session.audio.items():
            lost = audio.stats.lost
            before = self.lost_reported.get(channel, 0)
            if lost > before:
                RTP_LOST.add(lost - before, {"channel": channel})
                self.lost_reported[channel] = lost


class CallRecorder:
    def __init__(
        self,
        settings: RecorderSettings,
        store: RecordingStore,
        producer: EventProducer,
        rtp_ports: RtpPortPool,
    ) -> None:
        self._settings = settings
        self._store = store
        self._producer = producer
        self._rtp_ports = rtp_ports
        self.calls: dict[str, ActiveCall] = {}

    def new_call_id(self) -> str:
        return str(uuid.uuid4())

    def open_call_span(self, call_id: str, source: str, external_call_id: str) -> Span:
        """The root span of a call's trace, opened when the offer arrives (the SIP INVITE)
        and ended when the recording is stored."""
        return tracer.start_span(
            f"{source} call",
            kind=trace.SpanKind.SERVER,
            attributes={
                "callscope.call_id": call_id,
                "callscope.external_call_id": external_call_id,
            },
        )

    async def start_call(
        self,
        session: CallSession,
        *,
        stream_indexes: list[int],
        participants: list[dict[str, str]],
        rs_metadata: str | None,
        span: Span | None = None,
    ) -> list[int]:
        """Open one RTP socket per stream and start recording; returns the RTP ports.

        `span` is the call's span from open_call_span; one is opened when not given. When
        no ports can be had, OSError is raised and ending the span is the caller's job."""
        if span is None:
            span = self.open_call_span(session.call_id, session.source, session.external_call_id)
        span.set_attribute("callscope.queue", session.queue)
        active = ActiveCall(session, span, participants, rs_metadata)

        def sink_for(index: int):  # type: ignore[no-untyped-def]
            def sink(packet: RtpPacket) -> None:
                if not session.ended:
                    active.last_media = time.monotonic()
                    session.on_rtp(index, packet)

            return sink

        ports, transports = await self._rtp_ports.open_streams(
            [sink_for(i) for i in stream_indexes]
        )
        active.transports = transports
        self.calls[session.call_id] = active
        CALLS_ACTIVE.add(1)
        active.pump = asyncio.create_task(self._pump(active))
        return ports

    async def _publish_segments(self, active: ActiveCall, segments: list[SegmentOut]) -> None:
        session = active.session
        for segment in segments:
            await self._producer.publish(
                AUDIO_SEGMENTS,
                session.call_id,
                events_pb2.AudioSegment(
                    call_id=session.call_id,
                    channel=channel_value(segment.channel),
                    seq=segment.seq,
                    start_ms=segment.start_ms,
                    duration_ms=segment.duration_ms,
                    codec="pcm_s16le",
                    sample_rate=SAMPLE_RATE,
                    audio=segment.pcm,
                    last=segment.last,
                    language=session.language,
                ),
            )

    async def _pump(self, active: ActiveCall) -> None:
        """Publish CallStarted, then ~1 s segments per channel as audio arrives."""
        session = active.session
        with trace.use_span(active.span, end_on_exit=False):
            await self._store.call_started(session, active.participants, active.rs_metadata)
            started = events_pb2.CallStarted(
                call_id=session.call_id,
                source=session.source,
                queue=session.queue,
                language=session.language,
                external_call_id=session.external_call_id,
                sample_rate=SAMPLE_RATE,
                participants=[
                    events_pb2.Participant(
                        participant_id=p["participant_id"],
                        aor=p.get("aor", ""),
                        display_name=p.get("name", ""),
                        channel=channel_value(p["channel"]) if p.get("channel") else 0,
                    )
                    for p in active.participants
                ],
            )
            started.started_at.FromDatetime(session.started_at)
            await self._producer.publish(CALL_EVENTS, session.call_id, started)
            while not session.ended:
                segments = session.ready_segments(
                    self._settings.segment_ms, self._settings.jitter_ms
                )
                if segments:
                    await self._publish_segments(active, segments)
                    active.report_loss()
                else:
                    await asyncio.sleep(0.05)

    def end_call(self, call_id: str, reason: str) -> asyncio.Task[None] | None:
        """Idempotent: a retransmitted BYE returns the same finishing task."""
        active = self.calls.get(call_id)
        if active is None:
            return None
        if active.ending is None:
            active.ending = asyncio.create_task(self._finish(active, reason))
        return active.ending

    async def _finish(self, active: ActiveCall, reason: str) -> None:
        session = active.session
        session.ended = True
        for transport in active.transports:
            transport.close()
        ended_at = datetime.now(UTC)
        result = "failed"
        try:
            if active.pump is not None:
                # Let the pump finish what it started (CallStarted first, segments in order).
                with contextlib.suppress(asyncio.CancelledError):
                    await active.pump
            with (
                trace.use_span(active.span, end_on_exit=False),
                tracer.start_as_current_span(
                    "finish call", attributes={"callscope.end_reason": reason}
                ),
            ):
                await self._publish_segments(active, session.final_segments())
                active.report_loss()
                stored = await self._store.save_recording(session)
                RECORDINGS_STORED.add(stored.size)
                await self._store.call_ended(session, reason, ended_at, stored)
                segments = {c: n for c, n in session.next_seq.items()}
                ended = events_pb2.CallEnded(
                    call_id=session.call_id,
                    duration_ms=session.duration_ms,
                    reason=reason,
                    last_segment_seq=max(segments.values(), default=0) - 1,
                    segments_per_channel=segments,
                )
                ended.ended_at.FromDatetime(ended_at)
                await self._producer.publish(CALL_EVENTS, session.call_id, ended)
                await self._producer.publish(
                    CALL_EVENTS,
                    session.call_id,
                    events_pb2.RecordingStored(
                        call_id=session.call_id,
                        object_key=stored.key,
                        bucket=stored.bucket,
                        content_type="audio/wav",
                        size_bytes=stored.size,
                        duration_ms=session.duration_ms,
                        channels=2,
                        sample_rate=SAMPLE_RATE,
                        sha256=stored.sha256,
                        queue=session.queue,
                    ),
                )
                result = "stored"
                log.info(
                    "call %s ended (%s): %d ms stored as %s; media %s",
                    session.call_id,
                    reason,
                    session.duration_ms,
                    stored.key,
                    session.media_stats(),
                )
        except Exception as exc:
            active.span.record_exception(exc)
            active.span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
            log.exception("call %s: finishing the recording failed", session.call_id)
            raise
        finally:
            active.span.end()
            self.calls.pop(session.call_id, None)
            CALLS_ACTIVE.add(-1)
            CALLS_ENDED.add(1, {"reason": reason, "result": result})

    async def reap_silent_calls(self, stop: asyncio.Event) -> None:
        """End calls that lost their signalling: no RTP and no BYE for media_timeout_s."""
        from callscope_core.service import sleep_or_stop

        while not await sleep_or_stop(stop, 1.0):
            now = time.monotonic()
            for call_id, active in list(self.calls.items()):
                if (
                    active.ending is None
                    and now - active.last_media > self._settings.media_timeout_s
                ):
                    log.warning(
                        "call %s: no media for %.0fs, ending it", call_id, now - active.last_media
                    )
                    self.end_call(call_id, "timeout")

    async def drain(self, timeout_s: float) -> None:
        """On shutdown: let the calls in progress end by themselves (a rolling update must not
        cut a live call) for up to timeout_s, then finish and store whatever is left."""
        deadline = time.monotonic() + timeout_s
        while self.calls and time.monotonic() < deadline:
            log.info("draining: waiting for %d live call(s)", len(self.calls))
            await asyncio.sleep(min(1.0, max(deadline - time.monotonic(), 0.0)))
        tasks = [t for call_id in list(self.calls) if (t := self.end_call(call_id, "shutdown"))]
        await asyncio.gather(*tasks, return_exceptions=True)
