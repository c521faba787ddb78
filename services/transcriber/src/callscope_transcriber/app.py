"""Wiring of the transcriber: audio segments in, final transcript segments out."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field

from opentelemetry import trace

from callscope.v1 import events_pb2, transcripts_pb2, transcripts_pb2_grpc
from callscope_core import metrics
from callscope_core.access import AccessGate
from callscope_core.channels import channel_name
from callscope_core.kafka import ConsumedEvent, EventProducer, PermanentError
from callscope_core.runtime import ServiceRuntime
from callscope_core.service import sleep_or_stop
from callscope_core.settings import CoreSettings
from callscope_core.topics import AUDIO_SEGMENTS, RETENTION_COMMANDS, TRANSCRIPTS

from .domain.segmenter import Utterance, UtteranceSegmenter
from .engine import WhisperEngine
from .grpc_api import TranscriptsService
from .models import resolve_model
from .purge import purge_handler
from .settings import TranscriberSettings
from .store import TranscriptStore

log = logging.getLogger(__name__)
tracer = trace.get_tracer("callscope.transcriber")

REALTIME_FACTOR = metrics.histogram(metrics.TRANSCRIBER_REALTIME_FACTOR)
LAG = metrics.histogram(metrics.TRANSCRIBER_LAG)
UTTERANCES = metrics.counter(metrics.TRANSCRIBER_UTTERANCES)

LIVE_VERSION = 1
SAMPLE_RATE = 8000


@dataclass
class ChannelState:
    segmenter: UtteranceSegmenter
    language: str | None
    next_seq: int = 0
    next_utterance: int = 0
    last_seen: float = field(default_factory=time.monotonic)
    # Wall-clock time (epoch s) at which the channel's audio position 0 was live, estimated as
    # the earliest (segment publish time - segment end); None until a segment has come.
    live_origin: float | None = None

    def saw_segment(self, published_s: float, end_ms: int) -> None:
        origin = published_s - end_ms / 1000
        if self.live_origin is None or origin < self.live_origin:
            self.live_origin = origin


class LiveTranscriber:
    """Per call and channel: cut at pauses (VAD), transcribe each utterance, publish a FINAL."""

    def __init__(
        self,
        engine: WhisperEngine,
        store: TranscriptStore,
        producer: EventProducer,
        settings: TranscriberSettings,
    ) -> None:
        self._engine = engine
        self._store = store
        self._producer = producer
        self._settings = settings
        self._channels: dict[tuple[str, int], ChannelState] = {}
        self.gaps = 0
        self.duplicates = 0

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
        key = (segment.call_id, segment.channel)
        state = self._channels.get(key)
        if state is None:
            state = ChannelState(
                UtteranceSegmenter(min_silence_ms=self._settings.min_silence_ms),
                language=segment.language or None,
            )
            self._channels[key] = state
        if segment.seq < state.next_seq:
            self.duplicates += 1
            return
        if segment.seq > state.next_seq:
            self.gaps += 1
            log.warning(
                "call %s %s: segments %d..%d missing",
                segment.call_id,
                channel_name(segment.channel),
                state.next_seq,
                segment.seq - 1,
            )
        state.next_seq = segment.seq + 1
        state.last_seen = time.monotonic()
        if event.timestamp_ms > 0:
            state.saw_segment(event.timestamp_ms / 1000, segment.start_ms + segment.duration_ms)
        utterances = state.segmenter.feed(segment.audio, segment.start_ms)
        if segment.last:
            utterances += state.segmenter.flush()
            del self._channels[key]
        for utterance in utterances:
            await self._transcribe(segment.call_id, segment.channel, state, utterance)

    async def _transcribe(
        self, call_id: str, channel: int, state: ChannelState, utterance: Utterance
    ) -> None:
        audio_ms = utterance.end_ms - utterance.start_ms
        with tracer.start_as_current_span(
            "transcribe utterance",
            attributes={
                "callscope.call_id": call_id,
                "callscope.channel": channel_name(channel),
                "callscope.audio_ms": audio_ms,
            },
        ):
            started = time.perf_counter()
            result = await asyncio.to_thread(
                self._engine.transcribe, utterance.audio, state.language
            )
            if audio_ms > 0:
                REALTIME_FACTOR.record((time.perf_counter() - started) / (audio_ms / 1000))
        outcome = {
            "channel": channel_name(channel),
            "result": "empty" if result is None else "final",
        }
        UTTERANCES.add(1, outcome)
        if result is None:
            return  # silence, noise or a known hallucination
        number = state.next_utterance
        state.next_utterance += 1
        final = events_pb2.TranscriptSegment(
            call_id=call_id,
            channel=channel,
            utterance_no=number,
            version=LIVE_VERSION,
            kind=events_pb2.TranscriptSegment.KIND_FINAL,
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
        await self._store.save_final(final)
        await self._producer.publish(TRANSCRIPTS, call_id, final)
        if state.live_origin is not None:
            LAG.record(max(time.time() - (state.live_origin + utterance.end_ms / 1000), 0.0))
        log.info(
            "call %s %s #%d [%s] %s",
            call_id,
            channel_name(channel),
            number,
            result.language,
            result.text,
        )

    async def flush_idle(self, stop: asyncio.Event) -> None:
        """A channel whose last segment never came (recorder crash) is flushed, not leaked."""
        while not stop.is_set():
            now = time.monotonic()
            for key, state in list(self._channels.items()):
                if now - state.last_seen > self._settings.idle_flush_s:
                    del self._channels[key]
                    log.warning(
                        "call %s: no audio for %.0fs, flushing", key[0], now - state.last_seen
                    )
                    for utterance in state.segmenter.flush():
                        await self._transcribe(key[0], key[1], state, utterance)
            await sleep_or_stop(stop, 5.0)


async def run(core: CoreSettings, settings: TranscriberSettings, stop: asyncio.Event) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    async with ServiceRuntime(
        "transcriber",
        core,
        grpc_port=settings.grpc_port,
        grpc_services=[transcripts_pb2.DESCRIPTOR.services_by_name["Transcripts"].full_name],
        migrations_package="callscope_transcriber",
    ) as rt:
        store = TranscriptStore(rt.db)
        access = AccessGate(settings.retention_target)
        assert rt.grpc is not None
        transcripts_pb2_grpc.add_TranscriptsServicer_to_server(
            TranscriptsService(store, access), rt.grpc.server
        )
        model_dir = resolve_model(settings.live_model, settings.models_dir)
        engine = await asyncio.to_thread(
            WhisperEngine,
            model_dir,
            device=settings.device,
            compute_type=settings.compute_type,
            cpu_threads=settings.cpu_threads,
            beam_size=settings.beam_size,
            languages=settings.languages,
        )
        live = LiveTranscriber(engine, store, rt.producer, settings)
        rt.add_consumer("callscope-transcriber", [AUDIO_SEGMENTS], live.on_event)
        rt.add_consumer(
            "callscope-transcriber-retention",
            [RETENTION_COMMANDS],
            purge_handler(rt.db, rt.producer),
        )
        try:
            await rt.serve(stop, background=[live.flush_idle])
        finally:
            await access.close()
