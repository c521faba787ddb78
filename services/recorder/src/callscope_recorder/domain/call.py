"""One recorded call: its channels, their audio, and the segments cut from it. Pure logic."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass, field
from datetime import datetime

from ..ingest.rtp import RtpPacket
from .audio import ChannelAudio, decode_g711, interleave_stereo

SAMPLE_RATE = 8000
PAYLOAD_CODECS = {0: "PCMU", 8: "PCMA"}


@dataclass(frozen=True)
class SegmentOut:
    channel: str  # "customer" | "agent"
    seq: int
    start_ms: int
    pcm: bytes
    last: bool

    @property
    def duration_ms(self) -> int:
        return len(self.pcm) * 1000 // (2 * SAMPLE_RATE)


@dataclass
class MediaCounters:
    packets: int = 0
    wrong_payload_type: int = 0


@dataclass
class CallSession:
    """A call being recorded. Streams are indexed by their SDP m-line; each maps to a channel."""

    call_id: str
    external_call_id: str
    source: str
    queue: str
    language: str
    started_at: datetime
    channel_of_stream: dict[int, str]
    codec_of_stream: dict[int, str]
    labels_source: str = "metadata"
    audio: dict[str, ChannelAudio] = field(default_factory=dict)
    next_seq: dict[str, int] = field(default_factory=dict)
    counters: dict[str, MediaCounters] = field(default_factory=dict)
    ended: bool = False

    def __post_init__(self) -> None:
        for channel in set(self.channel_of_stream.values()):
            self.audio[channel] = ChannelAudio(sample_rate=SAMPLE_RATE)
            self.next_seq[channel] = 0
            self.counters[channel] = MediaCounters()

    def on_rtp(self, stream_index: int, packet: RtpPacket) -> None:
        channel = self.channel_of_stream[stream_index]
        counters = self.counters[channel]
        counters.packets += 1
        codec = PAYLOAD_CODECS.get(packet.payload_type)
        if codec is None or codec != self.codec_of_stream[stream_index]:
            # e.g. comfort noise or telephone-event: not audio of the negotiated codec.
            counters.wrong_payload_type += 1
            return
        self.audio[channel].add(packet, decode_g711(packet.payload, codec))

    def _number(
        self, channel: str, pieces: list[tuple[int, bytes]], last: bool
    ) -> list[SegmentOut]:
        out = []
        for i, (start_ms, pcm) in enumerate(pieces):
            seq = self.next_seq[channel]
            self.next_seq[channel] = seq + 1
            out.append(SegmentOut(channel, seq, start_ms, pcm, last and i == len(pieces) - 1))
        return out

    def ready_segments(self, segment_ms: int, jitter_ms: int) -> list[SegmentOut]:
        segments: list[SegmentOut] = []
        for channel, audio in self.audio.items():
            segments += self._number(channel, audio.take_ready(segment_ms, jitter_ms), False)
        return segments

    def final_segments(self) -> list[SegmentOut]:
        """The rest of each channel; the last one is marked so consumers can flush."""
        segments: list[SegmentOut] = []
        for channel, audio in self.audio.items():
            pieces = audio.flush()
            if not pieces:
                pieces = [(audio.duration_ms, b"")]  # an empty marker still says "last"
            segments += self._number(channel, pieces, True)
        return segments

    @property
    def duration_ms(self) -> int:
        return max((a.duration_ms for a in self.audio.values()), default=0)

    def stereo_wav(self) -> bytes:
        """The recording: customer on the left, agent on the right, 8 kHz 16-bit PCM."""
        silence = b""
        left = self.audio["customer"].pcm() if "customer" in self.audio else silence
        right = self.audio["agent"].pcm() if "agent" in self.audio else silence
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE)
            out.writeframes(interleave_stereo(left, right))
        return buffer.getvalue()

    def media_stats(self) -> dict[str, dict[str, int]]:
        stats: dict[str, dict[str, int]] = {}
        for channel, audio in self.audio.items():
            s = audio.stats
            stats[channel] = {
                "packets": self.counters[channel].packets,
                "wrong_payload_type": self.counters[channel].wrong_payload_type,
                "duplicates": s.duplicates,
                "late": s.late,
                "lost": s.lost,
                "segments": self.next_seq[channel],
            }
        return stats
