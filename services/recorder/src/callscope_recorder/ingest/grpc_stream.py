"""gRPC `Recorder.StreamCall`: a client stream of one call (softphones, media forks, the file
importer). The first message is CallMetadata, then AudioFrames: per channel, pcm_s16le at
8-48 kHz (resampled to 8 kHz by the call) or G.711 (pcmu/pcma) at 8 kHz.

Refused with INVALID_ARGUMENT and the reason: a stream that does not start with metadata,
metadata twice, an unknown channel or codec, a sample rate out of range, a frame over
max_frame_bytes or not whole samples. The audio received before a bad frame is kept: the call
is ended (reason "error") and stored, so nothing already sent is lost. A client that cancels
ends its call with reason "cancelled". When the stream completes, the call is ended and
stored, and the response names the call and its recording's object key.

Idempotent imports: with the request metadata `x-callscope-source: import` and an
external_call_id (the importer sends the file's content hash), a call already stored
completely from the same source and id is not recorded again: ALREADY_EXISTS, with the
stored call's id and object key in the trailing metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
from psycopg_pool import AsyncConnectionPool

from callscope.v1 import common_pb2, recorder_pb2

from ..calls import CallHandle, CallInfo, CallParticipant, CallRecorder, RecordingStateError

log = logging.getLogger(__name__)

SOURCE_HEADER = "x-callscope-source"
EXISTING_CALL_HEADER = "x-callscope-call-id"
EXISTING_KEY_HEADER = "x-callscope-object-key"
SOURCES = ("grpc", "import")
CODECS = ("pcm_s16le", "pcmu", "pcma")
CHANNELS = {common_pb2.CHANNEL_CUSTOMER: "customer", common_pb2.CHANNEL_AGENT: "agent"}
MIN_RATE, MAX_RATE = 8000, 48000
# One second of 16-bit audio at 48 kHz: no real client sends more in one frame.
MAX_FRAME_BYTES = 2 * MAX_RATE
COMPLETED = "completed"


class FrameError(ValueError):
    """A frame (or message) the stream cannot take; the message says why."""


@dataclass(frozen=True)
class Frame:
    channel: str
    codec: str
    sample_rate: int
    audio: bytes


def check_frame(frame: recorder_pb2.AudioFrame, max_frame_bytes: int = MAX_FRAME_BYTES) -> Frame:
    """An AudioFrame as the call takes it, or FrameError saying what is wrong with it."""
    channel = CHANNELS.get(frame.channel)
    if channel is None:
        raise FrameError(f"unknown channel {frame.channel}: use CHANNEL_CUSTOMER or CHANNEL_AGENT")
    codec = frame.codec.lower()
    if codec not in CODECS:
        raise FrameError(f"unsupported codec {frame.codec!r}: use {', '.join(CODECS)}")
    rate = frame.sample_rate or 8000
    if codec == "pcm_s16le":
        if not MIN_RATE <= rate <= MAX_RATE:
            raise FrameError(f"sample rate {rate} outside {MIN_RATE}..{MAX_RATE}")
        if len(frame.audio) % 2:
            raise FrameError("pcm_s16le audio must be whole 16-bit samples")
    elif rate != 8000:
        raise FrameError(f"{codec} is 8000 Hz, not {rate}")
    if len(frame.audio) > max_frame_bytes:
        raise FrameError(f"frame of {len(frame.audio)} bytes exceeds {max_frame_bytes}")
    return Frame(channel, codec, rate, frame.audio)


def call_info(metadata: recorder_pb2.CallMetadata, source: str) -> CallInfo:
    participants = []
    if metadata.customer_number:
        participants.append(
            CallParticipant("customer", f"tel:{metadata.customer_number}", "", "customer")
        )
    if metadata.agent_id:
        participants.append(CallParticipant("agent", metadata.agent_id, "", "agent"))
    return CallInfo(
        source=source,
        external_call_id=metadata.external_call_id,
        queue=metadata.queue,
        language=metadata.language,
        tenant=metadata.tenant,
        agent_id=metadata.agent_id,
        participants=participants,
        call_id=metadata.call_id or None,
    )


class StreamCallIngest:
    def __init__(
        self,
        recorder: CallRecorder,
        pool: AsyncConnectionPool | None,
        max_frame_bytes: int = MAX_FRAME_BYTES,
    ) -> None:
        self._recorder = recorder
        self._pool = pool
        self._max_frame_bytes = max_frame_bytes

    async def __call__(
        self,
        requests: AsyncIterator[recorder_pb2.StreamCallRequest],
        context: grpc.aio.ServicerContext,
    ) -> recorder_pb2.StreamCallResponse:
        source = dict(context.invocation_metadata() or ()).get(SOURCE_HEADER, "grpc")
        if source not in SOURCES:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{SOURCE_HEADER} must be one of {', '.join(SOURCES)}",
            )
        first = await anext(aiter(requests), None)
        if first is None or first.WhichOneof("item") != "metadata":
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "the first message of StreamCall must be CallMetadata",
            )
        assert first is not None
        metadata = first.metadata
        if source == "import" and metadata.external_call_id:
            existing = await self._stored(source, metadata.external_call_id)
            if existing is not None:
                call_id, object_key = existing
                context.set_trailing_metadata(
                    ((EXISTING_CALL_HEADER, call_id), (EXISTING_KEY_HEADER, object_key))
                )
                await context.abort(
                    grpc.StatusCode.ALREADY_EXISTS,
                    f"{metadata.external_call_id} was already recorded as call {call_id}",
                )
        try:
            handle = await self._recorder.open_call(call_info(metadata, source))
        except RecordingStateError as exc:  # e.g. a call_id that is already live
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(exc))
        reason = "cancelled"
        try:
            try:
                await self._feed(handle, requests)
            except (FrameError, ValueError) as exc:
                reason = "error"
                log.warning("StreamCall %s refused: %s", handle.call_id, exc)
                error = f"call {handle.call_id}: {exc} (audio received before it is kept)"
            else:
                reason = COMPLETED
                error = ""
            # The call is stored whatever happened to the stream; shielded, so a client
            # that goes away now does not cut the storing short.
            result = await asyncio.shield(handle.end(reason))
        finally:
            if not handle.session.ended:  # cancelled while feeding
                with contextlib.suppress(Exception):
                    await asyncio.shield(handle.end(reason))
        if error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, error)
        key = result.stored.key if result.stored is not None else ""
        return recorder_pb2.StreamCallResponse(call_id=handle.call_id, object_key=key)

    async def _feed(
        self, handle: CallHandle, requests: AsyncIterator[recorder_pb2.StreamCallRequest]
    ) -> None:
        async for request in requests:
            if request.WhichOneof("item") != "frame":
                raise FrameError("CallMetadata may only be the first message")
            frame = check_frame(request.frame, self._max_frame_bytes)
            handle.feed(
                frame.channel, frame.audio, codec=frame.codec, sample_rate=frame.sample_rate
            )

    async def _stored(self, source: str, external_call_id: str) -> tuple[str, str] | None:
        if self._pool is None:
            return None
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT call_id, object_key FROM recorder.calls WHERE source = %s"
                " AND external_call_id = %s AND state = 'stored' AND end_reason = %s"
                " ORDER BY ended_at DESC LIMIT 1",
                (source, external_call_id, COMPLETED),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return str(row["call_id"]), str(row["object_key"] or "")
