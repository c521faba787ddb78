"""The post-call path: after RecordingStored, the whole stored recording again, with the post-call
model and beam search, published and stored as the call's version 2 (authoritative; the live
version 1 is kept).

The call's language comes from its CallStarted (routing) when known, else it is detected per
utterance. The recording is stereo (customer left, agent right, 8 kHz 16-bit, FLAC or WAV).
Each channel is cut at pauses by the same VAD segmenter as the live path; each utterance goes
through the shared work queue at the lowest priority, so live calls keep their latency.
Idempotent: finals are keyed (call, channel, utterance_no, 2); a call whose pass completed is
skipped when its event is redelivered, and a pass cut short by a crash runs again and publishes
only the finals that were not published.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time

import numpy as np
import soundfile

from callscope.v1 import common_pb2, events_pb2
from callscope_core.channels import channel_name
from callscope_core.kafka import ConsumedEvent, PermanentError
from callscope_core.storage import ObjectNotFoundError, ObjectStore

from .domain.segmenter import Utterance, UtteranceSegmenter
from .engine import WhisperEngine
from .live import BatchJob, LiveTranscriber, transcript_segment

log = logging.getLogger(__name__)

POSTCALL_VERSION = 2
SAMPLE_RATE = 8000
# Stereo channel order of the stored recording.
CHANNEL_ORDER = (common_pb2.CHANNEL_CUSTOMER, common_pb2.CHANNEL_AGENT)
_FEED_MS = 10_000  # the segmenter is fed in pieces, as the live path would feed it


def decode_recording(data: bytes) -> dict[int, bytes]:
    """PCM16LE 8 kHz mono per channel of a stereo recording (customer left, agent right)."""
    try:
        frames, rate = soundfile.read(io.BytesIO(data), dtype="int16", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        raise PermanentError(f"the recording cannot be decoded: {exc}") from None
    if rate != SAMPLE_RATE:
        raise PermanentError(f"recording at {rate} Hz; the transcriber reads {SAMPLE_RATE} Hz")
    if frames.shape[1] != len(CHANNEL_ORDER):
        raise PermanentError(
            f"recording with {frames.shape[1]} channel(s); expected stereo (customer, agent)"
        )
    return {
        channel: np.ascontiguousarray(frames[:, i]).astype("<i2").tobytes()
        for i, channel in enumerate(CHANNEL_ORDER)
    }


def segment_channel(pcm16: bytes, min_silence_ms: int) -> list[Utterance]:
    segmenter = UtteranceSegmenter(min_silence_ms=min_silence_ms)
    step = _FEED_MS * SAMPLE_RATE * 2 // 1000
    out: list[Utterance] = []
    for i in range(0, len(pcm16), step):
        out += segmenter.feed(pcm16[i : i + step], i // (SAMPLE_RATE * 2 // 1000))
    return out + segmenter.flush()


class PostCallTranscriber:
    def __init__(
        self,
        engine: WhisperEngine,
        beam_size: int,
        live: LiveTranscriber,
        objects: ObjectStore,
        *,
        min_silence_ms: int = 600,
    ) -> None:
        self._engine = engine
        self._beam_size = beam_size
        self._live = live
        self._store = live.store
        self._objects = objects
        self._min_silence_ms = min_silence_ms
        self.calls_done = 0

    async def on_event(self, event: ConsumedEvent) -> None:
        message = event.message
        if isinstance(message, events_pb2.CallStarted):
            if message.call_id and message.language:  # routing knows it: no detection needed
                await self._store.set_call_language(message.call_id, message.language)
            return
        if not isinstance(message, events_pb2.RecordingStored):
            return
        if not message.call_id or not message.object_key:
            raise PermanentError("RecordingStored without call_id or object_key")
        if await self._store.postcall_state(message.call_id) == "done":
            return  # redelivered: version 2 is complete
        await self.transcribe_call(message.call_id, message.object_key)

    async def transcribe_call(self, call_id: str, object_key: str) -> int:
        """Runs the post-call pass for one stored recording; returns the finals published."""
        started = time.perf_counter()
        try:
            data = await self._objects.get(object_key)
        except ObjectNotFoundError:
            # Purged (or never written): nothing to transcribe, and retrying cannot help.
            await self._store.set_postcall_state(call_id, "failed", f"no object {object_key}")
            log.warning("call %s: recording %s not found; no version 2", call_id, object_key)
            return 0
        channels = await asyncio.to_thread(decode_recording, data)
        language = await self._store.call_language(call_id)  # None: detected per utterance
        published = 0
        audio_ms = 0
        for channel, pcm in channels.items():
            audio_ms = max(audio_ms, len(pcm) // 16)
            utterances = await asyncio.to_thread(segment_channel, pcm, self._min_silence_ms)
            number = 0
            for utterance in utterances:
                future: asyncio.Future = asyncio.get_running_loop().create_future()
                self._live.queue.put_batch(
                    BatchJob(self._engine, utterance.audio, language, self._beam_size, future)
                )
                try:
                    result = await future
                except ValueError as exc:
                    # The model refuses this input every time: retrying would block the
                    # partition forever, so the call is marked failed and dead-lettered.
                    await self._store.set_postcall_state(call_id, "failed", str(exc)[:500])
                    raise PermanentError(f"the model refused the recording: {exc}") from None
                if result is None:
                    continue
                final = transcript_segment(
                    call_id, channel, number, POSTCALL_VERSION, utterance, result
                )
                await self._live.store_and_publish(final)
                number += 1
                published += 1
            log.info("call %s %s: %d post-call finals", call_id, channel_name(channel), number)
        await self._store.set_postcall_state(call_id, "done", f"{published} finals")
        self.calls_done += 1
        elapsed = time.perf_counter() - started
        log.info(
            "call %s: post-call version 2 done, %d finals, %.1f s for %.1f s of audio",
            call_id,
            published,
            elapsed,
            audio_ms / 1000,
        )
        return published
