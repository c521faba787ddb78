"""Twilio Media Streams (one-way, `<Stream>` / `<Start><Stream>`), server side, pure.

Twilio sends JSON text messages on a WebSocket: `connected`, `start` (call and stream ids,
tracks, custom parameters, media format), `media` (base64 mu-law, 8 kHz mono, per track, with
the track's timestamp in ms since the stream started), `dtmf`, `mark`, and `stop`. Nothing
is answered on a one-way stream.

The inbound track (what the caller says) is the customer, the outbound track the agent.
Each track is placed by its timestamps: a chunk that starts after the end of what the track
has so far is preceded by silence of the gap (Twilio dropped audio), counted as lost.

Checks: `sequenceNumber` counts up by one from the first message, the streamSid stays the
same, media only after start, mu-law 8 kHz mono only, valid base64 of a bounded size, known
tracks. A violation is a TwilioProtocolError; the adapter closes the socket with its reason.
"""

from __future__ import annotations

import audioop
import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

SAMPLE_RATE = 8000
CHANNEL_OF_TRACK = {"inbound": "customer", "outbound": "agent"}
# Twilio sends 20 ms chunks (160 bytes); one second is far beyond a real chunk.
MAX_CHUNK_BYTES = SAMPLE_RATE
MAX_MESSAGE_CHARS = 64 * 1024
# A gap shorter than this is jitter in Twilio's timestamps, not lost audio.
GAP_TOLERANCE_MS = 40


class TwilioProtocolError(ValueError):
    pass


@dataclass(frozen=True)
class StreamStarted:
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[str, ...]  # channels: "customer"/"agent"
    custom_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MediaChunk:
    channel: str
    pcm: bytes  # 16-bit PCM at 8 kHz, silence for a gap before it included
    gap_ms: int  # silence inserted before this chunk


@dataclass(frozen=True)
class StreamStopped:
    reason: str


@dataclass(frozen=True)
class DtmfReceived:
    channel: str
    digit: str


Effect = StreamStarted | MediaChunk | StreamStopped | DtmfReceived


class TwilioMediaStream:
    def __init__(self, max_chunk_bytes: int = MAX_CHUNK_BYTES) -> None:
        self.stream_sid: str | None = None
        self.started = False
        self.stopped = False
        self.last_sequence: int | None = None
        self.samples: dict[str, int] = {}  # per channel, placed so far (gaps included)
        self.lost_ms: dict[str, int] = {}
        self._max_chunk = max_chunk_bytes

    def on_text(self, text: str) -> list[Effect]:
        if len(text) > MAX_MESSAGE_CHARS:
            raise TwilioProtocolError(f"message of {len(text)} characters is too large")
        try:
            message = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise TwilioProtocolError("message is not valid JSON") from None
        if not isinstance(message, dict):
            raise TwilioProtocolError("message is not a JSON object")
        return self.on_message(message)

    def on_message(self, message: dict[str, Any]) -> list[Effect]:
        if self.stopped:
            raise TwilioProtocolError("message after stop")
        event = message.get("event")
        if event == "connected":
            if self.last_sequence is not None:
                raise TwilioProtocolError("connected after the stream began")
            return []
        self._check_sequence(message.get("sequenceNumber"))
        if event == "start":
            return [self._start(message)]
        if not self.started:
            raise TwilioProtocolError(f"{event!r} before start")
        self._check_stream_sid(message.get("streamSid"))
        if event == "media":
            return [self._media(message.get("media"))]
        if event == "stop":
            self.stopped = True
            return [StreamStopped("stop")]
        if event == "dtmf":
            dtmf = _object(message.get("dtmf"), "dtmf")
            track = str(dtmf.get("track", "inbound_track")).removesuffix("_track")
            return [DtmfReceived(CHANNEL_OF_TRACK.get(track, "customer"), str(dtmf.get("digit")))]
        return []  # mark and later additions: nothing to record

    def _check_sequence(self, value: object) -> None:
        try:
            number = int(value)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            raise TwilioProtocolError(f"invalid sequenceNumber {value!r}") from None
        if self.last_sequence is not None and number != self.last_sequence + 1:
            raise TwilioProtocolError(
                f"expected sequenceNumber {self.last_sequence + 1}, got {number}"
            )
        self.last_sequence = number

    def _check_stream_sid(self, value: object) -> None:
        if value != self.stream_sid:
            raise TwilioProtocolError(f"streamSid {value!r} does not match {self.stream_sid!r}")

    def _start(self, message: dict[str, Any]) -> StreamStarted:
        if self.started:
            raise TwilioProtocolError("a second start")
        start = _object(message.get("start"), "start")
        stream_sid = message.get("streamSid") or start.get("streamSid")
        call_sid = start.get("callSid")
        if not isinstance(stream_sid, str) or not stream_sid:
            raise TwilioProtocolError("start without streamSid")
        if not isinstance(call_sid, str) or not call_sid:
            raise TwilioProtocolError("start without callSid")
        media_format = _object(start.get("mediaFormat"), "mediaFormat")
        if (
            media_format.get("encoding") != "audio/x-mulaw"
            or media_format.get("sampleRate") != SAMPLE_RATE
            or media_format.get("channels", 1) != 1
        ):
            raise TwilioProtocolError(f"unsupported media format {media_format!r}")
        tracks = start.get("tracks") or ["inbound"]
        if not isinstance(tracks, list) or not all(t in CHANNEL_OF_TRACK for t in tracks):
            raise TwilioProtocolError(f"unsupported tracks {tracks!r}")
        custom = start.get("customParameters") or {}
        if not isinstance(custom, dict):
            raise TwilioProtocolError("customParameters must be an object")
        self.stream_sid = stream_sid
        self.started = True
        channels = tuple(dict.fromkeys(CHANNEL_OF_TRACK[t] for t in tracks))
        for channel in channels:
            self.samples[channel] = 0
            self.lost_ms[channel] = 0
        return StreamStarted(
            stream_sid=stream_sid,
            call_sid=call_sid,
            account_sid=str(start.get("accountSid", "")),
            tracks=channels,
            custom_parameters={str(k): str(v) for k, v in custom.items()},
        )

    def _media(self, value: object) -> MediaChunk:
        media = _object(value, "media")
        track = media.get("track")
        channel = CHANNEL_OF_TRACK.get(track) if isinstance(track, str) else None
        if channel is None or channel not in self.samples:
            raise TwilioProtocolError(f"media on unknown track {track!r}")
        payload = media.get("payload")
        if not isinstance(payload, str):
            raise TwilioProtocolError("media without a base64 payload")
        if len(payload) > (self._max_chunk * 4 + 2) // 3 + 4:
            raise TwilioProtocolError(
                f"media chunk of {len(payload)} base64 characters exceeds {self._max_chunk} bytes"
            )
        try:
            mulaw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise TwilioProtocolError("media payload is not valid base64") from None
        try:
            timestamp_ms = int(media.get("timestamp", -1))
        except (TypeError, ValueError):
            raise TwilioProtocolError(
                f"invalid media timestamp {media.get('timestamp')!r}"
            ) from None
        placed = self.samples[channel]
        gap_samples = 0
        if timestamp_ms >= 0:
            gap_samples = max(0, timestamp_ms * SAMPLE_RATE // 1000 - placed)
            if gap_samples * 1000 // SAMPLE_RATE < GAP_TOLERANCE_MS:
                gap_samples = 0
        pcm = bytes(2 * gap_samples) + audioop.ulaw2lin(mulaw, 2)
        self.samples[channel] = placed + gap_samples + len(mulaw)
        gap_ms = gap_samples * 1000 // SAMPLE_RATE
        self.lost_ms[channel] += gap_ms
        return MediaChunk(channel, pcm, gap_ms)


def _object(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TwilioProtocolError(f"{name} must be an object")
    return value
