"""Voice-activity segmentation of one live call channel into utterances for Whisper.

Audio is cut only in pauses found by the Silero VAD, never at fixed intervals: a cut in the
middle of a word makes Whisper invent or drop words at the edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

IN_RATE = 8000
OUT_RATE = 16000
_OUT_PER_MS = OUT_RATE // 1000
_IN_PER_MS = IN_RATE // 1000
_VAD_WINDOW = 512  # samples at 16 kHz that Silero scores at once
# Speech shorter than this is a click or a breath, not an utterance worth a Whisper call.
_MIN_SPEECH_MS = 200

# 2x upsampler: the odd output samples are a Kaiser-windowed sinc interpolation between input
# samples. Plain linear interpolation leaves strong images of 0-4 kHz above 4 kHz, and Whisper
# then misreads synthetic or band-limited speech noticeably more often.
_HALF_TAPS = 16
_t = np.arange(-_HALF_TAPS + 1, _HALF_TAPS + 1) - 0.5
_ODD_TAPS = np.sinc(_t) * np.kaiser(2 * _HALF_TAPS, 6.0)
_ODD_TAPS = (_ODD_TAPS / _ODD_TAPS.sum()).astype(np.float32)
del _t


@dataclass(frozen=True, eq=False)  # eq on an ndarray field would be ambiguous
class Utterance:
    start_ms: int  # position in the channel
    end_ms: int
    audio: np.ndarray  # float32 16 kHz mono


def pcm16_to_float32(pcm16: bytes) -> np.ndarray:
    """PCM16LE samples as float32 in [-1, 1); a trailing odd byte is ignored."""
    usable = len(pcm16) - len(pcm16) % 2
    return np.frombuffer(pcm16[:usable], dtype="<i2").astype(np.float32) / 32768.0


class Upsampler2x:
    """Streaming 8 kHz -> 16 kHz resampler; holds back _HALF_TAPS input samples of lookahead."""

    def __init__(self) -> None:
        # Input samples still needed: history for the next output, then the held-back lookahead.
        self._hold = np.zeros(_HALF_TAPS - 1, dtype=np.float32)

    def process(self, x: np.ndarray) -> np.ndarray:
        buf = np.concatenate((self._hold, x.astype(np.float32, copy=False)))
        count = len(buf) - 2 * _HALF_TAPS + 1
        if count <= 0:
            self._hold = buf
            return np.zeros(0, dtype=np.float32)
        out = np.empty(2 * count, dtype=np.float32)
        out[0::2] = buf[_HALF_TAPS - 1 : _HALF_TAPS - 1 + count]
        out[1::2] = np.convolve(buf, _ODD_TAPS[::-1], mode="valid")
        self._hold = buf[count:]
        return out

    def flush(self) -> np.ndarray:
        """Emits the held-back samples (as if silence followed) and starts a new stream."""
        out = self.process(np.zeros(_HALF_TAPS, dtype=np.float32))
        self._hold = np.zeros(_HALF_TAPS - 1, dtype=np.float32)
        return out


def pcm16_8k_to_float32_16k(pcm16_8k: bytes) -> np.ndarray:
    """One-shot conversion of a whole 8 kHz PCM16LE clip to what Whisper takes."""
    up = Upsampler2x()
    return np.concatenate((up.process(pcm16_to_float32(pcm16_8k)), up.flush()))


class UtteranceSegmenter:
    """Cuts one live channel into utterances at pauses of at least ``min_silence_ms``.

    Only undecided audio is kept: silence is dropped as soon as the VAD has seen it (bar a short
    tail for the next utterance's leading pad), and emitted speech is dropped when emitted, so
    each ``feed`` re-scores at most the current utterance (<= ``max_utterance_s``) plus the new
    chunk. Not thread-safe: one segmenter per channel, fed in order.
    """

    def __init__(
        self,
        *,
        min_silence_ms: int = 600,
        speech_pad_ms: int = 200,
        max_utterance_s: float = 25.0,
        vad_threshold: float = 0.5,
    ) -> None:
        if min_silence_ms <= 0 or speech_pad_ms < 0 or max_utterance_s <= 1.0:
            raise ValueError("need min_silence_ms > 0, speech_pad_ms >= 0, max_utterance_s > 1")
        self._vad = VadOptions(
            threshold=vad_threshold,
            min_silence_duration_ms=min_silence_ms,
            min_speech_duration_ms=0,  # short speech is filtered here, once it is complete
            speech_pad_ms=0,  # padding is added here, clamped to what is still buffered
        )
        self._vad_fine = VadOptions(
            threshold=vad_threshold,
            min_silence_duration_ms=0,
            min_speech_duration_ms=0,
            speech_pad_ms=0,
        )
        self._pad = speech_pad_ms * _OUT_PER_MS
        self._max = int(max_utterance_s * OUT_RATE)
        self._min_speech = _MIN_SPEECH_MS * _OUT_PER_MS
        # Silence kept before the buffer end when nothing is open: room for a leading pad.
        self._keep = self._pad + 2 * _VAD_WINDOW
        # A gap longer than this surely closes an open utterance; the rest is skipped unscored.
        self._max_gap_in = (min_silence_ms + speech_pad_ms + 1000) * _IN_PER_MS

        self._up = Upsampler2x()
        self._in_pos: int | None = None  # next expected 8 kHz input sample in the channel
        self._buf = np.zeros(0, dtype=np.float32)  # pending 16 kHz audio
        self._buf_start = 0  # channel position (16 kHz samples) of _buf[0]
        self._open = False  # whether _buf starts with the current, unfinished utterance

    # -- public API ---------------------------------------------------------------------------

    def feed(self, pcm16_8k: bytes, start_ms: int) -> list[Utterance]:
        """Adds a chunk that starts at ``start_ms`` in the channel; returns finished utterances."""
        x = pcm16_to_float32(pcm16_8k)
        start = start_ms * _IN_PER_MS
        if self._in_pos is None:
            self._in_pos = start
            self._buf_start = 2 * start
        out: list[Utterance] = []
        if start > self._in_pos:
            out += self._fill_gap(start - self._in_pos)
        elif start < self._in_pos:
            x = x[self._in_pos - start :]  # already have this part: overlaps are ignored
        if len(x):
            self._append(x)
            out += self._process(final=False)
        return out

    def flush(self) -> list[Utterance]:
        """End of the channel: emits whatever speech is still pending and forgets the buffer."""
        if self._in_pos is None:
            return []
        # The held-back lookahead is real audio; after it, the next feed starts a new stream.
        self._append_upsampled(self._up.flush())
        out = self._process(final=True)
        self._drop(len(self._buf))
        self._open = False
        return out

    def pending_speech(self) -> Utterance | None:
        """The current utterance so far, while it is not finished (for partial results)."""
        if not self._open or not len(self._buf):
            return None
        return self._utterance(0, len(self._buf))

    @property
    def pending_from_ms(self) -> int | None:
        """Channel position of the oldest audio not yet emitted nor judged silent (None before
        any audio). Audio before it is no longer needed: a restart may resume from here."""
        if self._in_pos is None:
            return None
        held_back = max(self._in_pos - _HALF_TAPS, 0) // _IN_PER_MS  # in the upsampler
        return min(self._buf_start // _OUT_PER_MS, held_back)

    # -- internals ----------------------------------------------------------------------------

    def _append(self, x: np.ndarray) -> None:
        assert self._in_pos is not None
        self._in_pos += len(x)
        self._append_upsampled(self._up.process(x))

    def _append_upsampled(self, y: np.ndarray) -> None:
        if len(y):
            self._buf = np.concatenate((self._buf, y)) if len(self._buf) else y

    def _fill_gap(self, gap: int) -> list[Utterance]:
        assert self._in_pos is not None
        target = self._in_pos + gap
        out: list[Utterance] = []
        while self._in_pos < target:
            self._append(np.zeros(min(target - self._in_pos, self._max_gap_in), np.float32))
            out += self._process(final=False)
            if not self._open and self._in_pos < target:
                # Long gap: nothing is open and the buffer is down to a silent tail, so jump
                # ahead instead of scoring minutes of zeros. The upsampler's held-back samples
                # are zeros too, so restarting it loses nothing.
                self._up = Upsampler2x()
                self._in_pos = target
                self._buf_start = 2 * target - len(self._buf)
        return out

    def _drop(self, n: int) -> None:
        self._buf = self._buf[n:]
        self._buf_start += n

    def _utterance(self, start: int, end: int) -> Utterance:
        return Utterance(
            start_ms=(self._buf_start + start) // _OUT_PER_MS,
            end_ms=-(-(self._buf_start + end) // _OUT_PER_MS),
            audio=self._buf[start:end].copy(),
        )

    def _process(self, *, final: bool) -> list[Utterance]:
        out: list[Utterance] = []
        while len(self._buf):
            n = len(self._buf)
            speeches = get_speech_timestamps(self._buf, self._vad, sampling_rate=OUT_RATE)
            consumed = 0  # emitted or decided-silent prefix of _buf
            self._open = False
            restart = False
            for i, s in enumerate(speeches):
                u_start = max(s["start"] - self._pad, consumed)
                # get_speech_timestamps ends a speech before the buffer end only after it saw
                # min_silence of non-speech; one running to the end may still be going on.
                closed = final or s["end"] < n
                nxt = speeches[i + 1]["start"] if i + 1 < len(speeches) else n
                u_end = min(s["end"] + self._pad, nxt, n) if closed else n
                if u_end - u_start > self._max:
                    cut = self._find_cut(u_start, u_start + self._max)
                    out.append(self._utterance(u_start, cut))
                    consumed = cut
                    restart = True  # the rest of this speech needs scoring from its new start
                    break
                if closed:
                    if s["end"] - s["start"] >= self._min_speech:
                        out.append(self._utterance(u_start, u_end))
                    consumed = u_end
                else:
                    consumed = u_start
                    self._open = True
            if restart:
                self._drop(consumed)
                continue
            if not self._open:
                consumed = max(consumed, n - self._keep)
            self._drop(consumed)
            break
        return out

    def _find_cut(self, start: int, limit: int) -> int:
        """Where to split an over-long utterance: mid-way through its longest internal pause."""
        region = self._buf[start:limit]
        pieces = get_speech_timestamps(region, self._vad_fine, sampling_rate=OUT_RATE)
        best_len, cut = 0, limit
        for a, b in pairwise(pieces):
            gap = b["start"] - a["end"]
            if gap >= best_len and gap > 0:  # ties: the later pause keeps utterances longer
                best_len, cut = gap, start + (a["end"] + b["start"]) // 2
        return cut
