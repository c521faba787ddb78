"""Channel audio: G.711 decoding and reassembly of one RTP stream into PCM by timestamp.

Pure code. Placement is by RTP timestamp, not arrival order, so reordered packets land
where they belong and a gap stays silence of the right length: the recording keeps the
call's real timing, which the transcript timestamps rely on.
"""

from __future__ import annotations

import audioop
from dataclasses import dataclass, field

from ..ingest.rtp import RtpPacket

_DECODERS = {"PCMU": audioop.ulaw2lin, "PCMA": audioop.alaw2lin}
_HALF_SEQ = 1 << 15
_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32
_HALF_TS = 1 << 31
# Sources (SSRCs) one channel follows; an SBC re-anchoring media starts a new one, more
# than a handful means something is wrong and is not worth unbounded state.
MAX_SOURCES = 16


def decode_g711(payload: bytes, codec: str) -> bytes:
    """G.711 mu-law (PCMU) or A-law (PCMA) to 16-bit little-endian linear PCM."""
    decoder = _DECODERS.get(codec.upper())
    if decoder is None:
        raise ValueError(f"not a G.711 codec: {codec!r}")
    return decoder(payload, 2)


@dataclass
class ChannelStats:
    packets: int = 0  # every packet given to add()
    duplicates: int = 0  # same sequence number seen before: ignored
    late: int = 0  # timestamp before the stream's first packet: dropped
    lost: int = 0  # expected - received, from sequence numbers
    bytes: int = 0  # RTP payload bytes placed in the recording
    late_for_live: int = 0  # placed in a region already handed out by take_ready/flush
    overflow: int = 0  # beyond max_seconds, or from one SSRC too many: dropped
    ssrc_changes: int = 0  # new SSRCs after the first one


@dataclass
class _Source:
    """Timeline and sequence state of one SSRC."""

    base_sample: int  # where this SSRC's first timestamp lands in the channel
    first_timestamp: int
    first_sequence: int
    max_rel: int = 0  # highest sequence seen, relative to the first (wraps unfolded)
    min_rel: int = 0
    received: int = 0
    # Bit i set = relative sequence i - 2**15 seen; a bitmap keeps a 4-hour call small.
    seen: bytearray = field(default_factory=lambda: bytearray(_HALF_SEQ // 8 * 2))

    @property
    def lost(self) -> int:
        if not self.received:
            return 0
        return (self.max_rel - self.min_rel + 1) - self.received


class ChannelAudio:
    """One RTP stream reassembled into 16-bit mono PCM at sample_rate, by timestamp.

    position = (timestamp - first timestamp) mod 2**32; a position past 2**31 is a packet
    from before the first one (late, dropped). take_ready() hands out fixed-size segments
    once they are jitter_ms behind the furthest written sample; packets that arrive for a
    region already handed out still go into pcm() (the full recording).

    A new SSRC (an SBC re-anchoring the media) continues at the current end of the
    channel rather than at a meaningless timestamp offset.
    """

    def __init__(self, sample_rate: int = 8000, max_seconds: int = 4 * 3600) -> None:
        if sample_rate <= 0 or max_seconds <= 0:
            raise ValueError("sample_rate and max_seconds must be positive")
        self.sample_rate = sample_rate
        self.max_samples = sample_rate * max_seconds
        # Sequence numbers further ahead than a packet every 5 ms could produce are refused,
        # so a forged jump cannot grow the duplicate bitmap without bound.
        self._max_rel = max_seconds * 200 + _SEQ_MOD
        self.stats = ChannelStats()
        self._buf = bytearray()
        self._end = 0  # furthest written sample (exclusive)
        self._cursor = 0  # first sample not yet handed out
        self._segment_samples = sample_rate  # flush() cuts like the last take_ready()
        self._sources: dict[int, _Source] = {}

    # -- input ----------------------------------------------------------------------------
    def add(self, packet: RtpPacket, pcm: bytes) -> None:
        if len(pcm) % 2:
            raise ValueError("PCM must be 16-bit samples")
        stats = self.stats
        stats.packets += 1
        source = self._sources.get(packet.ssrc)
        if source is None:
            if len(self._sources) >= MAX_SOURCES:
                stats.overflow += 1
                return
            if self._sources:
                stats.ssrc_changes += 1
            source = _Source(self._end, packet.timestamp, packet.sequence)
            self._sources[packet.ssrc] = source

        # Unfold the 16-bit sequence number around the highest one seen so far.
        highest = (source.first_sequence + source.max_rel) % _SEQ_MOD
        delta = (packet.sequence - highest + _HALF_SEQ) % _SEQ_MOD - _HALF_SEQ
        rel = source.max_rel + delta
        if rel > self._max_rel:
            stats.overflow += 1
            return
        bit = rel + _HALF_SEQ  # >= 0: max_rel >= 0 and delta >= -2**15
        byte, mask = bit >> 3, 1 << (bit & 7)
        seen = source.seen
        if byte >= len(seen):
            seen.extend(bytes(max(len(seen), byte + 1 - len(seen))))
        if seen[byte] & mask:
            stats.duplicates += 1
            return
        seen[byte] |= mask
        # A source with nothing received yet has lost nothing (its formula would say 1).
        lost_before = source.lost if source.received else 0
        source.received += 1
        source.max_rel = max(source.max_rel, rel)
        source.min_rel = min(source.min_rel, rel)
        stats.lost += source.lost - lost_before

        offset = (packet.timestamp - source.first_timestamp) % _TS_MOD
        if offset >= _HALF_TS:
            stats.late += 1
            return
        position = source.base_sample + offset
        samples = len(pcm) // 2
        if position + samples > self.max_samples:
            stats.overflow += 1
            return
        if position < self._cursor:
            stats.late_for_live += 1
        start = 2 * position
        if start > len(self._buf):
            self._buf.extend(bytes(start - len(self._buf)))  # the gap stays silence
        self._buf[start : start + len(pcm)] = pcm
        self._end = max(self._end, position + samples)
        stats.bytes += len(packet.payload)

    # -- output ---------------------------------------------------------------------------
    def _ms(self, samples: int) -> int:
        return samples * 1000 // self.sample_rate

    def _samples(self, ms: int) -> int:
        return ms * self.sample_rate // 1000

    def _slice(self, start: int, stop: int) -> bytes:
        return bytes(self._buf[2 * start : 2 * stop])

    def take_ready(self, segment_ms: int = 1000, jitter_ms: int = 200) -> list[tuple[int, bytes]]:
        """New (start_ms, pcm) segments of exactly segment_ms that end at least jitter_ms
        before the furthest written sample."""
        size = self._samples(segment_ms)
        if size <= 0 or jitter_ms < 0:
            raise ValueError("segment_ms must be positive and jitter_ms not negative")
        self._segment_samples = size
        ready_end = self._end - self._samples(jitter_ms)
        out: list[tuple[int, bytes]] = []
        while self._cursor + size <= ready_end:
            out.append((self._ms(self._cursor), self._slice(self._cursor, self._cursor + size)))
            self._cursor += size
        return out

    def flush(self, segment_ms: int | None = None) -> list[tuple[int, bytes]]:
        """Everything not handed out yet, cut like take_ready (the last piece may be shorter)."""
        size = self._samples(segment_ms) if segment_ms is not None else self._segment_samples
        if size <= 0:
            raise ValueError("segment_ms must be positive")
        out: list[tuple[int, bytes]] = []
        while self._cursor < self._end:
            stop = min(self._cursor + size, self._end)
            out.append((self._ms(self._cursor), self._slice(self._cursor, stop)))
            self._cursor = stop
        return out

    def pcm(self) -> bytes:
        """The whole channel, late packets included."""
        return bytes(self._buf)

    @property
    def duration_ms(self) -> int:
        return self._ms(self._end)


def interleave_stereo(left: bytes, right: bytes) -> bytes:
    """Two 16-bit mono channels into one interleaved stereo stream (L R L R ...); the
    shorter channel is padded with silence."""
    if len(left) % 2 or len(right) % 2:
        raise ValueError("PCM must be 16-bit samples")
    frames = max(len(left), len(right)) // 2
    out = bytearray(4 * frames)
    # Extended-slice assignment copies in C, without numpy or per-sample Python work.
    out[0 : 2 * len(left) : 4] = left[0::2]
    out[1 : 2 * len(left) : 4] = left[1::2]
    out[2 : 2 + 2 * len(right) : 4] = right[0::2]
    out[3 : 3 + 2 * len(right) : 4] = right[1::2]
    return bytes(out)
