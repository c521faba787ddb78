"""The live path: audio segments in; PARTIAL and FINAL transcript segments out, per utterance.

Per call and channel the Silero VAD cuts the audio at pauses (never at fixed intervals). Each
finished utterance becomes a FINAL job; while someone speaks, the growing utterance is decoded
again about every ``partial_interval_ms`` of new audio as a PARTIAL job. One worker feeds the
model from a bounded work queue (live finals first, then partials, then post-call utterances),
and a back-pressure policy (domain/backpressure.py) skips partials, then defers calls to the
post-call path, when the model falls behind; each change is a TranscriptionDegraded event.

Restart safety (at-least-once in, no duplicate nor gap out):

- a FINAL is stored (unpublished) together with its channel's progress (next utterance number,
  audio transcribed up to), then published, then marked published; finals left unpublished by
  a crash are published again at start-up;
- the consumer commits an audio-segments offset only once no channel still needs the audio of
  that record (``hold_offset``): audio in an open utterance or in a queued final is held, so a
  restart replays it; replayed audio before a channel's stored progress is skipped.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Observation

from callscope.v1 import common_pb2, events_pb2
from callscope_core import metrics
from callscope_core.channels import channel_name
from callscope_core.kafka import ConsumedEvent, EventProducer, PermanentError
from callscope_core.service import sleep_or_stop
from callscope_core.topics import TRANSCRIPTS

from .domain.backpressure import BackPressurePolicy, CallLoad, Level
from .domain.segmenter import Utterance, UtteranceSegmenter
from .engine import Transcription, WhisperEngine
from .settings import TranscriberSettings
from .store import TranscriptStore

log = logging.getLogger(__name__)
tracer = trace.get_tracer("callscope.transcriber")

LIVE_VERSION = 1
SAMPLE_RATE = 8000
_BYTES_PER_MS = SAMPLE_RATE * 2 // 1000
# Decode time of a live final before any was measured, and the weight of each new measure.
_FIRST_DECODE_S = 1.0
_DECODE_EMA = 0.3
# A queued final starting this close to a partial's start is the same utterance.
_SAME_UTTERANCE_MS = 300
# A partial needs this much speech to be worth decoding.
_MIN_PARTIAL_MS = 500

REALTIME_FACTOR = metrics.histogram(metrics.TRANSCRIBER_REALTIME_FACTOR)
LAG = metrics.histogram(metrics.TRANSCRIBER_LAG)
UTTERANCES = metrics.counter(metrics.TRANSCRIBER_UTTERANCES)
DEGRADED = metrics.counter(metrics.TRANSCRIBER_DEGRADED)
_QUEUES: list[WorkQueue] = []


def _observe_backlog(options: CallbackOptions) -> list[Observation]:
    return [Observation(q.backlog_ms() / 1000) for q in _QUEUES]


BACKLOG = metrics.observable(metrics.TRANSCRIBER_BACKLOG, _observe_backlog)

ChannelKey = tuple[str, int]
_CHANNELS = (common_pb2.CHANNEL_CUSTOMER, common_pb2.CHANNEL_AGENT)


def _segment_kind(partial: bool) -> events_pb2.TranscriptSegment.Kind.ValueType:
    kinds = events_pb2.TranscriptSegment
    return kinds.KIND_PARTIAL if partial else kinds.KIND_FINAL


def transcript_segment(
    call_id: str,
    channel: int,
    utterance_no: int,
    version: int,
    utterance: Utterance,
    result: Transcription,
    *,
    partial: bool = False,
) -> events_pb2.TranscriptSegment:
    return events_pb2.TranscriptSegment(
        call_id=call_id,
        channel=channel,  # type: ignore[arg-type]
        utterance_no=utterance_no,
        version=version,
        kind=_segment_kind(partial),
        text=result.text,
        language=result.language,
        confidence=result.confidence,
        start_ms=utterance.start_ms,
        end_ms=utterance.end_ms,
        words=[
            events_pb2.Word(
                text=w.text,
                start_ms=utterance.start_ms + w.start_ms,
                end_ms=utterance.start_ms + w.end_ms,
                probability=w.probability,
            )
            for w in result.words
        ],
    )


# -- the work queue ----------------------------------------------------------------------------
@dataclass
class FinalJob:
    key: ChannelKey
    utterance: Utterance
    # The trace of the audio segment that ended the utterance: the worker decodes later, outside
    # the consumer's span, and the FINAL must still belong to the call's trace.
    trace_context: otel_context.Context | None = None

    @property
    def audio_ms(self) -> int:
        return self.utterance.end_ms - self.utterance.start_ms


@dataclass
class PartialJob:
    key: ChannelKey
    utterance: Utterance


@dataclass
class BatchJob:
    """One utterance of the post-call pass; the submitter awaits ``future``."""

    engine: WhisperEngine
    audio: np.ndarray
    language: str | None
    beam_size: int
    future: asyncio.Future[Transcription | None]


Job = FinalJob | PartialJob | BatchJob


class WorkQueue:
    """The model's work by priority: live finals (FIFO), then partials (at most one per
    channel, the newest), then post-call utterances. Bounded by the back-pressure policy:
    live finals past its defer level are taken out with their call."""

    def __init__(self) -> None:
        self._finals: deque[FinalJob] = deque()
        self._partials: dict[ChannelKey, PartialJob] = {}
        self._batch: deque[BatchJob] = deque()
        self._ready = asyncio.Event()
        self.in_flight: FinalJob | None = None
        _QUEUES.append(self)

    def close(self) -> None:
        if self in _QUEUES:
            _QUEUES.remove(self)

    def put_final(self, job: FinalJob) -> None:
        self._finals.append(job)
        self._partials.pop(job.key, None)  # that utterance is finished: its partial is stale
        self._ready.set()

    def put_partial(self, job: PartialJob) -> None:
        self._partials.pop(job.key, None)
        self._partials[job.key] = job
        self._ready.set()

    def put_batch(self, job: BatchJob) -> None:
        self._batch.append(job)
        self._ready.set()

    def drop_partials(self) -> int:
        n = len(self._partials)
        self._partials.clear()
        return n

    def drop_call(self, call_id: str) -> int:
        """Takes the call's live work out of the queue; returns the finals removed."""
        before = len(self._finals)
        self._finals = deque(j for j in self._finals if j.key[0] != call_id)
        for key in [k for k in self._partials if k[0] == call_id]:
            del self._partials[key]
        return before - len(self._finals)

    def backlog_ms(self) -> int:
        queued = sum(j.audio_ms for j in self._finals)
        return queued + (self.in_flight.audio_ms if self.in_flight else 0)

    def live_jobs(self) -> int:
        """Live finals queued or being decoded."""
        return len(self._finals) + (1 if self.in_flight else 0)

    def jobs_by_call(self) -> dict[str, int]:
        jobs: dict[str, int] = {}
        for job in [*self._finals, *([self.in_flight] if self.in_flight else [])]:
            jobs[job.key[0]] = jobs.get(job.key[0], 0) + 1
        return jobs

    def backlog_by_call(self) -> dict[str, int]:
        loads: dict[str, int] = {}
        for job in [*self._finals, *([self.in_flight] if self.in_flight else [])]:
            loads[job.key[0]] = loads.get(job.key[0], 0) + job.audio_ms
        return loads

    def __len__(self) -> int:
        return len(self._finals) + len(self._partials) + len(self._batch)

    async def get(self, stop: asyncio.Event) -> Job | None:
        """The next job by priority; None once ``stop`` is set."""
        while not stop.is_set():
            if self._finals:
                return self._finals.popleft()
            if self._partials:
                key = next(iter(self._partials))
                return self._partials.pop(key)
            if self._batch:
                return self._batch.popleft()
            self._ready.clear()
            await sleep_or_stop_event(stop, self._ready)
        return None


async def sleep_or_stop_event(stop: asyncio.Event, ready: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(ready.wait())]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


# -- channels ----------------------------------------------------------------------------------
@dataclass
class _Record:
    offset: int
    end_ms: int


@dataclass
class ChannelState:
    call_id: str
    channel: int
    segmenter: UtteranceSegmenter
    language: str | None  # from call metadata: fixed for the channel
    partition: int
    next_utterance: int = 0
    resume_from_ms: int = 0  # audio before this is in stored finals (after a restart)
    next_seq: int | None = None
    last_language: str | None = None  # of the last final: a hint for partials
    last_seen: float = field(default_factory=time.monotonic)
    # Wall-clock time (epoch s) at which the channel's audio position 0 was live, estimated as
    # the earliest (segment publish time - segment end); None until a segment has come.
    live_origin: float | None = None
    closed: bool = False  # its last segment was handled (or it went idle)
    pending_finals: deque[int] = field(default_factory=deque)  # start_ms of queued finals
    records: deque[_Record] = field(default_factory=deque)  # consumed, maybe still needed
    partial_anchor: int | None = None  # start of the utterance the partials are about
    partial_upto_ms: int = 0

    @property
    def key(self) -> ChannelKey:
        return (self.call_id, self.channel)

    def saw_segment(self, published_s: float, end_ms: int) -> None:
        origin = published_s - end_ms / 1000
        if self.live_origin is None or origin < self.live_origin:
            self.live_origin = origin

    def needed_from_ms(self) -> int | None:
        """Oldest channel position still needed: queued finals, then undecided audio."""
        if self.pending_finals:
            return self.pending_finals[0]
        return self.segmenter.pending_from_ms

    def held_offset(self) -> int | None:
        """The oldest consumed record whose audio is still needed (None: nothing held)."""
        needed = self.needed_from_ms()
        if needed is None:
            return None
        while self.records and self.records[0].end_ms <= needed:
            self.records.popleft()
        return self.records[0].offset if self.records else None


@dataclass
class LiveStats:
    duplicates: int = 0
    gaps: int = 0
    finals: int = 0
    partials: int = 0
    partials_skipped: int = 0
    empty: int = 0
    ignored: int = 0  # segments of deferred calls or ended channels
    deferred_calls: int = 0
    resumed_calls: int = 0
    latencies_s: list[float] = field(default_factory=list)  # live end of utterance -> FINAL


class LiveTranscriber:
    def __init__(
        self,
        engine: WhisperEngine,
        store: TranscriptStore,
        producer: EventProducer,
        settings: TranscriberSettings,
        *,
        postcall_available: bool,
    ) -> None:
        self._engine = engine
        self._store = store
        self._producer = producer
        self._settings = settings
        self._policy = BackPressurePolicy(
            skip_partials_above_ms=settings.backlog_skip_partials_ms,
            resume_partials_below_ms=settings.backlog_resume_partials_ms,
            defer_above_ms=settings.backlog_defer_ms,
            resume_calls_below_ms=min(settings.backlog_resume_calls_ms, settings.backlog_defer_ms),
            resume_interval_s=settings.backlog_resume_interval_s,
        )
        self._last_deferral_change = -math.inf  # monotonic time a call was deferred/resumed
        self._postcall_available = postcall_available
        self.queue = WorkQueue()
        self._channels: dict[ChannelKey, ChannelState] = {}
        self._call_order: dict[str, int] = {}  # live calls in the order first seen
        self._next_call = 0
        self._deferred: dict[str, set[int]] = {}  # deferred call -> channels not yet ended
        self._announced: dict[str, Level] = {}
        self._drained = asyncio.Event()
        self._drained.set()
        self.partials_allowed = settings.partials_enabled
        self._decode_s = _FIRST_DECODE_S  # running mean decode time of a live final
        self.stats = LiveStats()
        # Called after finals are stored, so the consumer can commit what is no longer held.
        self.on_released: Callable[[], Awaitable[None]] | None = None
        # Observers (the benchmark): called with each published segment and its publish time.
        self.on_published: Callable[[events_pb2.TranscriptSegment, float], None] | None = None

    @property
    def store(self) -> TranscriptStore:
        return self._store

    # -- the consumer side ---------------------------------------------------------------
    async def on_event(self, event: ConsumedEvent) -> None:
        segment = event.message
        if not isinstance(segment, events_pb2.AudioSegment):
            return
        if segment.codec != "pcm_s16le" or segment.sample_rate != SAMPLE_RATE:
            raise PermanentError(
                f"unsupported audio {segment.codec}@{segment.sample_rate} for call "
                f"{segment.call_id}; expected pcm_s16le@{SAMPLE_RATE}"
            )
        try:
            channel_name(segment.channel)
        except ValueError as exc:
            raise PermanentError(str(exc)) from None
        if not segment.call_id:
            raise PermanentError("audio segment without a call id")
        key = (segment.call_id, segment.channel)
        if segment.call_id in self._deferred and not await self._resume_if_room(segment):
            self._ignore_deferred(segment)
            return
        state = self._channels.get(key)
        if state is None:
            state = await self._open_channel(segment, event.partition)
            if state is None:
                return
        if state.next_seq is not None and segment.seq < state.next_seq:
            self.stats.duplicates += 1
            return
        if state.next_seq is not None and segment.seq > state.next_seq:
            self.stats.gaps += 1
            log.warning(
                "call %s %s: segments %d..%d missing",
                segment.call_id,
                channel_name(segment.channel),
                state.next_seq,
                segment.seq - 1,
            )
        state.next_seq = segment.seq + 1
        state.last_seen = time.monotonic()
        end_ms = segment.start_ms + len(segment.audio) // _BYTES_PER_MS
        if event.timestamp_ms > 0:
            state.saw_segment(event.timestamp_ms / 1000, end_ms)

        audio, start_ms = segment.audio, segment.start_ms
        if start_ms < state.resume_from_ms:  # replayed after a restart: already transcribed
            skip = min(state.resume_from_ms - start_ms, len(audio) // _BYTES_PER_MS)
            audio, start_ms = audio[skip * _BYTES_PER_MS :], start_ms + skip
            if not audio:
                self.stats.duplicates += 1
        utterances: list[Utterance] = []
        if audio:
            state.records.append(_Record(event.offset, end_ms))
            utterances = await asyncio.to_thread(state.segmenter.feed, audio, start_ms)
        if segment.last:
            utterances += await asyncio.to_thread(state.segmenter.flush)
            state.closed = True
        for utterance in utterances:
            self._enqueue_final(state, utterance)
        if not state.closed:
            self._maybe_partial(state)
        await self._apply_backpressure()
        if state.closed and not state.pending_finals:
            await self._close_channel(state)
        if not self._postcall_available:
            # Nothing to defer to: wait (the broker keeps the audio) rather than drop.
            await self._drained.wait()

    async def _open_channel(
        self, segment: events_pb2.AudioSegment, partition: int
    ) -> ChannelState | None:
        if await self._store.is_deferred(segment.call_id):
            self._deferred.setdefault(segment.call_id, set(_CHANNELS))
            self._ignore_deferred(segment)
            return None
        progress = await self._store.live_channel(segment.call_id, segment.channel)
        if progress is not None and progress.ended:
            self.stats.ignored += 1  # redelivered after the channel was finished
            return None
        state = ChannelState(
            call_id=segment.call_id,
            channel=segment.channel,
            segmenter=UtteranceSegmenter(min_silence_ms=self._settings.min_silence_ms),
            language=segment.language or None,
            partition=partition,
        )
        if progress is not None:
            state.next_utterance = progress.next_utterance_no
            state.resume_from_ms = progress.resume_from_ms
            state.last_language = progress.language or None
            log.info(
                "call %s %s: resuming at utterance %d, %d ms",
                segment.call_id,
                channel_name(segment.channel),
                progress.next_utterance_no,
                progress.resume_from_ms,
            )
        self._channels[state.key] = state
        if segment.call_id not in self._call_order:
            self._call_order[segment.call_id] = self._next_call
            self._next_call += 1
            if not self.partials_allowed and self._settings.partials_enabled:
                await self._announce(
                    segment.call_id, Level.PARTIALS_SKIPPED, "live backlog too long"
                )
        return state

    async def _resume_if_room(self, segment: events_pb2.AudioSegment) -> bool:
        """Bring a deferred call back to live transcription from this segment on, when the
        backlog has room and both its channels are still live."""
        call_id = segment.call_id
        if segment.last or self._deferred.get(call_id) != set(_CHANNELS):
            return False  # a channel has ended: the post-call pass does the rest
        since = time.monotonic() - self._last_deferral_change
        if not self._policy.may_resume_a_call(self.work_ms(), since):
            return False
        del self._deferred[call_id]
        self._last_deferral_change = time.monotonic()
        await self._store.resume_call(call_id)
        self.stats.resumed_calls += 1
        reason = (
            f"live transcription resumed at {segment.start_ms} ms; what was said while the call"
            " was deferred is in the post-call transcript (version 2)"
        )
        log.info("call %s back to live transcription: %s", call_id, reason)
        self._announced[call_id] = Level.DEFERRED  # so that RECOVERED is announced
        await self._announce(call_id, Level.RECOVERED, reason)
        return True

    def _ignore_deferred(self, segment: events_pb2.AudioSegment) -> None:
        self.stats.ignored += 1
        if segment.last:
            left = self._deferred.get(segment.call_id, set())
            left.discard(segment.channel)
            if not left:
                self._deferred.pop(segment.call_id, None)

    def _enqueue_final(self, state: ChannelState, utterance: Utterance) -> None:
        state.pending_finals.append(utterance.start_ms)
        state.partial_anchor = None
        self.queue.put_final(FinalJob(state.key, utterance, otel_context.get_current()))

    def _maybe_partial(self, state: ChannelState) -> None:
        if not (self._settings.partials_enabled and self.partials_allowed):
            return
        pending = state.segmenter.pending_speech()
        if pending is None or pending.end_ms - pending.start_ms < _MIN_PARTIAL_MS:
            return
        if state.partial_anchor != pending.start_ms:  # a new utterance began
            state.partial_anchor = pending.start_ms
            state.partial_upto_ms = pending.start_ms
        if pending.end_ms - state.partial_upto_ms >= self._settings.partial_interval_ms:
            state.partial_upto_ms = pending.end_ms
            self.queue.put_partial(PartialJob(state.key, pending))

    # -- back-pressure -------------------------------------------------------------------
    def work_ms(self, jobs: int | None = None) -> int:
        """Estimated decode time of the queued live finals: what the policy measures.

        Per job rather than per second of audio: Whisper encodes a whole 30 s window whatever
        the utterance's length, so a job costs about the same, short or long.
        """
        jobs = self.queue.live_jobs() if jobs is None else jobs
        return int(jobs * self._decode_s * 1000)

    async def _apply_backpressure(self) -> None:
        work = self.work_ms()
        if self._settings.partials_enabled:
            allowed = self._policy.partials_allowed(work, self.partials_allowed)
            if allowed != self.partials_allowed:
                self.partials_allowed = allowed
                if not allowed:
                    self.stats.partials_skipped += self.queue.drop_partials()
                level = Level.RECOVERED if allowed else Level.PARTIALS_SKIPPED
                reason = (
                    "live transcription caught up"
                    if allowed
                    else f"about {work} ms of live work queued"
                    f" (> {self._policy.skip_partials_above_ms} ms): partials skipped"
                )
                for call_id in list(self._call_order):
                    await self._announce(call_id, level, reason)
        if self._postcall_available:
            by_call = self.queue.jobs_by_call()
            loads = {
                call_id: CallLoad(self.work_ms(by_call.get(call_id, 0)), order)
                for call_id, order in self._call_order.items()
            }
            for call_id in self._policy.calls_to_defer(loads):
                await self._defer(call_id, work)
        self._update_drained()

    def _update_drained(self) -> None:
        if self.work_ms() <= self._policy.defer_above_ms:
            self._drained.set()
        else:
            self._drained.clear()

    async def _defer(self, call_id: str, work_ms: int) -> None:
        """Hands a live call to the post-call path: its live work stops, nothing is lost."""
        reason = (
            f"about {work_ms} ms of live work queued (> {self._policy.defer_above_ms} ms):"
            " transcribed after the call by the post-call pass (version 2)"
        )
        backlog_ms = self.queue.backlog_ms()
        dropped = self.queue.drop_call(call_id)
        channels = [s for s in self._channels.values() if s.call_id == call_id]
        for state in channels:
            del self._channels[state.key]
        self._deferred[call_id] = set(_CHANNELS) - {s.channel for s in channels if s.closed}
        self._call_order.pop(call_id, None)
        self._last_deferral_change = time.monotonic()
        self.stats.deferred_calls += 1
        await self._store.defer_call(call_id, reason)
        log.warning(
            "call %s deferred to post-call (%d utterances queued): %s", call_id, dropped, reason
        )
        await self._announce(call_id, Level.DEFERRED, reason, backlog_ms)
        self._announced.pop(call_id, None)

    async def _announce(
        self, call_id: str, level: Level, reason: str, backlog_ms: int | None = None
    ) -> None:
        if level is Level.RECOVERED and self._announced.get(call_id) is None:
            return  # nothing was announced for it
        if self._announced.get(call_id) == level:
            return
        self._announced[call_id] = level
        if level is Level.RECOVERED:
            self._announced.pop(call_id, None)
        DEGRADED.add(1, {"level": level.value})
        log.info("call %s: transcription %s (%s)", call_id, level.value, reason)
        event = events_pb2.TranscriptionDegraded(
            call_id=call_id,
            level=level.value,
            reason=reason,
            backlog_ms=self.queue.backlog_ms() if backlog_ms is None else backlog_ms,
        )
        await self._producer.publish(TRANSCRIPTS, call_id, event)

    # -- the worker ----------------------------------------------------------------------
    async def work(self, stop: asyncio.Event) -> None:
        """Feeds the model, one job at a time, until ``stop``."""
        while True:
            job = await self.queue.get(stop)
            if job is None:
                return
            if isinstance(job, FinalJob):
                await self._run_final(job)
            elif isinstance(job, PartialJob):
                await self._run_partial(job)
            else:
                await self._run_batch(job)
            self._update_drained()
            if not self.partials_allowed:
                await self._apply_backpressure()  # partials come back as the backlog drains

    async def _run_batch(self, job: BatchJob) -> None:
        if job.future.cancelled():
            return
        try:
            result = await asyncio.to_thread(
                job.engine.transcribe, job.audio, job.language, beam_size=job.beam_size
            )
        except Exception as exc:  # handed to the submitter, which decides
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    async def _run_final(self, job: FinalJob) -> None:
        state = self._channels.get(job.key)
        if state is None:
            return  # deferred meanwhile
        call_id, channel = job.key
        utterance = job.utterance
        self.queue.in_flight = job
        try:
            with tracer.start_as_current_span(
                "transcribe utterance",
                context=job.trace_context,
                attributes={
                    "callscope.call_id": call_id,
                    "callscope.channel": channel_name(channel),
                    "callscope.audio_ms": job.audio_ms,
                },
            ):
                started = time.perf_counter()
                try:
                    result = await asyncio.to_thread(
                        self._engine.transcribe, utterance.audio, state.language
                    )
                except Exception:
                    log.exception("call %s: the model failed on an utterance", call_id)
                    await self._defer(call_id, self.work_ms())
                    return
                if job.audio_ms > 0:
                    REALTIME_FACTOR.record((time.perf_counter() - started) / (job.audio_ms / 1000))
                decoded_in = otel_context.get_current()  # the FINAL is published in this span
        finally:
            self.queue.in_flight = None
        if self._channels.get(job.key) is not state:
            return  # deferred while decoding
        UTTERANCES.add(
            1, {"channel": channel_name(channel), "result": "empty" if result is None else "final"}
        )
        if result is not None:
            final = transcript_segment(
                call_id, channel, state.next_utterance, LIVE_VERSION, utterance, result
            )
            token = otel_context.attach(decoded_in)
            try:
                await self.store_and_publish(final, resume_from_ms=utterance.end_ms)
            finally:
                otel_context.detach(token)
            state.next_utterance += 1
            state.resume_from_ms = utterance.end_ms
            state.last_language = result.language
            self.stats.finals += 1
            if state.live_origin is not None:
                lag = max(time.time() - (state.live_origin + utterance.end_ms / 1000), 0.0)
                LAG.record(lag)
                self.stats.latencies_s.append(lag)
            log.info(
                "call %s %s #%d [%s] %s",
                call_id,
                channel_name(channel),
                final.utterance_no,
                result.language,
                result.text,
            )
        else:
            self.stats.empty += 1
        state.pending_finals.popleft()
        if state.closed and not state.pending_finals:
            await self._close_channel(state)
        if self.on_released is not None:
            await self.on_released()

    @staticmethod
    def _partial_number(state: ChannelState, utterance: Utterance) -> int | None:
        """The utterance number a partial of ``utterance`` takes, or None when it is stale.

        The worker runs one job at a time and finals go first, so while a partial is decoded
        no final of its channel can be published. If its utterance ended meanwhile, its FINAL
        is the only one queued for the channel (same start): the partial still precedes it and
        takes the same number. Any other queued final means the partial is out of date.
        """
        if not state.pending_finals:
            return state.next_utterance
        same = abs(state.pending_finals[0] - utterance.start_ms) <= _SAME_UTTERANCE_MS
        return state.next_utterance if len(state.pending_finals) == 1 and same else None

    async def _run_partial(self, job: PartialJob) -> None:
        state = self._channels.get(job.key)
        if (
            state is None
            or not self.partials_allowed
            or self._partial_number(state, job.utterance) is None
        ):
            self.stats.partials_skipped += 1
            return
        result = await asyncio.to_thread(
            self._engine.transcribe,
            job.utterance.audio,
            state.language or state.last_language,
            word_timestamps=False,
            temperature_fallback=False,
        )
        if result is None or self._channels.get(job.key) is not state:
            return
        number = self._partial_number(state, job.utterance)
        if number is None:
            return
        partial = transcript_segment(
            state.call_id,
            state.channel,
            number,
            LIVE_VERSION,
            job.utterance,
            result,
            partial=True,
        )
        await self._producer.publish(TRANSCRIPTS, state.call_id, partial)
        self.stats.partials += 1
        if self.on_published is not None:
            self.on_published(partial, time.time())

    async def store_and_publish(
        self, final: events_pb2.TranscriptSegment, *, resume_from_ms: int | None = None
    ) -> None:
        """Store (unpublished), publish, mark published: a crash in between republishes."""
        inserted = await self._store.save_final(
            final, published=False, resume_from_ms=resume_from_ms
        )
        if not inserted:
            stored = await self._store.stored_final(
                final.call_id, final.channel, final.utterance_no, final.version
            )
            if stored is None or stored[1]:
                return  # already published (a redelivery)
            final = stored[0]
        await self._producer.publish(TRANSCRIPTS, final.call_id, final)
        await self._store.mark_published(final)
        if self.on_published is not None:
            self.on_published(final, time.time())

    async def _close_channel(self, state: ChannelState) -> None:
        await self._store.end_live_channel(state.call_id, state.channel)
        self._channels.pop(state.key, None)
        if not any(k[0] == state.call_id for k in self._channels):
            self._call_order.pop(state.call_id, None)
            self._announced.pop(state.call_id, None)

    # -- start-up, idle channels, commits ------------------------------------------------
    async def republish_unpublished(self) -> int:
        """Finals stored before a crash but never confirmed on Kafka: published now."""
        pending = await self._store.unpublished()
        for final in pending:
            await self._producer.publish(TRANSCRIPTS, final.call_id, final)
            await self._store.mark_published(final)
        if pending:
            log.info("published %d finals left unpublished by the last run", len(pending))
        return len(pending)

    def hold_offset(self, topic: str, partition: int) -> int | None:
        """The lowest offset of ``partition`` whose audio a live channel still needs."""
        held = [
            offset
            for state in self._channels.values()
            if state.partition == partition and (offset := state.held_offset()) is not None
        ]
        return min(held, default=None)

    async def flush_idle(self, stop: asyncio.Event) -> None:
        """A channel whose last segment never came (recorder crash) is flushed, not leaked."""
        while not stop.is_set():
            now = time.monotonic()
            for state in list(self._channels.values()):
                if state.closed or now - state.last_seen <= self._settings.idle_flush_s:
                    continue
                log.warning(
                    "call %s: no audio for %.0fs, flushing", state.call_id, now - state.last_seen
                )
                state.closed = True
                for utterance in await asyncio.to_thread(state.segmenter.flush):
                    self._enqueue_final(state, utterance)
                if not state.pending_finals:
                    await self._close_channel(state)
            await sleep_or_stop(stop, min(5.0, self._settings.idle_flush_s))

    def close(self) -> None:
        self.queue.close()
