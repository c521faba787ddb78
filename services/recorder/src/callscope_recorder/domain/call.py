"""One recorded call, whatever sent it: its two channels (customer, agent), their audio, the
recording state (recording, paused, not started, stopped), and the segments cut from it.
Pure logic.

Audio arrives either as RTP packets of a SIPREC stream (`on_rtp`, placed by timestamp, with
DTMF telephone-events turned into pause/resume commands) or as PCM16/G.711 from any other
source (`feed`, placed at a given position or appended). Everything goes through the same
ChannelAudio, so gaps, segments and the stereo recording behave the same for every source.

Recording state and gaps: pausing opens a gap on both channels at the call's current
position (the furthest sample either channel has reached); while it is open nothing is
written, whatever its timestamp, and no live segment covers it; resuming closes it where the
timeline has got to, so the recording keeps the pause as silence of its real length.
"""

from __future__ import annotations

import audioop
from dataclasses import dataclass, field, replace
from datetime import datetime

from ..ingest.rtp import RtpPacket, RtpRun
from .audio import ChannelAudio, Gap, decode_g711, interleave_stereo
from .dtmf import DtmfCommand, DtmfDetector, DtmfParseError, DtmfSequenceMatcher

SAMPLE_RATE = 8000
CHANNELS = ("customer", "agent")
PAYLOAD_CODECS = {0: "PCMU", 8: "PCMA"}
DEFAULT_TELEPHONE_EVENT_PT = 101
_SAMPLES_PER_MS = SAMPLE_RATE // 1000

# Recording states.
RECORDING = "recording"
PAUSED = "paused"
NOT_STARTED = "not_started"  # on-demand, or not picked by a percentage policy
STOPPED = "stopped"

# Gap reasons (RecordingStored.gaps[].reason).
GAP_PAUSED = "paused"
GAP_DISCARDED = "discarded"
GAP_NOT_RECORDING = "not_recording"
GAP_STOPPED = "stopped"


class RecordingStateError(ValueError):
    """A recording command that makes no sense in the call's state (e.g. RESUME a call that
    was never paused, START after STOP)."""


class UnknownChannelError(ValueError):
    pass


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


@dataclass(frozen=True)
class RecordingControl:
    """A change of recording state, for the event it is published as."""

    action: str  # "start" | "pause" | "resume" | "stop"
    at_ms: int
    by: str
    reason: str
    source: str  # api | dtmf | audiohook | twilio | grpc | consent
    gap_ms: int = 0  # for resume: how long the recording was paused
    position: int = 0  # in samples: where the change took effect (the spool replays it)


@dataclass(frozen=True)
class CallGap:
    start_ms: int
    duration_ms: int
    reason: str


@dataclass
class MediaCounters:
    packets: int = 0
    wrong_payload_type: int = 0
    dtmf_digits: int = 0
    malformed_dtmf: int = 0


@dataclass
class CallSession:
    """A call being recorded. For RTP sources, streams are indexed by their SDP m-line and
    channel_of_stream maps each to a channel; other sources leave both maps empty."""

    call_id: str
    external_call_id: str
    source: str
    queue: str
    language: str
    started_at: datetime
    channel_of_stream: dict[int, str] = field(default_factory=dict)
    codec_of_stream: dict[int, str] = field(default_factory=dict)
    labels_source: str = "metadata"
    tenant: str = ""
    agent_id: str = ""
    telephone_event_pt: int = DEFAULT_TELEPHONE_EVENT_PT
    audio: dict[str, ChannelAudio] = field(default_factory=dict)
    next_seq: dict[str, int] = field(default_factory=dict)
    counters: dict[str, MediaCounters] = field(default_factory=dict)
    ended: bool = False
    state: str = RECORDING
    # False once only proof may be kept (customer opted out, policy proof_only): the audio
    # is still stored, but no live segment leaves the recorder (nothing is transcribed).
    live: bool = True
    proof_only: bool = False
    dtmf: DtmfSequenceMatcher | None = None
    dtmf_channels: tuple[str, ...] = ("agent",)  # whose digits may pause/resume
    # Commands keyed by DTMF wait here for the service layer to apply and publish them.
    dtmf_commands: list[DtmfCommand] = field(default_factory=list)
    _dtmf_detectors: dict[int, DtmfDetector] = field(default_factory=dict)
    _resample_state: dict[str, object] = field(default_factory=dict)
    _paused_at_ms: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.channel_of_stream.values()) - set(CHANNELS)
        if unknown:
            raise UnknownChannelError(f"unknown channel(s) {sorted(unknown)}; use {CHANNELS}")
        for channel in CHANNELS:
            self.audio.setdefault(channel, ChannelAudio(sample_rate=SAMPLE_RATE))
            self.next_seq.setdefault(channel, 0)
            self.counters.setdefault(channel, MediaCounters())

    # -- audio in -------------------------------------------------------------------------
    def on_rtp(self, stream_index: int, packet: RtpPacket) -> None:
        channel = self.channel_of_stream[stream_index]
        counters = self.counters[channel]
        counters.packets += 1
        if packet.payload_type == self.telephone_event_pt:
            self._on_telephone_event(stream_index, channel, packet)
            return
        codec = PAYLOAD_CODECS.get(packet.payload_type)
        if codec is None or codec != self.codec_of_stream[stream_index]:
            # e.g. comfort noise: not audio of the negotiated codec.
            counters.wrong_payload_type += 1
            return
        self.audio[channel].add(packet, decode_g711(packet.payload, codec))

    def on_rtp_run(self, stream_index: int, run: RtpRun) -> None:
        """Packets that follow each other exactly (the batched receiver's runs): the same
        outcome as on_rtp() for each, with one G.711 decode and one write for the run."""
        if run.payload_type == self.telephone_event_pt:
            for packet in run.packets():
                self.on_rtp(stream_index, packet)
            return
        channel = self.channel_of_stream[stream_index]
        counters = self.counters[channel]
        counters.packets += run.count
        codec = PAYLOAD_CODECS.get(run.payload_type)
        if codec is None or codec != self.codec_of_stream[stream_index]:
            counters.wrong_payload_type += run.count
            return
        self.audio[channel].add_run(run, decode_g711(run.payload, codec))

    def _on_telephone_event(self, stream_index: int, channel: str, packet: RtpPacket) -> None:
        detector = self._dtmf_detectors.setdefault(stream_index, DtmfDetector())
        try:
            digit = detector.on_packet(packet)
        except DtmfParseError:
            self.counters[channel].malformed_dtmf += 1
            return
        if digit is None:
            return
        self.counters[channel].dtmf_digits += 1
        if self.dtmf is not None and channel in self.dtmf_channels:
            command = self.dtmf.on_digit(digit, self.position_ms)
            if command is not None:
                self.dtmf_commands.append(replace(command, position=self.position))

    def feed(
        self,
        channel: str,
        audio: bytes,
        *,
        codec: str = "pcm_s16le",
        position: int | None = None,
        sample_rate: int = SAMPLE_RATE,
    ) -> int:
        """Audio of one channel from any source: 16-bit little-endian PCM ("pcm_s16le", at
        sample_rate, resampled to 8 kHz) or G.711 ("pcmu"/"pcma", 8 kHz). `position` is the
        sample offset at 8 kHz from the call's start; None appends at the channel's end.
        Returns the position where the audio was placed."""
        target = self.audio.get(channel)
        if target is None:
            raise UnknownChannelError(f"unknown channel {channel!r}; use {CHANNELS}")
        kind = codec.lower()
        if kind in ("pcmu", "pcma"):
            pcm = decode_g711(audio, kind)
        elif kind == "pcm_s16le":
            if len(audio) % 2:
                raise ValueError("pcm_s16le audio must be whole 16-bit samples")
            pcm = audio
            if sample_rate != SAMPLE_RATE:
                if not 8000 <= sample_rate <= 48000:
                    raise ValueError(f"sample rate {sample_rate} outside 8000..48000")
                state = self._resample_state.get(channel)
                pcm, state = audioop.ratecv(pcm, 2, 1, sample_rate, SAMPLE_RATE, state)
                self._resample_state[channel] = state
        else:
            raise ValueError(f"unsupported codec {codec!r}: use pcm_s16le, pcmu or pcma")
        self.counters[channel].packets += 1
        return target.add_pcm(pcm, position)

    # -- the call's clock -----------------------------------------------------------------
    @property
    def position(self) -> int:
        """The call's current position in samples: the furthest any channel has reached."""
        return max(a.end for a in self.audio.values())

    @property
    def position_ms(self) -> int:
        return self.position // _SAMPLES_PER_MS

    # -- recording state ------------------------------------------------------------------
    def _open_gaps(self, reason: str, position: int | None = None) -> None:
        at = self.position if position is None else position
        for audio in self.audio.values():
            audio.start_gap(at, reason)

    def _close_gaps(self, position: int | None = None) -> int:
        at = self.position if position is None else position
        for audio in self.audio.values():
            audio.end_gap(at)
        return at

    def not_started(self) -> None:
        """Nothing is recorded until start() (on-demand policy, or not picked)."""
        if self.state != RECORDING or self.position:
            raise RecordingStateError("only a call that has not begun can wait for START")
        self._open_gaps(GAP_NOT_RECORDING, 0)
        self.state = NOT_STARTED

    def start(
        self, by: str, reason: str, source: str, position: int | None = None
    ) -> RecordingControl | None:
        """Begin recording an on-demand call; None when it is already recording."""
        if self.state in (RECORDING, PAUSED):
            return None
        if self.state == STOPPED:
            raise RecordingStateError("the recording of this call was stopped for good")
        at = self._close_gaps(position)
        self.state = RECORDING
        return RecordingControl("start", at // _SAMPLES_PER_MS, by, reason, source, position=at)

    def pause(
        self, by: str, reason: str, source: str, position: int | None = None
    ) -> RecordingControl | None:
        """Stop keeping audio until resume(); None when already paused."""
        if self.state == PAUSED:
            return None
        if self.state != RECORDING:
            raise RecordingStateError(f"cannot pause a recording that is {self.state}")
        self._open_gaps(GAP_PAUSED, position)
        self.state = PAUSED
        at = self.audio[CHANNELS[0]].gaps[-1].start
        self._paused_at_ms = at // _SAMPLES_PER_MS
        return RecordingControl("pause", self._paused_at_ms, by, reason, source, position=at)

    def resume(
        self, by: str, reason: str, source: str, position: int | None = None
    ) -> RecordingControl | None:
        """Keep audio again; None when not paused. The gap ends at `position` when the
        source says where its audio resumes, else where the call's timeline has got to."""
        if self.state == RECORDING:
            return None
        if self.state != PAUSED:
            raise RecordingStateError(f"cannot resume a recording that is {self.state}")
        at = self._close_gaps(position)
        self.state = RECORDING
        at_ms = at // _SAMPLES_PER_MS
        return RecordingControl(
            "resume", at_ms, by, reason, source, gap_ms=at_ms - self._paused_at_ms, position=at
        )

    def stop(
        self, by: str, reason: str, source: str, position: int | None = None
    ) -> RecordingControl | None:
        """Stop recording for good (nothing after this point is kept); None if stopped."""
        if self.state == STOPPED:
            return None
        at = self.position if position is None else position
        if self.state == RECORDING:
            self._open_gaps(GAP_STOPPED, at)
        # Paused or not started: the open gap simply never closes.
        self.state = STOPPED
        return RecordingControl("stop", at // _SAMPLES_PER_MS, by, reason, source, position=at)

    def advance_to(self, ends: dict[str, int]) -> None:
        """Move each channel's timeline on to at least `ends` (a spool replay: audio dropped
        inside a gap moved the timeline without leaving a write behind)."""
        for channel, end in ends.items():
            if channel in self.audio:
                self.audio[channel].advance_to(end)

    def ends(self) -> dict[str, int]:
        return {channel: audio.end for channel, audio in self.audio.items()}

    def mark_gap(
        self,
        channel: str | None,
        duration_ms: int,
        reason: str = GAP_DISCARDED,
        position: int | None = None,
    ) -> CallGap:
        """A stretch the source dropped (AudioHook "discarded"): kept as marked silence of
        `duration_ms`, on one channel or on both (channel None), from `position` or from
        where the channel (both: the call) has got to."""
        if duration_ms < 0:
            raise ValueError("a gap cannot have a negative duration")
        channels = CHANNELS if channel is None else (channel,)
        for name in channels:
            if name not in self.audio:
                raise UnknownChannelError(f"unknown channel {name!r}; use {CHANNELS}")
        if position is None:
            position = self.position if channel is None else self.audio[channel].end
        samples = duration_ms * _SAMPLES_PER_MS
        for name in channels:
            self.audio[name].add_gap(position, samples, reason)
        return CallGap(position // _SAMPLES_PER_MS, duration_ms, reason)

    def keep_for_proof_only(self) -> None:
        """From now on the audio is kept for proof only: still stored, never published."""
        self.proof_only = True
        self.live = False

    # -- audio out ------------------------------------------------------------------------
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
        """Complete live segments. A proof-only call hands none out (its cursor still moves,
        so nothing kept for proof is published later either)."""
        segments: list[SegmentOut] = []
        for channel, audio in self.audio.items():
            pieces = audio.take_ready(segment_ms, jitter_ms)
            if self.live:
                segments += self._number(channel, pieces, False)
        return segments

    def next_segment_in_ms(self, segment_ms: int, jitter_ms: int) -> int:
        """How much more of the call's timeline until a channel has a live segment ready
        (0: one may be ready now)."""
        needed = min(
            audio.needed_for_segment(segment_ms, jitter_ms) for audio in self.audio.values()
        )
        return max(0, needed * 1000 // SAMPLE_RATE)

    def final_segments(self) -> list[SegmentOut]:
        """The rest of each channel; the last one is marked so consumers can flush."""
        segments: list[SegmentOut] = []
        for channel, audio in self.audio.items():
            pieces = audio.flush()
            if not pieces or not self.live:
                pieces = [(audio.duration_ms, b"")]  # an empty marker still says "last"
            segments += self._number(channel, pieces, True)
        return segments

    @property
    def duration_ms(self) -> int:
        return max((a.duration_ms for a in self.audio.values()), default=0)

    @property
    def recorded_ms(self) -> int:
        """Milliseconds of the call actually recorded (outside gaps) on any channel."""
        return max(a.recorded_samples() for a in self.audio.values()) // _SAMPLES_PER_MS

    def gaps(self) -> list[CallGap]:
        """The call's gaps, both channels merged, in order (a gap on one channel only, such
        as a discard on one side, is listed as well)."""
        merged: dict[tuple[int, str], Gap] = {}
        end = self.position
        for audio in self.audio.values():
            for gap in audio.gaps:
                key = (gap.start, gap.reason)
                stop = gap.end if gap.end is not None else end
                known = merged.get(key)
                if known is None or (known.end or 0) < stop:
                    merged[key] = Gap(gap.start, stop, gap.reason)
        ms = _SAMPLES_PER_MS
        return [
            CallGap(g.start // ms, ((g.end or 0) - g.start) // ms, g.reason)
            for g in sorted(merged.values(), key=lambda g: g.start)
        ]

    def stereo_pcm(self) -> bytes:
        """The recording: customer on the left, agent on the right, 8 kHz 16-bit PCM."""
        end = self.position
        left = self.audio["customer"].pcm()
        right = self.audio["agent"].pcm()
        # Both channels run to the call's end (an open gap on a quiet channel included).
        left += bytes(2 * end - len(left))
        right += bytes(2 * end - len(right))
        return interleave_stereo(left, right)

    @property
    def lost_packets(self) -> int:
        return sum(a.stats.lost for a in self.audio.values())

    def media_stats(self) -> dict[str, dict[str, int]]:
        stats: dict[str, dict[str, int]] = {}
        for channel, audio in self.audio.items():
            s = audio.stats
            stats[channel] = {
                "packets": self.counters[channel].packets,
                "wrong_payload_type": self.counters[channel].wrong_payload_type,
                "dtmf_digits": self.counters[channel].dtmf_digits,
                "duplicates": s.duplicates,
                "late": s.late,
                "lost": s.lost,
                "segments": self.next_seq[channel],
            }
        return stats
