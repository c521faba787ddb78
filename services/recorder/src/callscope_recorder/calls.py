"""The recording service layer: a call's life from offer to stored recording and events, for
every source (SIPREC, Genesys AudioHook, Twilio Media Streams, gRPC StreamCall, file import).

The source-agnostic CallRecorder API
------------------------------------
An ingest adapter opens a call, feeds it audio per channel, and ends it::

    handle = await recorder.open_call(
        CallInfo(source="audiohook", external_call_id=session_id, queue="billing",
                 language="en", participants=[CallParticipant("p1", "tel:+33...", "", "customer")])
    )
    handle.feed("customer", ulaw_bytes, codec="pcmu")      # appended at the channel's end
    handle.feed("agent", pcm16, codec="pcm_s16le", sample_rate=16000, position=8000)
    handle.mark_gap(None, 1200, "discarded")               # AudioHook "discarded", both sides
    await handle.pause(by="genesys", reason="pci", source="audiohook")
    await handle.resume(by="genesys", reason="", source="audiohook")
    await handle.add_participant(CallParticipant("p3", "sip:sup@cc.example", "Sup", "agent"))
    await handle.consent(announcement_played=True, customer_opted_out=False, source="audiohook")
    result = await handle.end("hangup")  # flush, store, publish CallEnded + RecordingStored

- Channels are "customer" and "agent"; the stored recording is stereo (customer left, agent
  right). Audio is 16-bit PCM ("pcm_s16le", any rate from 8 to 48 kHz, resampled to 8 kHz)
  or G.711 ("pcmu", "pcma"). `position` is a sample offset at 8 kHz from the call's start
  (None appends); the call's timeline is kept, so transcript times match the recording.
- feed() and mark_gap() are plain calls (cheap, no I/O); everything that publishes an event is
  a coroutine. Errors in the input raise ValueError (UnknownChannelError, bad codec) and
  leave the call as it was; RecordingStateError for a command that does not fit the state.
- pause(): from that point nothing is stored, spooled or published (nothing is transcribed)
  until resume(); the recording keeps the pause as marked silence (RecordingStored.gaps), and
  RecordingPaused/RecordingResumed carry who, why and the source (api, dtmf, audiohook, ...).
  A source that stops sending audio while paused passes `position` to resume() (or calls
  mark_gap) so the gap has its real length; RTP streams keep running, so SIPREC does not.
- start()/stop(): on-demand recording (policy mode on_demand, or a call the percentage
  policy did not pick) records nothing until start(); stop() ends the recording for good.
- consent(): publishes ConsentRecorded; an opt-out applies the policy's opt_out_decision:
  "stop" (nothing after the opt-out is kept) or "proof_only" (kept, but only for proof: no
  more live segments, stored to the proof bucket under Object Lock, purposes=[proof]).
- The recording policy (per tenant and queue) is applied in open_call(); CallStarted says
  which mode applied and whether the call is recorded from its start.
- Audio is journaled to the durable spool as it is placed (spool.py); after a crash,
  recover() finishes and stores what was spooled (CallEnded reason "recovered").

SIPREC uses the same model: `start_call()` opens the call with the SIP offer's stream to
channel mapping, binds one RTP socket per stream and feeds packets to `CallSession.on_rtp`,
where RFC 4733 telephone-events become DTMF pause/resume commands (settings dtmf_*).

Each call is one trace: the span opened when the offer arrives is the parent of every event
the call publishes, so transcriber and analyzer spans join it through the Kafka headers.

Metrics measured here: calls active and ended, RTP packets lost per channel (reported from the
jitter buffer's counts as segments go out), and bytes of recordings stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from opentelemetry import trace
from opentelemetry.trace import Span

from callscope.v1 import events_pb2
from callscope_core import metrics
from callscope_core.channels import channel_value
from callscope_core.kafka import EventProducer
from callscope_core.topics import AUDIO_SEGMENTS, CALL_EVENTS

from .domain.call import (
    CHANNELS,
    NOT_STARTED,
    SAMPLE_RATE,
    CallGap,
    CallSession,
    RecordingControl,
    RecordingStateError,
    SegmentOut,
    UnknownChannelError,
)
from .domain.dtmf import DtmfSequenceMatcher
from .domain.policy import RecordingDecision, RecordingPolicy, decide, default_policy
from .ingest.rtp import RtpPacket, RtpRun
from .ingest.rtp_server import PacketSink, RtpPortPool, RtpStream
from .settings import RecorderSettings
from .spool import AUDIO, SpooledCall
from .storage import RecordingStore, StoredRecording

__all__ = [
    "CallHandle",
    "CallInfo",
    "CallParticipant",
    "CallRecorder",
    "RecordingStateError",
    "UnknownChannelError",
]

log = logging.getLogger(__name__)
tracer = trace.get_tracer("callscope.recorder")

CALLS_ACTIVE = metrics.up_down_counter(metrics.RECORDER_CALLS_ACTIVE)
CALLS_ENDED = metrics.counter(metrics.RECORDER_CALLS_ENDED)
RTP_LOST = metrics.counter(metrics.RECORDER_RTP_PACKETS_LOST)
RECORDINGS_STORED = metrics.counter(metrics.RECORDER_RECORDINGS_STORED)


@dataclass(frozen=True)
class CallParticipant:
    participant_id: str
    aor: str = ""
    name: str = ""
    channel: str = ""  # "customer" | "agent" | "" (not speaking on a recorded channel)

    def as_row(self) -> dict[str, str]:
        return {
            "participant_id": self.participant_id,
            "aor": self.aor,
            "name": self.name,
            "channel": self.channel,
        }

    def as_event(self) -> events_pb2.Participant:
        return events_pb2.Participant(
            participant_id=self.participant_id,
            aor=self.aor,
            display_name=self.name,
            channel=channel_value(self.channel) if self.channel else 0,
        )


@dataclass
class CallInfo:
    """What a source knows about a call when it opens it."""

    source: str  # siprec | audiohook | twilio | grpc | import
    external_call_id: str = ""
    queue: str = ""
    language: str = ""
    tenant: str = ""  # "" = the recorder's tenant
    agent_id: str = ""
    participants: list[CallParticipant] = field(default_factory=list)
    rs_metadata: str | None = None  # SIPREC recording metadata, kept as received
    call_id: str | None = None  # None: a new id is assigned
    started_at: datetime | None = None


class PolicySource(Protocol):
    async def policy_for(self, tenant: str, queue: str) -> RecordingPolicy: ...


class CallJournal(Protocol):
    """The durable spool of one call (spool.py): what the recording will contain, as it is
    placed, so a crash loses nothing."""

    def audio(self, channel: str, position: int, pcm: bytes) -> None: ...

    def control(self, kind: str, **fields: Any) -> None: ...

    def flush(self) -> None: ...

    def remove(self) -> None: ...


class CallSpool(Protocol):
    def open(self, session: CallSession, info: dict[str, Any]) -> CallJournal: ...

    def calls(self) -> list[SpooledCall]: ...


@dataclass
class FinishedCall:
    call_id: str
    reason: str
    duration_ms: int
    stored: StoredRecording | None  # None when nothing was recorded (never started)


class CallHandle:
    """One live call, for the adapter that feeds it. See the module docstring."""

    def __init__(
        self,
        recorder: CallRecorder,
        session: CallSession,
        info: CallInfo,
        span: Span,
        decision: RecordingDecision,
        journal: CallJournal | None,
    ) -> None:
        self._recorder = recorder
        self.session = session
        self.info = info
        self.span = span
        self.decision = decision
        self.journal = journal
        self.participants = list(info.participants)
        self.transports: list[RtpStream] = []
        self.pump: asyncio.Task[None] | None = None
        self.last_media = time.monotonic()
        self.ending: asyncio.Task[FinishedCall] | None = None
        self.started = asyncio.Event()  # CallStarted is out: later events follow it
        self.wake = asyncio.Event()  # the pump has work now (a DTMF command, the end)
        self.lost_reported: dict[str, int] = {}
        self.consents: list[dict[str, Any]] = []
        self._control_lock = asyncio.Lock()
        if journal is not None:
            for channel, audio in session.audio.items():
                audio.listener = _journal_writer(journal, channel)

    @property
    def call_id(self) -> str:
        return self.session.call_id

    @property
    def state(self) -> str:
        return self.session.state

    # -- audio ----------------------------------------------------------------------------
    def feed(
        self,
        channel: str,
        audio: bytes,
        *,
        codec: str = "pcm_s16le",
        position: int | None = None,
        sample_rate: int = SAMPLE_RATE,
    ) -> int:
        """Audio of one channel; returns the 8 kHz sample position where it was placed."""
        if self.session.ended:
            raise RecordingStateError(f"call {self.call_id} has ended")
        self.last_media = time.monotonic()
        return self.session.feed(
            channel, audio, codec=codec, position=position, sample_rate=sample_rate
        )

    def feed_rtp(self, stream_index: int, packet: RtpPacket | RtpRun) -> None:
        if not self.session.ended:
            self.last_media = time.monotonic()
            if type(packet) is RtpRun:
                self.session.on_rtp_run(stream_index, packet)
            else:
                self.session.on_rtp(stream_index, packet)
            if self.session.dtmf_commands:
                self.wake.set()

    async def idle(self, delay_s: float) -> None:
        """Wait `delay_s`, or less when the pump is woken."""
        if not self.wake.is_set():
            timer = asyncio.get_running_loop().call_later(delay_s, self.wake.set)
            try:
                await self.wake.wait()
            finally:
                timer.cancel()
        self.wake.clear()

    def mark_gap(
        self,
        channel: str | None,
        duration_ms: int,
        reason: str = "discarded",
        position: int | None = None,
    ) -> CallGap:
        """Audio the source dropped, on one channel or both (None): marked silence."""
        if position is None and channel is None:
            position = self.session.position
        elif position is None and channel in self.session.audio:
            position = self.session.audio[channel].end
        gap = self.session.mark_gap(channel, duration_ms, reason, position)
        if self.journal is not None:
            self.journal.control(
                "gap", channel=channel, duration_ms=duration_ms, reason=reason, position=position
            )
        return gap

    # -- recording state ------------------------------------------------------------------
    async def pause(
        self, by: str, reason: str = "", source: str = "api", position: int | None = None
    ) -> str:
        async with self._control_lock:
            control = self.session.pause(by, reason, source, position)
            await self._controlled(control, position)
        return self.state

    async def resume(
        self, by: str, reason: str = "", source: str = "api", position: int | None = None
    ) -> str:
        async with self._control_lock:
            control = self.session.resume(by, reason, source, position)
            await self._controlled(control, position)
        return self.state

    async def start(self, by: str, reason: str = "", source: str = "api") -> str:
        async with self._control_lock:
            await self._controlled(self.session.start(by, reason, source))
        return self.state

    async def stop(self, by: str, reason: str = "", source: str = "api") -> str:
        async with self._control_lock:
            await self._controlled(self.session.stop(by, reason, source))
        return self.state

    async def _controlled(
        self, control: RecordingControl | None, position: int | None = None
    ) -> None:
        if control is None:  # already in that state: nothing changes, nothing is published
            return
        if self.journal is not None:
            self.journal.control(
                control.action,
                position=control.position,
                ends=self.session.ends(),
                by=control.by,
                reason=control.reason,
                source=control.source,
            )
            self.journal.flush()
        log.info(
            "call %s: recording %s at %d ms by %s (%s, %s)",
            self.call_id,
            control.action,
            control.at_ms,
            control.by,
            control.source,
            control.reason,
        )
        await self._recorder.publish_control(self, control)

    # -- participants and consent ---------------------------------------------------------
    async def add_participant(self, participant: CallParticipant) -> None:
        """Someone joined (a transfer, a supervisor): stored with the call, ParticipantJoined."""
        self.participants = [
            p for p in self.participants if p.participant_id != participant.participant_id
        ] + [participant]
        if self.journal is not None:
            self.journal.control("participant", **participant.as_row())
        await self._recorder.participant_joined(self, participant)

    async def consent(
        self,
        *,
        announcement_played: bool,
        customer_opted_out: bool,
        source: str = "api",
        by: str = "",
    ) -> str:
        """Record consent; an opt-out applies the policy. Returns the decision: continue,
        stop or proof_only."""
        return await self._recorder.record_consent(
            self, announcement_played, customer_opted_out, source, by
        )

    async def end(self, reason: str) -> FinishedCall:
        """Flush, store and publish; idempotent (a second call returns the same result)."""
        task = self._recorder.end_call(self.call_id, reason)
        if task is None:
            raise RecordingStateError(f"call {self.call_id} is not live")
        return await task

    # -- bookkeeping ----------------------------------------------------------------------
    def report_loss(self) -> None:
        """Add what the jitter buffers counted as lost since the last report (a reordered
        packet can lower the count; the metric only ever goes up)."""
        for channel, audio in self.session.audio.items():
            lost = audio.stats.lost
            before = self.lost_reported.get(channel, 0)
            if lost > before:
                RTP_LOST.add(lost - before, {"channel": channel})
                self.lost_reported[channel] = lost


def _journal_writer(journal: CallJournal, channel: str) -> Callable[[int, bytes], None]:
    def write(position: int, pcm: bytes) -> None:
        journal.audio(channel, position, pcm)

    return write


# A call's state names, as SetRecordingResponse.state says them.
ACTIONS = ("start", "pause", "resume", "stop")


class CallRecorder:
    def __init__(
        self,
        settings: RecorderSettings,
        store: RecordingStore,
        producer: EventProducer,
        rtp_ports: RtpPortPool,
        *,
        policies: PolicySource | None = None,
        spool: CallSpool | None = None,
        tenant: str = "default",
    ) -> None:
        self._settings = settings
        self._store = store
        self._producer = producer
        self._rtp_ports = rtp_ports
        # A pump looks for new segments this often; no sooner than batched RTP arrives.
        self._pump_interval_s = max(0.05, rtp_ports.drain_interval_s if rtp_ports else 0.0)
        self._policies = policies
        self._spool = spool
        self._tenant = tenant
        self.calls: dict[str, CallHandle] = {}

    @property
    def rtp_ports(self) -> RtpPortPool:
        return self._rtp_ports

    def new_call_id(self) -> str:
        return str(uuid.uuid4())

    def handle(self, call_id: str) -> CallHandle | None:
        return self.calls.get(call_id)

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

    # -- opening a call -------------------------------------------------------------------
    async def open_call(
        self,
        info: CallInfo,
        *,
        span: Span | None = None,
        session: CallSession | None = None,
    ) -> CallHandle:
        """Start recording a call from any source. The policy for its tenant and queue
        decides whether audio is kept from the start; CallStarted is published in order
        before anything else about the call."""
        tenant = info.tenant or self._tenant
        call_id = session.call_id if session is not None else (info.call_id or self.new_call_id())
        if call_id in self.calls:
            raise RecordingStateError(f"call {call_id} is already live")
        if session is None:
            session = CallSession(
                call_id=call_id,
                external_call_id=info.external_call_id or call_id,
                source=info.source,
                queue=info.queue,
                language=info.language,
                started_at=info.started_at or datetime.now(UTC),
                tenant=tenant,
                agent_id=info.agent_id,
            )
        else:
            session.tenant = session.tenant or tenant
            session.agent_id = session.agent_id or info.agent_id
        info.call_id = call_id
        if span is None:
            span = self.open_call_span(call_id, session.source, session.external_call_id)
        span.set_attribute("callscope.queue", session.queue)
        policy = (
            await self._policies.policy_for(tenant, session.queue)
            if self._policies is not None
            else default_policy(tenant)
        )
        decision = decide(policy, call_id, session.source)
        if not decision.record_from_start:
            session.not_started()
        session.dtmf = DtmfSequenceMatcher(
            self._settings.dtmf_pause_digits,
            self._settings.dtmf_resume_digits,
            self._settings.dtmf_max_gap_ms,
        )
        session.dtmf_channels = tuple(self._settings.dtmf_channels)
        journal = None
        if self._spool is not None:
            journal = self._spool.open(session, _journal_header(session, info, decision))
        handle = CallHandle(self, session, info, span, decision, journal)
        self.calls[call_id] = handle
        CALLS_ACTIVE.add(1)
        handle.pump = asyncio.create_task(self._pump(handle))
        return handle

    async def start_call(
        self,
        session: CallSession,
        *,
        stream_indexes: list[int],
        participants: list[dict[str, str]],
        rs_metadata: str | None,
        span: Span | None = None,
    ) -> list[int]:
        """SIPREC: open one RTP socket per stream and start recording; returns the RTP ports.

        `span` is the call's span from open_call_span; one is opened when not given. When
        no ports can be had, OSError is raised and ending the span is the caller's job."""
        ports, transports = await self._rtp_ports.open_streams(
            [self._rtp_sink(session.call_id, i) for i in stream_indexes]
        )
        info = CallInfo(
            source=session.source,
            external_call_id=session.external_call_id,
            queue=session.queue,
            language=session.language,
            participants=[CallParticipant(**p) for p in participants],
            rs_metadata=rs_metadata,
            call_id=session.call_id,
            started_at=session.started_at,
        )
        try:
            handle = await self.open_call(info, span=span, session=session)
        except BaseException:
            for transport in transports:
                transport.close()
            raise
        handle.transports = transports
        return ports

    def _rtp_sink(self, call_id: str, stream_index: int) -> PacketSink:
        calls = self.calls

        def sink(packet: RtpPacket | RtpRun) -> None:
            handle = calls.get(call_id)
            if handle is not None:
                handle.feed_rtp(stream_index, packet)

        return sink

    # -- events ---------------------------------------------------------------------------
    async def _publish_segments(self, handle: CallHandle, segments: list[SegmentOut]) -> None:
        await self._publish_session_segments(handle.session, segments, handle.journal)

    async def _publish_session_segments(
        self, session: CallSession, segments: list[SegmentOut], journal: CallJournal | None
    ) -> None:
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
        if segments and journal is not None:
            # Where each channel's live stream got to: a recovery continues from here.
            journal.control(
                "published",
                cursors={c: a.cursor for c, a in session.audio.items()},
                next_seq=dict(session.next_seq),
            )

    async def _publish_call_started(self, handle: CallHandle) -> None:
        # The participants known at the start; later ones are ParticipantJoined events.
        await self._announce_start(
            handle.session, handle.info.participants, handle.info.rs_metadata, handle.decision
        )

    async def _announce_start(
        self,
        session: CallSession,
        participants: list[CallParticipant],
        rs_metadata: str | None,
        decision: RecordingDecision,
    ) -> None:
        await self._store.call_started(
            session, [p.as_row() for p in participants], rs_metadata, decision
        )
        started = events_pb2.CallStarted(
            call_id=session.call_id,
            source=session.source,
            queue=session.queue,
            language=session.language,
            external_call_id=session.external_call_id,
            sample_rate=SAMPLE_RATE,
            agent_id=session.agent_id,
            tenant=session.tenant,
            recording_mode=decision.mode,
            recording=decision.record_from_start,
            participants=[p.as_event() for p in participants],
        )
        started.started_at.FromDatetime(session.started_at)
        await self._producer.publish(CALL_EVENTS, session.call_id, started)

    async def _pump(self, handle: CallHandle) -> None:
        """Publish CallStarted, then ~1 s segments per channel as audio arrives; apply DTMF
        commands; flush the spool journal."""
        session = handle.session
        with trace.use_span(handle.span, end_on_exit=False):
            try:
                await self._publish_call_started(handle)
            finally:
                handle.started.set()
            last_flush = time.monotonic()
            flush_s = self._settings.spool_flush_ms / 1000
            jitter_ms = self._settings.jitter_ms
            last_ends: dict[str, int] = {}
            while not session.ended:
                if session.dtmf_commands:
                    await self._apply_dtmf(handle)
                segments = session.ready_segments(self._settings.segment_ms, jitter_ms)
                if segments:
                    await self._publish_segments(handle, segments)
                    handle.report_loss()
                else:
                    # Until a segment can be complete (audio comes in real time), but at
                    # least one receive interval and at most one journal flush interval.
                    due_s = session.next_segment_in_ms(self._settings.segment_ms, jitter_ms) / 1000
                    await handle.idle(min(max(due_s, self._pump_interval_s), flush_s))
                if handle.journal is not None and time.monotonic() - last_flush >= flush_s:
                    ends = session.ends()
                    if ends != last_ends:
                        # Audio dropped in a gap moves the timeline without a write.
                        handle.journal.control("ends", ends=ends)
                        last_ends = ends
                    handle.journal.flush()
                    last_flush = time.monotonic()

    async def _apply_dtmf(self, handle: CallHandle) -> None:
        commands, handle.session.dtmf_commands = handle.session.dtmf_commands, []
        for command in commands:
            try:
                # Where the keys were pressed, not where the call is when this runs.
                if command.action == "pause":
                    await handle.pause(
                        "agent", f"dtmf {command.sequence}", "dtmf", command.position
                    )
                else:
                    await handle.resume(
                        "agent", f"dtmf {command.sequence}", "dtmf", command.position
                    )
            except RecordingStateError as exc:
                log.info("call %s: DTMF %s ignored: %s", handle.call_id, command.sequence, exc)

    async def publish_control(self, handle: CallHandle, control: RecordingControl) -> None:
        await handle.started.wait()
        call_id = handle.call_id
        message: Any
        if control.action == "pause":
            message = events_pb2.RecordingPaused(
                call_id=call_id,
                at_ms=control.at_ms,
                by=control.by,
                reason=control.reason,
                source=control.source,
            )
        elif control.action == "resume":
            message = events_pb2.RecordingResumed(
                call_id=call_id,
                at_ms=control.at_ms,
                by=control.by,
                gap_ms=control.gap_ms,
                source=control.source,
                reason=control.reason,
            )
        elif control.action == "start":
            message = events_pb2.RecordingStarted(
                call_id=call_id, at_ms=control.at_ms, by=control.by, reason=control.reason
            )
        else:
            message = events_pb2.RecordingStopped(
                call_id=call_id, at_ms=control.at_ms, by=control.by, reason=control.reason
            )
        with trace.use_span(handle.span, end_on_exit=False):
            await self._producer.publish(CALL_EVENTS, call_id, message)

    async def participant_joined(self, handle: CallHandle, participant: CallParticipant) -> None:
        await handle.started.wait()
        await self._store.participants_changed(
            handle.call_id, [p.as_row() for p in handle.participants]
        )
        with trace.use_span(handle.span, end_on_exit=False):
            await self._producer.publish(
                CALL_EVENTS,
                handle.call_id,
                events_pb2.ParticipantJoined(
                    call_id=handle.call_id, participant=participant.as_event()
                ),
            )

    async def participants_joined(
        self, call_id: str, participants: list[dict[str, str]], rs_metadata: str | None = None
    ) -> None:
        """SIPREC re-INVITE/UPDATE: people who joined (dicts with participant_id, aor, name,
        channel), each a ParticipantJoined; the new rs-metadata replaces the stored one."""
        handle = self.calls.get(call_id)
        if handle is None:
            log.info("call %s: participants joined after the call ended; ignored", call_id)
            return
        if rs_metadata is not None:
            handle.info.rs_metadata = rs_metadata
            await handle.started.wait()
            await self._store.rs_metadata_changed(call_id, rs_metadata)
        for row in participants:
            await handle.add_participant(
                CallParticipant(
                    participant_id=row["participant_id"],
                    aor=row.get("aor", ""),
                    name=row.get("name", ""),
                    channel=row.get("channel", ""),
                )
            )

    async def record_consent(
        self,
        handle: CallHandle,
        announcement_played: bool,
        customer_opted_out: bool,
        source: str,
        by: str,
    ) -> str:
        decision = "continue"
        if customer_opted_out:
            decision = handle.decision.policy.opt_out_decision
        at_ms = handle.session.position_ms
        consent = {
            "announcement_played": announcement_played,
            "customer_opted_out": customer_opted_out,
            "decision": decision,
            "at_ms": at_ms,
            "source": source,
        }
        handle.consents.append(consent)
        if handle.journal is not None:
            handle.journal.control("consent", **consent)
        await handle.started.wait()
        with trace.use_span(handle.span, end_on_exit=False):
            await self._producer.publish(
                CALL_EVENTS,
                handle.call_id,
                events_pb2.ConsentRecorded(
                    call_id=handle.call_id,
                    announcement_played=announcement_played,
                    customer_opted_out=customer_opted_out,
                    decision=decision,
                    at_ms=at_ms,
                    source=source,
                ),
            )
        if decision == "stop":
            await handle.stop(by or "customer", "customer opted out", "consent")
        elif decision == "proof_only":
            handle.session.keep_for_proof_only()
            if handle.journal is not None:
                handle.journal.control("proof_only")
        return decision

    # -- ending a call --------------------------------------------------------------------
    def end_call(self, call_id: str, reason: str) -> asyncio.Task[FinishedCall] | None:
        """Idempotent: a retransmitted BYE returns the same finishing task."""
        handle = self.calls.get(call_id)
        if handle is None:
            return None
        if handle.ending is None:
            handle.ending = asyncio.create_task(self._finish(handle, reason))
        return handle.ending

    async def _finish(self, handle: CallHandle, reason: str) -> FinishedCall:
        session = handle.session
        if handle.transports:
            # RTP sent just before the BYE may still wait in the sockets' buffers (a busy
            # loop reads them late): it belongs to the call, so read it before closing.
            await asyncio.sleep(self._settings.jitter_ms / 1000)
        for transport in handle.transports:
            transport.close()  # batched reception reads what is left for the call first
        session.ended = True
        handle.wake.set()
        ended_at = datetime.now(UTC)
        result = "failed"
        try:
            if handle.pump is not None:
                # Let the pump finish what it started (CallStarted first, segments in order).
                with contextlib.suppress(asyncio.CancelledError):
                    await handle.pump
            with (
                trace.use_span(handle.span, end_on_exit=False),
                tracer.start_as_current_span(
                    "finish call", attributes={"callscope.end_reason": reason}
                ),
            ):
                if session.dtmf_commands:
                    await self._apply_dtmf(handle)
                final = session.final_segments()
                handle.report_loss()
                if handle.journal is not None:
                    handle.journal.control("ending", reason=reason, ends=session.ends())
                    handle.journal.flush()
                finished = await self.store_and_announce(
                    session,
                    reason,
                    ended_at,
                    handle.decision.policy,
                    handle.participants,
                    final_segments=final,
                    journal=handle.journal,
                )
                result = "stored" if finished.stored is not None else "not_recorded"
                if handle.journal is not None:
                    handle.journal.remove()
                return finished
        except Exception as exc:
            handle.span.record_exception(exc)
            handle.span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
            log.exception("call %s: finishing the recording failed", session.call_id)
            raise
        finally:
            handle.span.end()
            self.calls.pop(session.call_id, None)
            CALLS_ACTIVE.add(-1)
            CALLS_ENDED.add(1, {"reason": reason, "result": result})

    async def store_and_announce(
        self,
        session: CallSession,
        reason: str,
        ended_at: datetime,
        policy: RecordingPolicy,
        participants: list[CallParticipant],
        *,
        final_segments: list[SegmentOut] | None = None,
        journal: CallJournal | None = None,
    ) -> FinishedCall:
        """Publish the last live segments while the stereo recording is encoded and stored
        (when anything was recorded), close the call row, then publish CallEnded and
        RecordingStored. Used at the end of a live call and by the recovery of a spooled one."""
        stored: StoredRecording | None = None

        async def save() -> None:
            nonlocal stored
            if session.recorded_ms > 0:
                stored = await self._store.save_recording(session, policy)
                RECORDINGS_STORED.add(stored.size)

        await asyncio.gather(
            save(), self._publish_session_segments(session, final_segments or [], journal)
        )
        await self._store.call_ended(session, reason, ended_at, stored)
        segments = dict(session.next_seq)
        ended = events_pb2.CallEnded(
            call_id=session.call_id,
            duration_ms=session.duration_ms,
            reason=reason,
            last_segment_seq=max(segments.values(), default=0) - 1,
            segments_per_channel=segments,
        )
        ended.ended_at.FromDatetime(ended_at)
        await self._producer.publish(CALL_EVENTS, session.call_id, ended)
        if stored is not None:
            await self._producer.publish(
                CALL_EVENTS,
                session.call_id,
                events_pb2.RecordingStored(
                    call_id=session.call_id,
                    object_key=stored.key,
                    bucket=stored.bucket,
                    content_type=stored.content_type,
                    size_bytes=stored.size,
                    duration_ms=session.duration_ms,
                    channels=2,
                    sample_rate=SAMPLE_RATE,
                    sha256=stored.sha256,
                    queue=session.queue,
                    tenant=session.tenant,
                    purposes=stored.purposes,
                    gaps=[
                        events_pb2.RecordingGap(
                            start_ms=g.start_ms, duration_ms=g.duration_ms, reason=g.reason
                        )
                        for g in session.gaps()
                    ],
                    encryption=stored.encryption,
                    proof_only=stored.proof_only,
                    lost_packets=session.lost_packets,
                ),
            )
        await self._store.mark_announced(session.call_id)
        log.info(
            "call %s ended (%s): %d ms, %s; media %s",
            session.call_id,
            reason,
            session.duration_ms,
            f"stored as {stored.key}" if stored else "nothing recorded",
            session.media_stats(),
        )
        return FinishedCall(session.call_id, reason, session.duration_ms, stored)

    # -- recovery after a crash ------------------------------------------------------------
    async def recover(self) -> list[FinishedCall]:
        """Finish every call a previous process left in the spool: replay its journal, publish
        the live segments it had not published yet, store the recording and announce it
        (CallEnded reason "recovered", RecordingStored). A call already announced (the crash
        came after its events, before its spool was removed) is only cleaned up. A call that
        fails to recover stays in the spool for the next start."""
        if self._spool is None:
            return []
        finished = []
        for spooled in self._spool.calls():
            try:
                result = await self._recover_call(spooled)
            except Exception:
                log.exception("call %s: recovery from the spool failed", spooled.call_id)
                continue
            if result is not None:
                finished.append(result)
        return finished

    async def _recover_call(self, spooled: SpooledCall) -> FinishedCall | None:
        header = spooled.header
        call_id = spooled.call_id
        known = await self._store.call_state(call_id)
        if known is not None and known[1]:
            log.info("call %s: already stored before the restart; spool removed", call_id)
            spooled.remove()
            return None
        session = CallSession(
            call_id=call_id,
            external_call_id=header["external_call_id"],
            source=header["source"],
            queue=header["queue"],
            language=header["language"],
            started_at=datetime.fromisoformat(header["started_at"]),
            channel_of_stream={int(k): v for k, v in header["channel_of_stream"].items()},
            labels_source=header["labels_source"],
            tenant=header["tenant"],
            agent_id=header["agent_id"],
        )
        fields = dict(header["policy"])
        fields["purposes"] = tuple(fields["purposes"])
        policy = RecordingPolicy(**fields)
        decision = RecordingDecision(header["mode"], header["record_from_start"], policy)
        if header["state"] == NOT_STARTED:
            session.not_started()
        participants = [CallParticipant(**p) for p in header["participants"]]
        initial = list(participants)
        original_reason = ""
        for record in spooled.records():
            if record.kind == AUDIO:
                session.audio[record.channel].write(record.position, record.payload)
                continue
            control = record.control()
            if "ends" in control:
                session.advance_to(control["ends"])
            original_reason = self._replay(session, control, participants) or original_reason
        log.warning(
            "call %s: recovering %d ms from the spool (ended as %r before the restart)",
            call_id,
            session.duration_ms,
            original_reason or "live",
        )
        span = self.open_call_span(call_id, session.source, session.external_call_id)
        span.set_attribute("callscope.recovered", True)
        try:
            with trace.use_span(span, end_on_exit=False):
                if known is None:  # the crash came before CallStarted
                    await self._announce_start(
                        session, initial, header.get("rs_metadata"), decision
                    )
                session.ended = True
                result = await self.store_and_announce(
                    session,
                    "recovered",
                    datetime.now(UTC),
                    policy,
                    participants,
                    final_segments=session.final_segments(),
                )
        finally:
            span.end()
        spooled.remove()
        stored = "stored" if result.stored is not None else "not_recorded"
        CALLS_ENDED.add(1, {"reason": "recovered", "result": stored})
        return result

    @staticmethod
    def _replay(
        session: CallSession, control: dict[str, Any], participants: list[CallParticipant]
    ) -> str | None:
        """Apply one journaled control record; returns the end reason of an "ending" one."""
        kind = control["kind"]
        try:
            if kind in ACTIONS:
                getattr(session, kind)(
                    control["by"], control["reason"], control["source"], control["position"]
                )
            elif kind == "gap":
                session.mark_gap(
                    control["channel"], control["duration_ms"], control["reason"],
                    control["position"],
                )  # fmt: skip
            elif kind == "proof_only":
                session.keep_for_proof_only()
            elif kind == "participant":
                row = {k: control[k] for k in ("participant_id", "aor", "name", "channel")}
                participants[:] = [
                    p for p in participants if p.participant_id != row["participant_id"]
                ] + [CallParticipant(**row)]
            elif kind == "published":
                for channel, cursor in control["cursors"].items():
                    session.audio[channel].cursor = cursor
                session.next_seq.update(control["next_seq"])
            elif kind == "ending":
                return str(control["reason"])
        except (RecordingStateError, ValueError) as exc:
            log.warning("call %s: spooled %s not replayed: %s", session.call_id, kind, exc)
        return None

    async def set_recording(
        self, call_id: str, action: str, reason: str, requested_by: str, source: str = "api"
    ) -> str:
        """Recorder.SetRecording: start|pause|resume|stop a live call; returns its state.
        KeyError when the call is not live here."""
        handle = self.calls.get(call_id)
        if handle is None or handle.ending is not None:
            raise KeyError(call_id)
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}: use {', '.join(ACTIONS)}")
        method = getattr(handle, action)
        state: str = await method(requested_by, reason, source)
        return state

    async def reap_silent_calls(self, stop: asyncio.Event) -> None:
        """End calls that lost their signalling: no media and no end for media_timeout_s."""
        from callscope_core.service import sleep_or_stop

        while not await sleep_or_stop(stop, 1.0):
            now = time.monotonic()
            for call_id, handle in list(self.calls.items()):
                if (
                    handle.ending is None
                    and now - handle.last_media > self._settings.media_timeout_s
                ):
                    log.warning(
                        "call %s: no media for %.0fs, ending it", call_id, now - handle.last_media
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


def _journal_header(
    session: CallSession, info: CallInfo, decision: RecordingDecision
) -> dict[str, Any]:
    """Everything a recovery needs to rebuild the call without the process that had it."""
    policy = decision.policy
    return {
        "call_id": session.call_id,
        "external_call_id": session.external_call_id,
        "source": session.source,
        "queue": session.queue,
        "language": session.language,
        "tenant": session.tenant,
        "agent_id": session.agent_id,
        "started_at": session.started_at.isoformat(),
        "labels_source": session.labels_source,
        "channel_of_stream": {str(k): v for k, v in session.channel_of_stream.items()},
        "participants": [p.as_row() for p in info.participants],
        "rs_metadata": info.rs_metadata,
        "state": session.state,
        "mode": decision.mode,
        "record_from_start": decision.record_from_start,
        "policy": {
            "tenant": policy.tenant,
            "queue": policy.queue,
            "mode": policy.mode,
            "percentage": policy.percentage,
            "opt_out_decision": policy.opt_out_decision,
            "purposes": list(policy.purposes),
            "proof_retention_days": policy.proof_retention_days,
            "version": policy.version,
        },
        "channels": list(CHANNELS),
    }
