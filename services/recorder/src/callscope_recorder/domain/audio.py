"""Channel audio: G.711 decoding, reassembly of one RTP stream into PCM by timestamp, and
positioned PCM from any other source, with marked gaps (paused, discarded, not recording).

Pure code. Placement is by RTP timestamp (or the position a source gives), not arrival
order, so reordered packets land where they belong and a gap stays silence of the right
length: the recording keeps the call's real timing, which the transcript timestamps rely on.

A gap is a stretch of the channel's timeline where audio must not exist (the agent paused
the recording for card details, AudioHook discarded audio, on-demand recording not started
yet). Nothing is ever written inside a gap, whenever it arrives (a late RTP packet from
inside a pause included), and the live segments skip it, so no consumer ever sees it.
"""

from __future__ import annotations

import audioop
from collections.abc import Callable
from dataclasses import dataclass, field

from ..ingest.rtp import RtpPacket, RtpRun

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
class Gap:
    """[start, end) in samples; end None while the gap is open (a pause in progress)."""

    start: int
    end: int | None
    reason: str

    def covers(self, position: int) -> bool:
        return self.start <= position and (self.end is None or position < self.end)


# Called with (position, pcm) for every piece of audio actually placed in the channel (after
# gaps are cut out): the durable spool journals exactly what the recording will contain.
WriteListener = Callable[[int, bytes], None]


def _cover(seen: bytearray, byte: int) -> None:
    """Grow a sequence bitmap (at least doubling) until it has `byte`."""
    if byte >= len(seen):
        seen.extend(bytes(max(len(seen), byte + 1 - len(seen))))


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
        self.gaps: list[Gap] = []
        self.listener: WriteListener | None = None

    # -- gaps -----------------------------------------------------------------------------
    @property
    def end(self) -> int:
        """The furthest sample of the channel's timeline (exclusive), gaps included."""
        return self._end

    @property
    def open_gap(self) -> Gap | None:
        return self.gaps[-1] if self.gaps and self.gaps[-1].end is None else None

    def start_gap(self, position: int, reason: str) -> Gap:
        """From `position` on, nothing is recorded until end_gap(). Audio already placed
        at or after `position` (a source running ahead of the call clock) is erased."""
        if self.open_gap is not None:
            raise ValueError("a gap is already open on this channel")
        position = max(position, self._cursor)  # what was handed out live stays as it was
        gap = Gap(position, None, reason)
        self.gaps.append(gap)
        if position < len(self._buf) // 2:
            self._buf[2 * position :] = bytes(len(self._buf) - 2 * position)
        return gap

    def end_gap(self, position: int) -> Gap | None:
        """Close the open gap at `position` (at least where it started); the timeline is
        extended to it, so the recording keeps the gap's length as silence."""
        gap = self.open_gap
        if gap is None:
            return None
        gap.end = max(position, gap.start)
        self._advance(gap.end)
        return gap

    def add_gap(self, position: int, samples: int, reason: str) -> Gap:
        """A closed gap of `samples` at `position` (e.g. audio the source discarded)."""
        if samples < 0:
            raise ValueError("a gap cannot have a negative length")
        gap = Gap(position, position + samples, reason)
        self.gaps.append(gap)
        if position < len(self._buf) // 2:
            stop = min(2 * (position + samples), len(self._buf))
            self._buf[2 * position : stop] = bytes(stop - 2 * position)
        self._advance(position + samples)
        return gap

    def advance_to(self, position: int) -> None:
        """Move the timeline on without audio (a source that stops sending while paused)."""
        self._advance(position)

    def _advance(self, position: int) -> None:
        if position > self.max_samples:
            position = self.max_samples
        if position > self._end:
            self._end = position

    def _pieces_outside_gaps(self, position: int, samples: int) -> list[tuple[int, int]]:
        """[start, stop) sample ranges of [position, position + samples) outside every gap."""
        pieces = [(position, position + samples)]
        for gap in self.gaps:
            gap_end = self.max_samples if gap.end is None else gap.end
            cut: list[tuple[int, int]] = []
            for start, stop in pieces:
                if stop <= gap.start or start >= gap_end:
                    cut.append((start, stop))
                    continue
                if start < gap.start:
                    cut.append((start, gap.start))
                if stop > gap_end:
                    cut.append((gap_end, stop))
            pieces = cut
        return pieces

    # -- input ----------------------------------------------------------------------------
    def add(self, packet: RtpPacket, pcm: bytes) -> None:
        if len(pcm) % 2:
            raise ValueError("PCM must be 16-bit samples")
        position = self._place(packet.ssrc, packet.sequence, packet.timestamp)
        if position is not None and self.write(position, pcm):
            self.stats.bytes += len(packet.payload)

    def add_run(self, run: RtpRun, pcm: bytes) -> None:
        """The run's packets as add() would place them one by one, written in as few
        pieces as they allow (one when nothing in the run was a duplicate or late)."""
        count = run.count
        if len(pcm) % (2 * count):
            raise ValueError("PCM must be 16-bit samples, the same number for every packet")
        size = run.size
        samples = len(pcm) // count // 2
        sequence, timestamp, ssrc = run.sequence, run.timestamp, run.ssrc
        if self._continue_source(run, samples, pcm):
            return
        place = self._place
        positions = [
            place(ssrc, (sequence + i) % _SEQ_MOD, (timestamp + i * size) % _TS_MOD)
            for i in range(count)
        ]
        i = 0
        while i < count:
            start = positions[i]
            if start is None:
                i += 1
                continue
            j = i + 1  # packets i..j-1 lie end to end
            while j < count and positions[j] == start + (j - i) * samples:
                j += 1
            if start + (j - i) * samples > self.max_samples:
                j = i + 1  # near the limit: packet by packet, as add() would
            if self.write(start, pcm[2 * samples * i : 2 * samples * j], j - i):
                self.stats.bytes += size * (j - i)
            i = j

    def _continue_source(self, run: RtpRun, samples: int, pcm: bytes) -> bool:
        """The common case in one step: a run that carries on exactly after the highest
        packet of its source, within the timeline. Nothing of it can have been seen (no
        sequence number above the highest was) or be late, and the loss count does not
        change. False, having done nothing, for anything else."""
        source = self._sources.get(run.ssrc)
        if source is None:
            return False
        count = run.count
        max_rel = source.max_rel
        if (
            run.sequence != (source.first_sequence + max_rel + 1) % _SEQ_MOD
            or max_rel + count > self._max_rel
        ):
            return False
        offset = (run.timestamp - source.first_timestamp) % _TS_MOD
        position = source.base_sample + offset
        if (
            offset + (count - 1) * run.size >= _HALF_TS
            or position + count * samples > self.max_samples
        ):
            return False
        # Mark the run's sequence numbers seen: bits first..first+count-1, as one integer
        # OR over the bytes they span.
        seen = source.seen
        first = max_rel + 1 + _HALF_SEQ
        low, high = first >> 3, (first + count - 1) >> 3
        _cover(seen, high)
        span = int.from_bytes(seen[low : high + 1], "little") | (((1 << count) - 1) << (first & 7))
        seen[low : high + 1] = span.to_bytes(high + 1 - low, "little")
        source.received += count
        source.max_rel = max_rel + count
        self.stats.packets += count
        if self.write(position, pcm, count):
            self.stats.bytes += len(run.payload)
        return True

    def _place(self, ssrc: int, sequence: int, timestamp: int) -> int | None:
        """Account for one packet (sources, sequence numbers, loss) and return where its
        audio goes, or None when it must not be written (duplicate, late, overflow)."""
        stats = self.stats
        stats.packets += 1
        source = self._sources.get(ssrc)
        if source is None:
            if len(self._sources) >= MAX_SOURCES:
                stats.overflow += 1
                return None
            if self._sources:
                stats.ssrc_changes += 1
            source = _Source(self._end, timestamp, sequence)
            self._sources[ssrc] = source

        # Unfold the 16-bit sequence number around the highest one seen so far.
        highest = (source.first_sequence + source.max_rel) % _SEQ_MOD
        delta = (sequence - highest + _HALF_SEQ) % _SEQ_MOD - _HALF_SEQ
        rel = source.max_rel + delta
        if rel > self._max_rel:
            stats.overflow += 1
            return None
        bit = rel + _HALF_SEQ  # >= 0: max_rel >= 0 and delta >= -2**15
        byte, mask = bit >> 3, 1 << (bit & 7)
        seen = source.seen
        _cover(seen, byte)
        if seen[byte] & mask:
            stats.duplicates += 1
            return None
        seen[byte] |= mask
        # A source with nothing received yet has lost nothing (its formula would say 1).
        lost_before = source.lost if source.received else 0
        source.received += 1
        source.max_rel = max(source.max_rel, rel)
        source.min_rel = min(source.min_rel, rel)
        stats.lost += source.lost - lost_before

        offset = (timestamp - source.first_timestamp) % _TS_MOD
        if offset >= _HALF_TS:
            stats.late += 1
            return None
        return source.base_sample + offset

    def add_pcm(self, pcm: bytes, position: int | None = None) -> int:
        """Place 16-bit PCM at `position` (samples from the channel's start), or append it
        at the end of the timeline when None; returns where it was placed. For sources
        that give positions (AudioHook, gRPC, files) rather than RTP packets."""
        if len(pcm) % 2:
            raise ValueError("PCM must be 16-bit samples")
        if position is None:
            position = self._end
        if position < 0:
            raise ValueError("position must not be negative")
        self.stats.packets += 1
        self.write(position, pcm)
        return position

    def write(self, position: int, pcm: bytes, packets: int = 1) -> bool:
        """The one place audio enters the buffer: the parts inside a gap are dropped (the
        timeline still moves on), the rest is written and given to the listener. False
        when nothing could be placed (beyond max_seconds). `packets`: how many packets of
        equal length `pcm` holds (a run), for the per-packet statistics."""
        samples = len(pcm) // 2
        if position + samples > self.max_samples:
            self.stats.overflow += 1
            return False
        if position < self._cursor:
            # Packets that start in a region already handed out live.
            per_packet = max(1, samples // packets)
            self.stats.late_for_live += min(packets, -(-(self._cursor - position) // per_packet))
        if not self.gaps and 2 * position == len(self._buf):
            # The common case: audio that carries on where the buffer ends.
            self._buf += pcm
            if self.listener is not None:
                self.listener(position, pcm)
            self._advance(position + samples)
            return True
        pieces = (
            self._pieces_outside_gaps(position, samples)
            if self.gaps
            else [(position, position + samples)]
        )
        for start, stop in pieces:
            if 2 * start > len(self._buf):
                self._buf.extend(bytes(2 * start - len(self._buf)))  # the gap stays silence
            chunk = pcm[2 * (start - position) : 2 * (stop - position)]
            self._buf[2 * start : 2 * stop] = chunk
            if self.listener is not None:
                self.listener(start, chunk)
        self._advance(position + samples)
        return True

    # -- output ---------------------------------------------------------------------------
    def _ms(self, samples: int) -> int:
        return samples * 1000 // self.sample_rate

    def _samples(self, ms: int) -> int:
        return ms * self.sample_rate // 1000

    def _slice(self, start: int, stop: int) -> bytes:
        return bytes(self._buf[2 * start : 2 * stop])

    def _next_gap(self, position: int) -> Gap | None:
        """The gap that covers `position`, or else the first one starting after it."""
        after: Gap | None = None
        for gap in self.gaps:
            if gap.covers(position):
                return gap
            if gap.start > position and (after is None or gap.start < after.start):
                after = gap
        return after

    def _cut(self, size: int, ready_end: int, final: bool) -> list[tuple[int, bytes]]:
        """Segments of `size` samples from the cursor up to ready_end, never across a gap:
        a segment ends where a gap starts (so it may be shorter) and the next one starts
        where the gap ends. A segment is emitted once complete, or at the end when final."""
        out: list[tuple[int, bytes]] = []
        while self._cursor < ready_end:
            gap = self._next_gap(self._cursor) if self.gaps else None
            if gap is not None and gap.covers(self._cursor):
                if gap.end is None:
                    if not final:
                        break
                    self._cursor = ready_end  # an open gap runs to the end of the call
                    break
                self._cursor = gap.end
                continue
            stop = self._cursor + size
            cut_by_gap = gap is not None and gap.start < stop
            if cut_by_gap:
                assert gap is not None
                stop = gap.start
            if stop > ready_end:
                if not final:
                    break
                stop = ready_end
            out.append((self._ms(self._cursor), self._slice(self._cursor, stop)))
            self._cursor = stop
        return out

    def take_ready(self, segment_ms: int = 1000, jitter_ms: int = 200) -> list[tuple[int, bytes]]:
        """New (start_ms, pcm) segments of segment_ms (shorter only where a gap starts) that
        end at least jitter_ms before the furthest written sample."""
        size = self._samples(segment_ms)
        if size <= 0 or jitter_ms < 0:
            raise ValueError("segment_ms must be positive and jitter_ms not negative")
        self._segment_samples = size
        return self._cut(size, self._end - self._samples(jitter_ms), final=False)

    def needed_for_segment(self, segment_ms: int, jitter_ms: int) -> int:
        """Samples still to be written before take_ready() can hand out a full segment
        (0 or less: it may have one now)."""
        return self._cursor + self._samples(segment_ms) + self._samples(jitter_ms) - self._end

    def flush(self, segment_ms: int | None = None) -> list[tuple[int, bytes]]:
        """Everything not handed out yet, cut like take_ready (the last piece may be shorter)."""
        size = self._samples(segment_ms) if segment_ms is not None else self._segment_samples
        if size <= 0:
            raise ValueError("segment_ms must be positive")
        return self._cut(size, self._end, final=True)

    @property
    def cursor(self) -> int:
        """The first sample not handed out as a live segment yet."""
        return self._cursor

    @cursor.setter
    def cursor(self, position: int) -> None:
        # Recovery from the spool: segments up to here were published before the crash.
        self._cursor = max(0, position)

    def pcm(self) -> bytes:
        """The whole channel up to the end of its timeline, late packets included; gaps
        are silence."""
        if len(self._buf) < 2 * self._end:
            return bytes(self._buf) + bytes(2 * self._end - len(self._buf))
        return bytes(self._buf)

    def recorded_samples(self) -> int:
        """Samples of the timeline outside every gap (what was actually recorded)."""
        return sum(stop - start for start, stop in self._pieces_outside_gaps(0, self._end))

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
